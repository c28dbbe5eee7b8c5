"""PII redaction: contact details, payment and identity numbers, credentials and network
addresses become typed placeholders before text is stored or embedded. One redactor for
every stored free-text field (text, author, url, each string in metadata), reading the
value in one canonical form first (`canonical_chars`: entities such as `&#64;` decoded,
NFKC, zero-width characters out, every space a plain space), so that `jane&#64;acme.com`
or a card number with non-breaking spaces is caught wherever it is:

    [SECRET]  API keys and tokens (Stripe sk_live_/rk_live_, GitHub ghp_/github_pat_, AWS
              AKIA/ASIA, Slack xox?-, Google AIza, OpenAI sk-, GitLab glpat-, SendGrid, JWTs,
              Bearer tokens) and the whole value (up to the next space) after a credential
              label: "password:", "pwd=", "password is", and snake_case or UPPER names that
              hold one (db_password=, client_secret=, aws_secret_access_key=, SMTP_PASS=,
              api_key:); in a URL query (?token=, &api_key=) up to the next "&"
    [EMAIL]   e-mail addresses, also written "jane at acme dot com", "jane dot doe at acme
              dot com", "jane(at)acme(dot)com"
    [IBAN]    IBANs (python-stdnum: country format and mod 97; groups separated by spaces
              or dashes, or run together; any letter case)
    [CARD]    payment cards (Luhn via python-stdnum; issuer groupings only)
    [SSN]     US social security numbers (123-45-6789)
    [IP]      IPv4 and IPv6 addresses; a dotted quad labelled as a version (v10.2.1.4,
              "version 10.2.1.4", build, release) stays
    [PHONE]   phone numbers in any country's format (Google's libphonenumber via
              `phonenumbers`): international (+CC, 00CC) and the national formats of the
              US, the UK, Germany, France and India

Rules run in a fixed order (secrets first, then the most specific), each behind a cheap
necessary condition, so a text without digits or marks costs a few substring tests.
Candidates with a checksum or a numbering plan are verified, which keeps order numbers and
ids out. Dates, years, times, versions, prices, and numbers labelled as SKUs, orders,
tickets or invoices are deliberately not matched.

Not caught: personal names ("Jane Doe" stays), postal addresses, dates of birth, national
ids other than US SSNs, and credentials without a known prefix or a credential label.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from phonenumbers import Leniency, PhoneNumberMatcher
from stdnum import iban as stdnum_iban
from stdnum import luhn

from ingest.normalise import canonical_chars, strip_controls

EMAIL, PHONE, CARD, IBAN, SSN, IP = "EMAIL", "PHONE", "CARD", "IBAN", "SSN", "IP"
SECRET = "SECRET"
PLACEHOLDERS = (SECRET, EMAIL, IBAN, CARD, SSN, IP, PHONE)

# Credentials with a recognisable shape (provider prefixes), or labelled as a password.
_SECRET = re.compile(
    r"(?<![\w-])(?:"
    r"(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{10,}"  # Stripe
    r"|gh[pousr]_[0-9A-Za-z]{30,}|github_pat_[0-9A-Za-z_]{30,}"  # GitHub
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"  # AWS access key id
    r"|xox[abposr]-[0-9A-Za-z-]{10,}"  # Slack
    r"|AIza[0-9A-Za-z_-]{35}"  # Google API key
    r"|sk-(?:proj-|ant-)?[0-9A-Za-z_-]{20,}"  # OpenAI / Anthropic style
    r"|glpat-[0-9A-Za-z_-]{20,}"  # GitLab
    r"|SG\.[0-9A-Za-z_-]{16,}\.[0-9A-Za-z_-]{16,}"  # SendGrid
    r"|eyJ[0-9A-Za-z_-]{8,}\.eyJ[0-9A-Za-z_-]{8,}\.[0-9A-Za-z_-]{8,}"  # JWT
    r")"
)
# A credential label: one of these words, alone or as a part of a snake_case, kebab-case or
# dotted name (db_password, client_secret, aws_secret_access_key, SMTP_PASS, api-key).
_CREDENTIAL_WORD = (
    r"(?:password|passwd|passwort|kennwort|passcode|passphrase|pass|pwd|pw|secret|token"
    r"|api[_ -]?key|apikey|access[_-]?key|private[_-]?key)"
)
_LABEL = rf"(?:[a-z0-9]{{1,64}}[_.-]){{0,8}}{_CREDENTIAL_WORD}(?:[_.-][a-z0-9]{{1,64}}){{0,8}}"
# The value runs to the next space (a password may hold "&", "#", "!"), minus sentence
# punctuation after it; quoted, to the closing quote; in a URL query, to the next "&".
_SECRET_LABELLED = re.compile(
    rf"(?i)((?<=[?&]){_LABEL}=)([^\s&#]{{1,200}})"
    rf"|((?<![\w-]){_LABEL}[\"']?\s*(?:[:=]|\bis\b|\bwas\b)\s*)"
    r"(\"[^\"\n]{1,200}\"|'[^'\n]{1,200}'|\S{0,199}[^\s,.;:)\]}>\"'])"
    r"|(\bBearer\s+)([0-9A-Za-z._~+/-]{16,}=*)"
)
# Cheap tests decide whether the credential patterns need to run at all: substring tests
# (the label marks on the lowered text). An `in` runs at memchr speed; a regex alternation
# of these marks cost ~7,000 instructions per record (their first letters are common, so
# re tries most positions), and a case-insensitive one several times more.
_SECRET_MARKS = re.compile(
    r"_live_|_test_|gh[pousr]_|github_pat_|AKIA|ASIA|xox|AIza|sk-|glpat-|SG\.|eyJ"
)


def _may_hold_secret(text: str) -> bool:
    """A mark of a _SECRET pattern is in the text (those with an underscore are left to
    _SECRET_MARKS, which then only runs on a text holding one)."""
    return (
        ("_" in text and _SECRET_MARKS.search(text) is not None)
        or "AKIA" in text or "ASIA" in text or "xox" in text or "AIza" in text
        or "sk-" in text or "glpat-" in text or "SG." in text or "eyJ" in text
    )


def _may_hold_label(lowered: str) -> bool:
    """A mark of a _SECRET_LABELLED label is in the lowered text."""
    return (
        "pass" in lowered or "pwd" in lowered or "pw:" in lowered or "pw=" in lowered
        or "key" in lowered or "secret" in lowered or "token" in lowered or "wort" in lowered
        or "bearer" in lowered
    )


_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,63})@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}\b"
)
# "jane at acme dot com", "jane.doe(at)acme(dot)co(dot)uk", "jane [at] acme [dot] com": the
# spelled-out "dot" (or a bracketed at) is required, so "look at acme.com" stays.
_AT = r"(?:\s*[(\[{<]\s*at\s*[)\]}>]\s*|\s+at\s+)"
_DOT = r"(?:\s*[(\[{<]\s*dot\s*[)\]}>]\s*|\s+dot\s+)"
_EMAIL_SPELLED = re.compile(
    rf"(?i)(?<![\w.+-])[a-z0-9][a-z0-9._%+-]{{0,63}}(?:{_DOT}[a-z0-9_%+-]{{1,63}}){{0,4}}(?:{_AT}[a-z0-9-]+(?:(?:{_DOT}|\.)[a-z0-9-]+)*"
    rf"{_DOT}[a-z]{{2,24}}|\s*[(\[{{<]\s*at\s*[)\]}}>]\s*[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{{2,24}})\b"
)
# Country code, 2 check digits, then the BBAN in groups of 4 (print form) or run together.
_IBAN = re.compile(
    r"\b[A-Za-z]{2}\d{2}(?:[ -]?[A-Za-z0-9]{4}){2,7}(?:[ -]?[A-Za-z0-9]{1,3})?\b"
)
# 13-19 digits, single spaces or dashes between; issuer prefixes 2-6 (Visa, MC, Amex,
# Discover, JCB, UnionPay...). Luhn-checked below.
_CARD = re.compile(r"(?<![\w.,/-])[2-6](?:[ -]?\d){12,18}(?![\w.,/]\d|\d|-\d)")
_SSN = re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w-])")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.\d)")
# Candidates only (hex groups and colons, "::" or 7 colons); ipaddress decides.
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|:)?(?:%\w+)?(?![\w:])"
)
# A run of digits and the separators phone numbers are written with, at most 20 digits (a
# number with an extension; a longer run is read in pieces), then an extension; possessive,
# so each piece is read once. libphonenumber finds the numbers in it.
_PHONE_RUN = re.compile(
    r"(?:[+(]\d|\d)(?:[ \-./()]{0,3}\d){0,19}+(?:\s?(?:ext\.?|x|#)\s?\d{1,5})?"
)
# libphonenumber reads at most this many runs of one text (~50-150 us each per region);
# the runs past them that have a phone number's length are redacted unread. A text with
# that many numbers is a data dump, and this keeps its cost within the record budget.
MAX_PHONE_RUNS = 40
# Regions whose national formats are read (libphonenumber reads "+CC" in any): the trunk
# prefix 0 is national in the UK, Germany, France and India; a run without it is tried as
# a US (NANP) or an Indian mobile number.
_TRUNK_REGIONS = ("GB", "DE", "FR", "IN")
_NO_TRUNK_REGIONS = ("US", "IN")
_INTERNATIONAL_REGION = ("DE",)  # "+CC" parses in any region; "00CC" where 00 dials out
_NOT_BEFORE_PHONE = frozenset("#$€£/.,+-_")

# Every non-email rule needs a run of 7+ characters of digits and separators somewhere
# (an IPv4 is the shortest: "1.1.1.1"); one scan for that spares five regex passes.
_NUMBERISH = re.compile(r"\d[\d \-.()/]{5,}\d")
_DIGITS_ONLY = re.compile(r"\D")
_DATE_LIKE = re.compile(r"^\d{1,4}[-./]\d{1,2}[-./]\d{1,4}$")


def _iban_ok(candidate: str) -> bool:
    """An IBAN by python-stdnum (country length and format, mod 97); a candidate that ran
    on into the next word ("... 0130 00 ABCD") is retried without its last groups."""
    groups = re.split(r"[ -]", candidate)
    while len("".join(groups)) >= 15:
        if stdnum_iban.is_valid("".join(groups)):
            return True
        groups.pop()
    return False


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
    return len(set(digits)) > 1 and luhn.is_valid(digits)


# A number labelled as something else is not a phone number: "SKU 0012-3456-7890". The
# label must end the text before the number, so it is matched once, anchored, on the
# reversed text (words spelled backwards): a search for "<label>...$" would try every
# start position and cost ~15 us on each phone candidate.
_NOT_PHONE_LABEL_REVERSED = re.compile(
    r"(?i)\s*[:#.=-]?\s*(?:\.?on|\.?rn|#)?\s*"
    r"(?:uks|redro|tekcit|eciovni|vni|op|fer|ecnerefer|meti|trap|esac|di|laires|"
    r"tnuocca|tcca|gnikcart|hctab|tol|dliub|noisrev|on|rn|rebmun|#)"
)


def _phone_ok(candidate: str, before: str = "") -> bool:
    digits = _DIGITS_ONLY.sub("", candidate.split("x")[0].split("ext")[0])
    if not 7 <= len(digits) <= 15:
        return False
    if before and _NOT_PHONE_LABEL_REVERSED.match(before[::-1]):
        return False
    # Separated digits that read as a date (2024-03-15, 15.03.2024) are not phone numbers.
    return not _DATE_LIKE.match(candidate.strip())


# A dotted quad labelled as a version is one ("version 10.2.1.4", "build 10.2.1.4"; v10.2.1.4
# is never read as an address). Searched in the 24 characters before the candidate only.
_VERSION_LABEL = re.compile(
    r"(?i)\b(?:version|ver\.?|release|build|firmware|fw|sdk|(?:up|down)grad(?:e|ed|ing)\s+to"
    r"|updat(?:e|ed|ing)\s+to)\s*[:#=]?\s*$"
)


def _ipv4_ok(candidate: str, before: str = "") -> bool:
    return _VERSION_LABEL.search(before) is None


def _ipv6_ok(candidate: str) -> bool:
    if candidate.count(":") < 7 and "::" not in candidate:
        return False
    try:
        ipaddress.IPv6Address(candidate.split("%")[0])
    except ValueError:
        return False
    return candidate.strip(":") != ""


# Necessary conditions, each a digit-led pattern: Python's re skips straight to the digits
# of a text for those, while the full rules (led by a lookbehind or a letter) try every
# position. A rule runs only when its condition is met, which changes no result.
_IBAN_NEEDS = re.compile(r"\d(?<=[A-Za-z]{2}\d)\d")  # two letters, two check digits
# A card _card_ok accepts is one run of 13+ digits or starts with a group of 4 then one of
# 4 or 6: both hold 4 digits, an optional separator, 4 digits. That check fails fast on
# each digit; the 13-digit one below explores every separator choice (~40,000 instructions
# on a text with a phone number and a reference), so it runs second.
_CARD_FOUR_FOUR = re.compile(r"\d{4}[ -]?\d{4}")
_CARD_NEEDS = re.compile(r"\d(?:[ -]?\d){12}")  # 13+ digits, single separators
_SSN_NEEDS = re.compile(r"\d{3}-\d\d-\d{4}")
_IP_NEEDS = re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d")

# (placeholder type, pattern, validator or None, cheap substring pre-check on the whole
# text, necessary-condition patterns (each must match) or None)
_RULES: tuple[
    tuple[
        str, re.Pattern[str], Callable[..., bool] | None, str | None,
        tuple[re.Pattern[str], ...] | None,
    ],
    ...,
] = (
    (EMAIL, _EMAIL, None, "@", None),
    (IBAN, _IBAN, _iban_ok, None, (_IBAN_NEEDS,)),
    (CARD, _CARD, _card_ok, None, (_CARD_FOUR_FOUR, _CARD_NEEDS)),
    (SSN, _SSN, None, "-", (_SSN_NEEDS,)),
    (IP, _IPV4, _ipv4_ok, ".", (_IP_NEEDS,)),
)
_NEEDS_CONTEXT = {IP}  # validators that also read the text just before the match

# Where the first match can start. _EMAIL opens with a lookbehind, so re tries its whole
# pattern at every position of the text; starting the scan where a match can first begin
# (finditer's pos; lookbehinds still see the text before it) skips most of them.
_LOCAL_PART = re.compile(r"[A-Za-z0-9._%+-]{0,64}")


def _email_start(text: str) -> int:
    """An e-mail match holds its first "@" (the local part has none) at most 64 local-part
    characters after its start, all of them local-part characters."""
    at = text.find("@")
    return at - len(_LOCAL_PART.match(text[max(at - 64, 0) : at][::-1]).group())  # type: ignore[union-attr]


_STARTS: dict[str, Callable[[str], int]] = {EMAIL: _email_start}


def _sub_from(pattern: re.Pattern[str], repl: Callable[[re.Match[str]], str], text: str,
              pos: int) -> str:
    """pattern.sub(repl, text) for a pattern that matches nothing empty and nothing that
    starts before `pos`."""
    parts: list[str] = []
    last = 0
    for m in pattern.finditer(text, pos):
        parts.append(text[last : m.start()])
        parts.append(repl(m))
        last = m.end()
    if not parts:
        return text
    parts.append(text[last:])
    return "".join(parts)


def _all_found(patterns: tuple[re.Pattern[str], ...], text: str) -> bool:
    return all(pattern.search(text) is not None for pattern in patterns)


def _redact_secrets(text: str, lowered: str, counts: dict[str, int]) -> str:
    n = 0
    if _may_hold_secret(text):
        text, n = _SECRET.subn(f"[{SECRET}]", text)
    if _may_hold_label(lowered):

        def keep_label(m: re.Match[str]) -> str:
            nonlocal n
            n += 1
            return (m.group(1) or m.group(3) or m.group(5)) + f"[{SECRET}]"

        text = _SECRET_LABELLED.sub(keep_label, text)
    if n:
        counts[SECRET] = n
    return text


def _redact_spelled_emails(text: str, lowered: str, counts: dict[str, int]) -> str:
    if "at" not in lowered or (
        "dot" not in lowered
        and "(at)" not in lowered
        and "[at]" not in lowered
        and "{at}" not in lowered
        and "<at>" not in lowered
    ):
        return text
    text, n = _EMAIL_SPELLED.subn(f"[{EMAIL}]", text)
    if n:
        counts[EMAIL] = counts.get(EMAIL, 0) + n
    return text


def _redact_ipv6(text: str, counts: dict[str, int]) -> str:
    if "::" not in text and text.count(":") < 7:
        return text
    n = 0

    def repl(m: re.Match[str]) -> str:
        nonlocal n
        if not _ipv6_ok(m.group()):
            return m.group()
        n += 1
        return f"[{IP}]"

    text = _IPV6.sub(repl, text)
    if n:
        counts[IP] = counts.get(IP, 0) + n
    return text


def _regions(run: str) -> tuple[tuple[str, ...], int]:
    """The regions to read a run in, and how strictly: a number written with its country
    code is one when its length is possible there (a "+" is rarely anything else, and
    made-up or new numbers are PII too); a national one must be a valid number of the
    plan, which keeps order numbers and ids out."""
    head = run.lstrip("(")
    if run.startswith("+") or head.startswith("00"):
        return _INTERNATIONAL_REGION, Leniency.POSSIBLE
    return (_TRUNK_REGIONS if head.startswith("0") else _NO_TRUNK_REGIONS), Leniency.VALID


def _phone_spans(text: str) -> list[tuple[int, int]]:
    """Where phone numbers are: libphonenumber's matcher (valid numbers of the numbering
    plan) on each run of 7+ digits, one character of context either side, and then the
    labels and date shapes _phone_ok rules out."""
    spans: list[tuple[int, int]] = []
    read = 0
    for run in _PHONE_RUN.finditer(text):
        start, end = run.span()
        if end - start < 7 or len(_DIGITS_ONLY.sub("", run.group())) < 7:
            continue
        if start and (text[start - 1].isalnum() or text[start - 1] in _NOT_BEFORE_PHONE):
            continue
        read += 1
        if read > MAX_PHONE_RUNS:
            if _phone_ok(run.group(), text[max(start - 24, 0) : start]):
                spans.append((start, end))
            continue
        lo = max(start - 1, 0)
        spans += [
            (lo + a, lo + b)
            for a, b, raw in _numbers_in(text[lo : end + 1], *_regions(run.group()))
            if _phone_ok(raw, text[max(lo + a - 24, 0) : lo + a])
        ]
    return spans


@lru_cache(maxsize=4096)
def _numbers_in(
    window: str, regions: tuple[str, ...], leniency: int
) -> tuple[tuple[int, int, str], ...]:
    """(start, end, text) of the phone numbers in `window`, read as numbers of the first
    region that finds any. libphonenumber costs ~50-150 us per region and window, and the
    same number (a signature, a support line) recurs across records: cached."""
    for region in regions:
        found = tuple(
            (m.start, m.end, m.raw_string)
            for m in PhoneNumberMatcher(window, region, leniency=leniency)
        )
        if found:
            return found
    return ()


def _redact_phones(text: str, counts: dict[str, int]) -> str:
    spans = _phone_spans(text)
    if not spans:
        return text
    parts, last = [], 0
    for start, end in spans:
        parts += [text[last:start], f"[{PHONE}]"]
        last = end
    counts[PHONE] = counts.get(PHONE, 0) + len(spans)
    return "".join(parts) + text[last:]


def redact_pii(text: str) -> tuple[str, dict[str, int]]:
    """Replace PII with "[TYPE]" placeholders; return the text and counts per type found."""
    counts: dict[str, int] = {}
    if not text:
        return text, counts
    text = canonical_chars(text)
    # Secrets first: a token must not be half-read as a phone or card number.
    lowered = text.lower()
    text = _redact_secrets(text, lowered, counts)
    text = _redact_spelled_emails(text, lowered, counts)
    text = _redact_ipv6(text, counts)
    numberish = _NUMBERISH.search(text) is not None
    for kind, pattern, valid, hint, needs in _RULES:
        if kind != EMAIL and not numberish:
            continue
        if hint is not None and hint not in text:
            continue
        if needs is not None and not _all_found(needs, text):
            continue
        placeholder = f"[{kind}]"
        n = 0
        context = kind in _NEEDS_CONTEXT

        def repl(m: re.Match[str], valid=valid, placeholder=placeholder, context=context) -> str:
            nonlocal n
            if valid is not None:
                ok = (
                    valid(m.group(), m.string[max(m.start() - 24, 0) : m.start()])
                    if context
                    else valid(m.group())
                )
                if not ok:
                    return m.group()
            n += 1
            return placeholder

        start = _STARTS.get(kind)
        text = pattern.sub(repl, text) if start is None else _sub_from(
            pattern, repl, text, start(text)
        )
        if n:
            counts[kind] = counts.get(kind, 0) + n
    if numberish:  # last: a card, IBAN or IP must not be half-read as a phone number
        text = _redact_phones(text, counts)
    return text, counts


def redact_value(value: Any, redact: Callable[[str], tuple[str, dict[str, int]]]) -> Any:
    """Redact every string inside a JSON value (dict keys stay, but for their control
    characters: they are field names)."""
    if isinstance(value, str):
        return redact(value)[0]
    if isinstance(value, dict):
        return {strip_controls(k): redact_value(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v, redact) for v in value]
    return value


class Redactor:
    """The step every stored free-text field goes through (text, author, url, metadata):
    control characters out (always), then PII redaction; `enabled=False` skips the
    redaction (settings.redact_pii)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def __call__(self, text: str) -> tuple[str, dict[str, int]]:
        text = strip_controls(text)
        if not self.enabled:
            return text, {}
        return redact_pii(text)

    def __repr__(self) -> str:
        return f"Redactor(enabled={self.enabled})"
