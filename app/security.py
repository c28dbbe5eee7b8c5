"""The web app's guards: settings, login rate limiting, CSRF tokens, response headers, and
CSV cells a spreadsheet will not run.

CSRF: every form carries the token of a `tm_csrf` cookie (random, HttpOnly, SameSite=Strict);
a change is accepted only when the two match and the request's Origin, when sent, is this
host. Another site can neither read the cookie nor send it along, so it cannot forge a form.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from urllib.parse import urlsplit

from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.requests import Request

CSRF_COOKIE = "tm_csrf"
SESSION_COOKIE = "tm_session"
# the pages need their own stylesheet and nothing else: no script, no frame, no other site
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class AppSettings(BaseSettings):
    """TRENDMINE_APP_* variables (docs/app.md)."""

    model_config = SettingsConfigDict(env_prefix="TRENDMINE_APP_", extra="ignore")

    # the reverse proxy's header naming the signed-in user's e-mail; set only when the app is
    # reachable through that proxy alone (it trusts the header without a password)
    trusted_header: str | None = None
    secure_cookies: bool = False  # Secure cookies even when the app sees plain http
    login_attempts: int = 5  # failed logins allowed per client address and per e-mail ...
    login_window_s: int = 900  # ... within this many seconds, then 429 until they age out


class LoginLimiter:
    """Failed logins per key (client address, e-mail) in a sliding window, in memory: one
    server process answers every login (`trendmine app serve` runs one)."""

    def __init__(self, attempts: int, window_s: float) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def retry_after(self, keys: list[str]) -> int:
        """Seconds until a login may be tried again (0: now)."""
        now = time.monotonic()
        with self._lock:
            waits = [int(q[0] + self.window_s - now) + 1 for k in keys
                     if len(q := self._recent(k, now)) >= self.attempts]
        return max(waits, default=0)

    def failed(self, keys: list[str]) -> None:
        now = time.monotonic()
        with self._lock:
            for k in keys:
                self._recent(k, now).append(now)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


def csrf_token(request: Request) -> str:
    """The request's CSRF token: its cookie's, or a new one the response will set."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not token:
        token = request.state.new_csrf = secrets.token_urlsafe(32)
    return token


def csrf_ok(request: Request, form: dict[str, str]) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    sent = form.get("csrf") or ""
    if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
        return False
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


def secure(request: Request, settings: AppSettings) -> bool:
    return settings.secure_cookies or request.url.scheme == "https"


def local_path(target: str | None) -> str:
    """Where to go after login: a path on this site only (never `//other.site`)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/themes"
    return target


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(v: object) -> object:
    """A text cell a spreadsheet would read as a formula gets a leading apostrophe (customer
    text such as "=HYPERLINK(...)" stays text); numbers stay numbers."""
    if isinstance(v, str) and v.startswith(_FORMULA_START):
        try:
            float(v)
        except ValueError:
            return "'" + v
    return v
