"""PII redaction: e-mails, phone numbers, payment cards, IBANs, US SSNs and IPv4 addresses
become typed placeholders ("[EMAIL]", "[PHONE]", ...) before text is stored or embedded.

One precompiled regex per type, run in a fixed order (most specific first, so a card
number is never half-eaten as a phone number). Candidates with a checksum (cards: Luhn,
IBANs: mod 97) are verified, which keeps order numbers and ids out. Dates, years,
versions, prices and short ticket numbers are deliberately not matched.
"""

from __future__ import annotations

import re
from collections.abc import Callable

EMAIL, PHONE, CARD, IBAN, SSN, IP = "EMAIL", "PHONE", "CARD", "IBAN", "SSN", "IP"

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,63})@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}\b"
)
# Country code, 2 check digits, then the BBAN in groups of 4 (print form) or run together.
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
# 13-19 digits, single spaces or dashes between; issuer prefixes 2-6 (Visa, MC, Amex,
# Discover, JCB, UnionPay...). Luhn-checked below.
_CARD = re.compile(r"(?<![\w.,/-])[2-6](?:[ -]?\d){12,18}(?![\w.,/]\d|\d|-\d)")
_SSN = re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w-])")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.\d)")
_PHONE = re.compile(
    r"(?<![\w#$€£/.,+-])(?:"
    # International: +CC, optional "(0)" trunk, then digit groups with separators.
    r"\+\d{1,3}(?:[ .-]?\(0\))?(?:[ .-]?\(?\d{1,5}\)?){1,6}"
    # North American: (415) 555-0123, 415-555-0123, 415.555.0123, 1-800-555-0199.
    r"|(?:1[ .-])?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}"
    # National trunk-prefixed (UK/DE/FR/NL...): 020 7946 0958, 06 12 34 56 78.
    r"|0\d{1,4}(?:[ .-]\d{2,5}){2,4}"
    r")"
    r"(?:\s?(?:ext\.?|x|#)\s?\d{1,5})?"  # extension
    r"(?![\w/-]|[.,]\d)"
)
# Every non-email rule needs a run of 7+ characters of digits and separators somewhere
# (an IPv4 is the shortest: "1.1.1.1"); one scan for that spares five regex passes.
_NUMBERISH = re.compile(r"\d[\d \-.()/]{5,}\d")
_DIGITS_ONLY = re.compile(r"\D")
_DATE_LIKE = re.compile(r"^\d{1,4}[-./]\d{1,2}[-./]\d{1,4}$")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _iban_ok(candidate: str) -> bool:
    iban = candidate.replace(" ", "")
    if not 15 <= len(iban) <= 34:
        return False
    moved = iban[4:] + iban[:4]
    # Letters count as 10..35; int() of the expanded string is fast enough at IBAN length.
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


_CARD_GROUPINGS = {(4, 4, 4, 4), (4, 4, 4, 4, 3), (4, 6, 5), (4, 6, 4), (4, 4, 4, 1)}


def _card_ok(candidate: str) -> bool:
    digits = _DIGITS_ONLY.sub("", candidate)
    if not 13 <= len(digits) <= 19:
        return False
    # Cards print as one run or in the issuers' groupings (4-4-4-4, 4-4-4-4-3, Amex 4-6-5,
    # Diners 4-6-4) with one separator style; other groupings are account/order numbers.
    groups = tuple(len(g) for g in re.split(r"[ -]", candidate))
    if len(groups) > 1 and groups not in _CARD_GROUPINGS:
        return False
    if " " in candidate and "-" in candidate:
        return False
    return _luhn_ok(digits) and len(set(digits)) > 1


def _phone_ok(candidate: str) -> bool:
    digits = _DIGITS_ONLY.sub("", candidate.split("x")[0].split("ext")[0])
    if not 7 <= len(digits) <= 15:
        return False
    # Separated digits that read as a date (2024-03-15, 15.03.2024) are not phone numbers.
    return not _DATE_LIKE.match(candidate.strip())


# (placeholder type, pattern, validator or None, cheap pre-check on the whole text)
_RULES: tuple[tuple[str, re.Pattern[str], Callable[[str], bool] | None, str | None], ...] = (
    (EMAIL, _EMAIL, None, "@"),
    (IBAN, _IBAN, _iban_ok, None),
    (CARD, _CARD, _card_ok, None),
    (SSN, _SSN, None, "-"),
    (IP, _IPV4, None, "."),
    (PHONE, _PHONE, _phone_ok, None),
)


def redact_pii(text: str) -> tuple[str, dict[str, int]]:
    """Replace PII with "[TYPE]" placeholders; return the text and counts per type found."""
    counts: dict[str, int] = {}
    if not text:
        return text, counts
    numberish = _NUMBERISH.search(text) is not None
    for kind, pattern, valid, hint in _RULES:
        if kind != EMAIL and not numberish:
            continue
        if hint is not None and hint not in text:
            continue
        placeholder = f"[{kind}]"
        n = 0

        def repl(m: re.Match[str], valid=valid, placeholder=placeholder) -> str:
            nonlocal n
            if valid is not None and not valid(m.group()):
                return m.group()
            n += 1
            return placeholder

        text = pattern.sub(repl, text)
        if n:
            counts[kind] = n
    return text, counts


class Redactor:
    """Callable redaction step; `enabled=False` passes text through (settings.redact_pii)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def __call__(self, text: str) -> tuple[str, dict[str, int]]:
        if not self.enabled:
            return text, {}
        return redact_pii(text)

    def __repr__(self) -> str:
        return f"Redactor(enabled={self.enabled})"
