"""The channels: a Slack incoming webhook, a Slack direct message, an e-mail, a JSON API call.

Every send retries with exponential backoff (tenacity: TRENDMINE_ALERTS_RETRIES retries,
doubling from TRENDMINE_ALERTS_BACKOFF_S) on what may pass by itself: a connection error, a
timeout, HTTP 429 and 5xx, an SMTP 4xx. Anything else fails at once. A failure is
`SendFailed` with a reason that names the channel and never carries a secret (webhook URLs,
tokens and SMTP passwords are settings: `Settings.secret_values` scrubs them).
"""

from __future__ import annotations

import ipaddress
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import httpx
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from foundation.config import Settings
from foundation.secrets import scrub

T = TypeVar("T")


class SendFailed(Exception):
    """A message was not accepted; the reason is safe to store and print."""


class _Transient(Exception):
    """Worth another try (the reason is already scrubbed)."""


def retrying(settings: Settings, call: Callable[[], T], what: str) -> T:
    """`call()` with retries and backoff on `_Transient`; SendFailed when it never passes."""
    policy = Retrying(
        stop=stop_after_attempt(settings.alerts_retries + 1),
        wait=wait_exponential(multiplier=settings.alerts_backoff_s, max=60),
        retry=retry_if_exception_type(_Transient), reraise=True)
    try:
        return policy(call)
    except _Transient as exc:
        raise SendFailed(f"{what}: {exc} (after {settings.alerts_retries + 1} attempts)") from None


def one_line(text: str) -> str:
    return " ".join(text.split())


def _safe(settings: Settings, text: str) -> str:
    return scrub(text, settings.secret_values())[:500]


# ---------------------------------------------------------------------------- HTTP


def _http(settings: Settings, method: str, url: str, what: str, *, json: Any = None,
          headers: dict[str, str] | None = None) -> httpx.Response:
    """One request with retries; the response of a 2xx, else SendFailed."""

    def once() -> httpx.Response:
        try:
            resp = httpx.request(method, url, json=json, headers=headers,
                                 timeout=settings.alerts_timeout_s)
        except httpx.HTTPError as exc:  # connection refused, timeout, TLS
            raise _Transient(_safe(settings, f"{type(exc).__name__}: {exc}")) from None
        if resp.status_code == 429 or resp.status_code >= 500:
            raise _Transient(f"HTTP {resp.status_code}")
        if resp.status_code >= 400:
            raise SendFailed(f"{what}: HTTP {resp.status_code} "
                             f"{_safe(settings, resp.text[:200])}")
        return resp

    return retrying(settings, once, what)


def post_json(settings: Settings, url: str, payload: dict[str, Any], what: str,
              token: str | None = None) -> dict[str, Any]:
    """POST JSON (with a bearer token); the JSON answer ({} when there is none)."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    resp = _http(settings, "POST", url, what, json=payload, headers=headers)
    try:
        return resp.json() if resp.content else {}
    except ValueError:
        return {}


def slack_webhook(settings: Settings, message: dict[str, Any]) -> None:
    """Post a Block Kit message to TRENDMINE_SLACK_WEBHOOK_URL."""
    if settings.slack_webhook_url is None:
        raise SendFailed("slack: TRENDMINE_SLACK_WEBHOOK_URL is not set")
    _http(settings, "POST", settings.slack_webhook_url.get_secret_value(), "slack webhook",
          json=message)


def slack_dm(settings: Settings, user_id: str, message: dict[str, Any]) -> None:
    """A direct message to a Slack user (chat.postMessage with the bot token). Slack answers
    200 with ok=false on errors; `ratelimited` is retried like a 429."""
    if settings.slack_bot_token is None:
        raise SendFailed("slack: TRENDMINE_SLACK_BOT_TOKEN is not set")
    url = settings.slack_api_url.rstrip("/") + "/chat.postMessage"
    token = settings.slack_bot_token.get_secret_value()

    def once() -> None:
        answer = post_json(settings, url, {"channel": user_id, **message}, "slack dm", token)
        if not answer.get("ok", False):
            error = str(answer.get("error") or "not ok")
            if error == "ratelimited":
                raise _Transient("slack dm: ratelimited")
            raise SendFailed(f"slack dm: {error}")

    retrying(settings, once, "slack dm")


# ---------------------------------------------------------------------------- e-mail


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class SmtpTarget:
    """Where mail goes, from TRENDMINE_SMTP_URL: smtp://[user[:password]@]host[:587] speaks
    STARTTLS (required unless the host is loopback, a local relay), smtps://host[:465] TLS from
    the first byte. The password: in the URL or TRENDMINE_SMTP_PASSWORD(_FILE)."""

    def __init__(self, settings: Settings) -> None:
        if settings.smtp_url is None:
            raise SendFailed("email: TRENDMINE_SMTP_URL is not set")
        parts = urlsplit(settings.smtp_url.get_secret_value())
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise SendFailed("email: TRENDMINE_SMTP_URL must be smtp://host:port or "
                             "smtps://host:port")
        self.tls = parts.scheme == "smtps"
        self.host = parts.hostname
        self.port = parts.port or (465 if self.tls else 587)
        self.user = unquote(parts.username) if parts.username else None
        password = parts.password or (settings.smtp_password.get_secret_value()
                                      if settings.smtp_password else None)
        self.password = unquote(password) if password else None


def send_mail(settings: Settings, to: list[str], subject: str, text: str,
              html: str | None = None, headers: dict[str, str] | None = None) -> None:
    """One message to `to` through the configured SMTP server, with retries."""
    if not settings.smtp_from:
        raise SendFailed("email: TRENDMINE_SMTP_FROM is not set")
    target = SmtpTarget(settings)
    msg = EmailMessage()
    # a label or note with a line break must not end the header (and add headers of its own)
    msg["From"], msg["To"], msg["Subject"] = settings.smtp_from, ", ".join(to), one_line(subject)
    msg["Message-ID"] = make_msgid(domain=settings.smtp_from.rsplit("@", 1)[-1])
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")

    def once() -> None:
        try:
            _deliver(target, msg, settings.alerts_timeout_s)
        except smtplib.SMTPResponseException as exc:
            reason = f"SMTP {exc.smtp_code} {_safe(settings, str(exc.smtp_error))}"
            if 400 <= exc.smtp_code < 500:
                raise _Transient(reason) from None
            raise SendFailed(f"email: {reason}") from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise SendFailed(f"email: recipients refused: {', '.join(exc.recipients)}") from None
        except (OSError, smtplib.SMTPException) as exc:  # refused, reset, timeout, TLS
            raise _Transient(_safe(settings, f"{type(exc).__name__}: {exc}")) from None

    retrying(settings, once, "email")


def _deliver(target: SmtpTarget, msg: EmailMessage, timeout: float) -> None:
    context = ssl.create_default_context()
    if target.tls:
        server: smtplib.SMTP = smtplib.SMTP_SSL(target.host, target.port, timeout=timeout,
                                                context=context)
    else:
        server = smtplib.SMTP(target.host, target.port, timeout=timeout)
    with server:
        server.ehlo()
        if not target.tls:
            if server.has_extn("starttls"):
                server.starttls(context=context)
                server.ehlo()
            elif not _loopback(target.host):
                raise SendFailed(f"email: {target.host} offers no STARTTLS; use smtps:// or a "
                                 "server that does (mail is never sent in clear off the host)")
        if target.user and target.password:
            server.login(target.user, target.password)
        server.send_message(msg)
