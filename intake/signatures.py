"""Webhook signature schemes: one verifier per vendor, each raising `Unauthorized(reason)`.

Every verifier reads the RAW body (before any JSON parsing), compares in constant time, and,
where the vendor signs a timestamp, refuses one outside the replay tolerance. The reason
never contains a secret or the expected signature.

- canonical: X-Trendmine-Timestamp + X-Trendmine-Signature: sha256=hex(HMAC-SHA256
  "<ts>.<body>")
- zendesk: X-Zendesk-Webhook-Signature(-Timestamp): base64(HMAC-SHA256 "<ts><body>")
- intercom: X-Hub-Signature: sha1=hex(HMAC-SHA1 body); Intercom signs no timestamp
- canny: canny-nonce, canny-signature, canny-timestamp: base64(HMAC-SHA256 nonce); the
  body is not signed, so each nonce is taken once and the post is confirmed through Canny's
  API (intake/canny.py)
- hubspot: X-HubSpot-Signature-v3 + X-HubSpot-Request-Timestamp: base64(HMAC-SHA256
  method + uri + body + ts), the uri with HubSpot's listed escapes decoded
- gong: Authorization: an RS256 JWT whose claims name webhook_url, body_sha256 and exp
- salesforce: no signature exists; ?token= in the URL + the message's OrganizationId
- jira: X-Hub-Signature: sha256=hex(HMAC-SHA256 body) (a webhook with a secret)
- linear: Linear-Signature: hex(HMAC-SHA256 body); the body's webhookTimestamp (ms) is fresh
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import SecretStr

CANONICAL_TIMESTAMP = "x-trendmine-timestamp"
CANONICAL_SIGNATURE = "x-trendmine-signature"


class Unauthorized(Exception):
    """The request is unsigned, wrongly signed or stale: answer 401 with this reason."""


def _key(secret: SecretStr | None, setting: str) -> bytes:
    if secret is None:
        raise Unauthorized(f"this endpoint is not configured: set TRENDMINE_{setting.upper()}")
    return secret.get_secret_value().encode()


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if not value:
        raise Unauthorized(f"missing {name} header")
    return value


def check_fresh(ts: float, tolerance_s: float, now: float | None = None) -> None:
    """Refuse a signed timestamp outside +-tolerance (a replay, or a badly skewed clock).
    NaN and infinities are refused too: every comparison with NaN is false."""
    if not math.isfinite(ts):
        raise Unauthorized("timestamp is not a finite number")
    age = (time.time() if now is None else now) - ts
    if age > tolerance_s:
        raise Unauthorized(f"timestamp is {age:.0f} s old (limit {tolerance_s:.0f} s): replay?")
    if age < -tolerance_s:
        raise Unauthorized(f"timestamp is {-age:.0f} s in the future (limit {tolerance_s:.0f} s)")


def _same(expected: bytes | str, given: bytes | str, what: str) -> None:
    if isinstance(expected, str):
        expected = expected.encode()
    if isinstance(given, str):
        given = given.encode()
    if not hmac.compare_digest(expected, given):
        raise Unauthorized(f"{what} does not match")


# ---------------------------------------------------------------------------- canonical


def sign_canonical(secret: str, timestamp: int | str, body: bytes) -> str:
    """The X-Trendmine-Signature value for a body (clients and tests use this)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_canonical(
    headers: Mapping[str, str], body: bytes, secret: SecretStr | None, tolerance_s: float
) -> None:
    key = _key(secret, "intake_secret")
    ts_text = _header(headers, CANONICAL_TIMESTAMP)
    given = _header(headers, CANONICAL_SIGNATURE)
    try:
        ts = int(ts_text)
    except ValueError:
        raise Unauthorized(f"{CANONICAL_TIMESTAMP} is not unix seconds") from None
    if not given.startswith("sha256="):
        raise Unauthorized(f"{CANONICAL_SIGNATURE} must be sha256=<hex>")
    mac = hmac.new(key, ts_text.encode() + b"." + body, hashlib.sha256).hexdigest()
    _same(mac, given.removeprefix("sha256=").lower(), "signature")
    check_fresh(ts, tolerance_s)  # after the MAC: an attacker cannot probe the window


# ---------------------------------------------------------------------------- vendors


def verify_zendesk(
    headers: Mapping[str, str], body: bytes, secret: SecretStr | None, tolerance_s: float
) -> None:
    """Zendesk webhooks: base64(HMAC-SHA256(secret, timestamp + body)), ISO 8601 timestamp."""
    key = _key(secret, "intake_zendesk_secret")
    ts_text = _header(headers, "x-zendesk-webhook-signature-timestamp")
    given = _header(headers, "x-zendesk-webhook-signature")
    mac = hmac.new(key, ts_text.encode() + body, hashlib.sha256).digest()
    _same(base64.b64encode(mac), given, "signature")
    try:
        ts = datetime.fromisoformat(ts_text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise Unauthorized("x-zendesk-webhook-signature-timestamp is not ISO 8601") from None
    check_fresh(ts, tolerance_s)


def verify_intercom(headers: Mapping[str, str], body: bytes, secret: SecretStr | None) -> None:
    """Intercom: X-Hub-Signature = sha1=hex(HMAC-SHA1(client secret, body)). Intercom signs
    no timestamp, so a replay cannot be told from a retry; ingest upserts, so it is harmless."""
    key = _key(secret, "intake_intercom_secret")
    given = _header(headers, "x-hub-signature")
    mac = hmac.new(key, body, hashlib.sha1).hexdigest()
    _same(f"sha1={mac}", given.lower(), "signature")


def verify_jira(headers: Mapping[str, str], body: bytes, secret: SecretStr | None) -> None:
    """Jira webhooks with a secret: X-Hub-Signature = sha256=hex(HMAC-SHA256(secret, body)).
    Jira signs no timestamp: a replayed state change is applied again, which changes nothing."""
    key = _key(secret, "jira_webhook_secret")
    given = _header(headers, "x-hub-signature")
    mac = hmac.new(key, body, hashlib.sha256).hexdigest()
    _same(f"sha256={mac}", given.lower(), "signature")


def verify_linear(headers: Mapping[str, str], body: bytes, secret: SecretStr | None,
                  tolerance_s: float) -> None:
    """Linear: Linear-Signature = hex(HMAC-SHA256(secret, body)); then the signed body's
    webhookTimestamp (unix ms) must be within the replay tolerance."""
    key = _key(secret, "linear_webhook_secret")
    given = _header(headers, "linear-signature")
    _same(hmac.new(key, body, hashlib.sha256).hexdigest(), given.lower(), "signature")
    try:
        ts = json.loads(body)["webhookTimestamp"] / 1000
    except (ValueError, KeyError, TypeError):
        raise Unauthorized("webhookTimestamp missing from the signed body") from None
    check_fresh(ts, tolerance_s)


class NonceCache:
    """Nonces seen within the replay window, each refused a second time.

    A nonce is kept for twice the tolerance (a timestamp is fresh for +-tolerance), so a
    replay is refused for as long as its timestamp could pass. At most `max_size` nonces are
    kept: when they are all still live, new requests are refused (SaturatedNonces) instead of
    forgetting one early. The cache lives in one process: with `--workers N` a replay can
    reach another worker; Canny confirmation (intake/canny.py) keeps that harmless.
    """

    def __init__(self, tolerance_s: float, max_size: int = 100_000) -> None:
        self.ttl_s = 2 * tolerance_s
        self.max_size = max_size
        self._expiry: OrderedDict[str, float] = OrderedDict()  # insertion = expiry order

    def take(self, nonce: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        while self._expiry and next(iter(self._expiry.values())) <= now:
            self._expiry.popitem(last=False)
        if nonce in self._expiry:
            raise Unauthorized("nonce was already used: replay?")
        if len(self._expiry) >= self.max_size:
            raise SaturatedNonces(f"{self.max_size} nonces in the replay window; retry later")
        self._expiry[nonce] = now + self.ttl_s

    def release(self, nonce: str) -> None:
        """Forget a nonce whose request failed on our side (503): the vendor's retry of it
        must pass."""
        self._expiry.pop(nonce, None)


class SaturatedNonces(Exception):
    """The nonce cache is full of live nonces: answer 429, the vendor retries."""


def verify_canny(
    headers: Mapping[str, str], secret: SecretStr | None, tolerance_s: float,
    nonces: NonceCache,
) -> None:
    """Canny: canny-signature = base64(HMAC-SHA256(API key, canny-nonce)); canny-timestamp in
    milliseconds. Canny signs the nonce, not the body or the timestamp (its scheme, not
    ours): the nonce is taken once, and the caller confirms the post with Canny."""
    key = _key(secret, "canny_api_key")
    nonce = _header(headers, "canny-nonce")
    given = _header(headers, "canny-signature")
    mac = hmac.new(key, nonce.encode(), hashlib.sha256).digest()
    _same(base64.b64encode(mac), given, "signature")
    try:
        ts = float(_header(headers, "canny-timestamp"))
    except ValueError:
        raise Unauthorized("canny-timestamp is not a number") from None
    check_fresh(ts / 1000 if ts > 1e11 else ts, tolerance_s)
    nonces.take(nonce)


# HubSpot signs the URI with these escapes decoded (and every other escape kept as sent):
# developers.hubspot.com, "Validate the v3 request signature".
_HUBSPOT_DECODED = {"3A": ":", "2F": "/", "3F": "?", "40": "@", "21": "!", "24": "$",
                    "27": "'", "28": "(", "29": ")", "2A": "*", "2C": ",", "3B": ";"}
_HUBSPOT_ESCAPE = re.compile("%(" + "|".join(_HUBSPOT_DECODED) + ")", re.IGNORECASE)


def hubspot_uri(url: str) -> str:
    """The URI as HubSpot signs it (v3)."""
    return _HUBSPOT_ESCAPE.sub(lambda m: _HUBSPOT_DECODED[m.group(1).upper()], url)


def verify_hubspot(
    headers: Mapping[str, str], body: bytes, secret: SecretStr | None, tolerance_s: float,
    *, method: str, url: str,
) -> None:
    """HubSpot v3: base64(HMAC-SHA256(client secret, method + uri + body + timestamp)),
    timestamp in milliseconds. `url` is the full URL HubSpot called (intake_public_url)."""
    key = _key(secret, "intake_hubspot_secret")
    ts_text = _header(headers, "x-hubspot-request-timestamp")
    given = _header(headers, "x-hubspot-signature-v3")
    message = method.upper().encode() + hubspot_uri(url).encode() + body + ts_text.encode()
    mac = hmac.new(key, message, hashlib.sha256).digest()
    _same(base64.b64encode(mac), given, "signature")
    try:
        ts = int(ts_text) / 1000
    except ValueError:
        raise Unauthorized("x-hubspot-request-timestamp is not unix milliseconds") from None
    check_fresh(ts, tolerance_s)


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_public_key(path: Path | None) -> rsa.RSAPublicKey | None:
    if path is None:
        return None
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"{path} is not an RSA public key")
    return key


def verify_gong(
    headers: Mapping[str, str], body: bytes, public_key: rsa.RSAPublicKey | None, *, url: str,
    now: float | None = None,
) -> None:
    """Gong automation rules with "Signed JWT header": an RS256 JWT in Authorization whose
    claims name the webhook URL and the SHA-256 of the body, with an expiry."""
    if public_key is None:
        raise Unauthorized(
            "this endpoint is not configured: set TRENDMINE_INTAKE_GONG_PUBLIC_KEY_PATH"
        )
    token = _header(headers, "authorization").removeprefix("Bearer ").strip()
    try:
        head_b64, claims_b64, sig_b64 = token.split(".")
        header = _json_object(head_b64)
        signature = _b64url(sig_b64)
    except ValueError:
        raise Unauthorized("Authorization is not a JWT") from None
    if header.get("alg") != "RS256":
        raise Unauthorized("JWT alg must be RS256")
    try:
        public_key.verify(signature, f"{head_b64}.{claims_b64}".encode(), padding.PKCS1v15(),
                          hashes.SHA256())
    except InvalidSignature:
        raise Unauthorized("JWT signature does not match") from None
    try:
        claims = _json_object(claims_b64)
    except ValueError:
        raise Unauthorized("JWT claims are not a JSON object") from None
    digest = hashlib.sha256(body)
    if claims.get("body_sha256") not in (digest.hexdigest(), base64.b64encode(digest.digest())
                                         .decode()):
        raise Unauthorized("JWT body_sha256 does not match the body")
    if claims.get("webhook_url") != url:  # a token for another endpoint must not pass here
        raise Unauthorized("JWT webhook_url is missing or not this endpoint "
                           "(set TRENDMINE_INTAKE_PUBLIC_URL)")
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float) or not math.isfinite(exp) \
            or exp < (time.time() if now is None else now):
        raise Unauthorized("JWT has expired (or has no exp)")


def _json_object(part: str) -> dict:
    """A JWT part: base64url JSON that must be an object (ValueError otherwise, also for
    nesting too deep to parse)."""
    try:
        doc = json.loads(_b64url(part))
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    return doc


def verify_salesforce_token(token: str | None, expected: SecretStr | None) -> None:
    """Salesforce outbound messages are not signed: the URL carries a secret token (checked
    before the body is parsed) and the message names its org (`verify_salesforce_org`)."""
    key = _key(expected, "intake_salesforce_token")
    if not token:
        raise Unauthorized("missing token query parameter")
    _same(key, token, "token")


def verify_salesforce_org(org_id: str | None, expected: str | None) -> None:
    """The message's OrganizationId must be ours (15- or 18-character form)."""
    if not expected:
        raise Unauthorized(
            "this endpoint is not configured: set TRENDMINE_INTAKE_SALESFORCE_ORG_ID"
        )
    if not org_id or org_id[:15] != expected[:15]:
        raise Unauthorized("OrganizationId is not the configured org")
