"""Shared pieces of the connectors: result types, the format record, readers and converters.

Every vendor module turns vendor records into canonical dicts with the helpers here, so
timestamps, ids and "what counts as unparseable" behave the same across vendors.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import IO, Any

from dateutil import parser as dateparser

from schemas.names import Source

# ---------------------------------------------------------------------------- result types


@dataclass(frozen=True)
class Parsed:
    """A canonical record: `value` uses the field names of schemas/events.py."""

    key: str | None
    value: dict[str, Any]


@dataclass(frozen=True)
class Unparseable:
    """A vendor record that cannot be mapped; it goes to the DLQ with `reason`."""

    raw: bytes
    reason: str


Item = Parsed | Unparseable
ParseFn = Callable[[str, IO[bytes]], Iterator[Item]]


class RecordError(ValueError):
    """Raised inside a record mapper: the record becomes Unparseable with this message."""


@dataclass(frozen=True)
class Head:
    """What detection looks at: the first bytes of a file, pre-chewed once."""

    target: str
    text: str
    filename: str  # lower-cased, "" when unknown
    kind: str  # "json", "jsonl", "csv" or "unknown"
    columns: frozenset[str] = frozenset()  # CSV header, lower-cased
    first_keys: frozenset[str] = frozenset()  # keys of the first JSON Lines object


@dataclass(frozen=True)
class Format:
    """One `--format` value: which targets it carries and how to read it."""

    name: str
    targets: tuple[str, ...]
    description: str
    parse: ParseFn
    # How detection recognises the format from a file's head; None = never auto-detected.
    sniff: Callable[[Head], bool] | None = field(default=None, compare=False)


FEEDBACK_TARGETS: tuple[str, ...] = tuple(s.value for s in Source)

# ---------------------------------------------------------------------------- conversions

_NUMERIC = re.compile(r"^-?\d+(?:\.\d+)?$")
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")


def parse_timestamp(value: Any, what: str = "timestamp") -> datetime | None:
    """Vendor timestamp -> aware datetime. None/"" -> None; garbage -> RecordError.

    Accepts ISO 8601 (Salesforce's "+0000" offsets included), unix seconds (Intercom) and
    unix milliseconds (older HubSpot). Naive values are taken as UTC: every vendor here
    documents its API/export timestamps in UTC.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RecordError(f"{what} {value!r} is not a timestamp")
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMERIC.match(value)):
        num = float(value)
        if num > 1e11:  # milliseconds: 1e11 s would be the year 5138
            num /= 1000
        try:
            return datetime.fromtimestamp(num, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise RecordError(f"{what} {value!r} is out of range") from exc
    if not isinstance(value, str):
        raise RecordError(f"{what} {value!r} is not a timestamp")
    text = value.strip()
    try:
        dt = dateparser.isoparse(text)
    except (ValueError, OverflowError):
        dt = None
    if dt is None:
        # Report-style dates ("3/1/2024 10:15 AM"); a year is required because dateutil
        # would otherwise fill the missing parts in from today and invent a date.
        try:
            if not _YEAR.search(text):
                raise ValueError("no year")
            dt = dateparser.parse(text)
        except (ValueError, OverflowError) as exc:
            raise RecordError(f"{what} {value!r} is not a date/time this connector can read")\
                from exc
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt is not None else None


def parse_date(value: Any, what: str = "date") -> str | None:
    """A close date -> "YYYY-MM-DD" (datetimes are cut to their UTC date)."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        return date.fromisoformat(value.strip()).isoformat()
    dt = parse_timestamp(value, what)
    return dt.astimezone(UTC).date().isoformat() if dt else None


def parse_number(value: Any, what: str) -> float | None:
    """"1,234.50", "$1,234", 1234 -> float; None/"" -> None; garbage -> RecordError."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RecordError(f"{what} {value!r} is not a number")
    if isinstance(value, int | float):
        return float(value)
    cleaned = re.sub(r"[\s,$€£]", "", str(value))
    try:
        return float(cleaned)
    except ValueError as exc:
        raise RecordError(f"{what} {value!r} is not a number") from exc


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in {"true", "1", "yes", "y", "t"}


def clean_str(value: Any) -> str | None:
    """A vendor scalar -> stripped string, or None for null/blank."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


_SFDC_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def sfdc_id(value: Any) -> str | None:
    """Salesforce 15-char ids -> the 18-char form, so ids from reports, Data Loader and
    Gong's CRM context join on one spelling."""
    text = clean_str(value)
    if text is None or len(text) != 15 or not text.isalnum():
        return text
    suffix = ""
    for i in range(0, 15, 5):
        bits = sum(1 << j for j, ch in enumerate(text[i:i + 5]) if ch.isupper())
        suffix += _SFDC_SUFFIX[bits]
    return text + suffix


def account_ref(
    system: str, ref_id: Any = None, name: Any = None, domain: Any = None
) -> dict[str, str] | None:
    """A source's own clues to the customer's company (FeedbackEvent.account_ref), or None."""
    ref = {"id": clean_str(ref_id), "name": clean_str(name), "domain": clean_str(domain)}
    ref = {k: v for k, v in ref.items() if v is not None}
    return {"system": system, **ref} if ref else None


def compact(value: dict[str, Any]) -> dict[str, Any]:
    """Drop None and empty metadata so messages stay small and nulls stay meaningful."""
    out = {k: v for k, v in value.items() if v is not None}
    if "metadata" in out:
        out["metadata"] = {k: v for k, v in out["metadata"].items() if v not in (None, "", [])}
    return out


def record_json(record: Any) -> bytes:
    return json.dumps(record, ensure_ascii=False, default=str).encode()


# ---------------------------------------------------------------------------- readers


def as_stream(data: bytes | IO[bytes]) -> IO[bytes]:
    return io.BytesIO(data) if isinstance(data, bytes | bytearray | memoryview) else data


class _LineTap:
    """Feeds lines to csv.reader and remembers which ones made up the current row, so an
    unmappable row goes to the DLQ as its original bytes (quoted newlines included)."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(lines)
        self.taken: list[str] = []

    def __iter__(self) -> _LineTap:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.taken.append(line)
        return line


def iter_csv(stream: IO[bytes]) -> Iterator[tuple[int, dict[str, str], bytes]]:
    """(line number, row keyed by lower-cased header, raw bytes) per data row.

    Raw is the header line plus the row's lines: a self-describing one-row CSV. Header
    names are lower-cased because Data Loader upper-cases them and other tools do not.
    """
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    tap = _LineTap(text)
    reader = csv.reader(tap)
    try:
        header = next(reader)
    except StopIteration:
        return
    header_raw = "".join(tap.taken)
    names = [h.strip().lower() for h in header]
    tap.taken.clear()
    for row in reader:
        raw = (header_raw + "".join(tap.taken)).encode()
        tap.taken.clear()
        if not any(cell.strip() for cell in row):
            continue
        yield reader.line_num, dict(zip(names, row, strict=False)), raw


def iter_jsonl(lines: Iterable[bytes], start: int = 1) -> Iterator[tuple[int, Any, bytes]]:
    """(line number, parsed JSON or a JSONDecodeError, raw line) per non-blank line."""
    for n, line in enumerate(lines, start):
        raw = line.rstrip(b"\r\n")
        if n == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        if not raw.strip():
            continue
        try:
            yield n, json.loads(raw), raw
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            yield n, exc, raw


def map_json_records(
    stream: IO[bytes], list_keys: tuple[str, ...], vendor: str,
    is_record: Callable[[dict[str, Any]], bool], mapper: Callable[[Any], Any], what: str,
) -> Iterator[Any]:
    """`iter_json_records`, each record mapped by `mapper` (a failure becomes Unparseable)."""
    for item in iter_json_records(stream, list_keys, vendor, is_record):
        if isinstance(item, tuple):
            _, record, raw = item
            yield safe_map(raw, lambda r=record: mapper(r), what)
        else:
            yield item


def iter_json_records(
    stream: IO[bytes], list_keys: tuple[str, ...], vendor: str,
    is_record: Callable[[dict[str, Any]], bool],
    on_doc: Callable[[dict[str, Any]], None] | None = None,
) -> Iterator[tuple[str, Any, bytes] | Unparseable]:
    """Records from an API page ({"tickets": [...]}), a bare list, one bare record, or
    JSON Lines of any of those. Yields (list key or "", record, raw) or Unparseable.

    A JSON document is loaded whole (API pages are small); JSON Lines stream line by line.
    `on_doc` sees each top-level object first (sideloaded users, transcripts, ...).
    """
    first = stream.readline()
    rest_probe = stream.read(1)
    try:
        first_obj: Any = json.loads(first) if first.strip() else None
        single_line_doc = True
    except (json.JSONDecodeError, UnicodeDecodeError):
        single_line_doc = False
    if single_line_doc and rest_probe and first_obj is not None:
        # JSON Lines: first line is complete and more follows.
        yield from _records_of(first_obj, list_keys, is_record, on_doc, first.rstrip(b"\r\n"), 1)
        rest = itertools.chain([rest_probe + stream.readline()], stream)
        for n, obj, raw in iter_jsonl(rest, start=2):
            if isinstance(obj, Exception):
                yield Unparseable(raw, f"line {n} is not valid JSON ({obj})")
            else:
                yield from _records_of(obj, list_keys, is_record, on_doc, raw, n)
        return
    body = first + rest_probe + stream.read()
    if not body.strip():
        return
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"not a {vendor} JSON export: the file is not valid JSON ({exc}); "
            "check the file or choose another --format"
        ) from exc
    yield from _records_of(doc, list_keys, is_record, on_doc, None, None)


def _records_of(
    obj: Any, list_keys: tuple[str, ...], is_record: Callable[[dict[str, Any]], bool],
    on_doc: Callable[[dict[str, Any]], None] | None, raw: bytes | None, line: int | None,
) -> Iterator[tuple[str, Any, bytes] | Unparseable]:
    where = f"line {line}: " if line else ""
    if isinstance(obj, list):
        for rec in obj:
            yield "", rec, record_json(rec)
        return
    if not isinstance(obj, dict):
        yield Unparseable(raw or record_json(obj), f"{where}expected a JSON object or list")
        return
    if on_doc is not None:
        on_doc(obj)
    found = False
    for key in list_keys:
        value = obj.get(key)
        if isinstance(value, list):
            found = True
            for rec in value:
                yield key, rec, record_json(rec)
        elif isinstance(value, dict) and key in obj:
            found = True  # single-object endpoints: {"ticket": {...}}
            yield key, value, record_json(value)
    if found:
        return
    if is_record(obj):
        yield "", obj, raw or record_json(obj)
    else:
        keys = ", ".join(sorted(obj)[:8]) or "none"
        yield Unparseable(
            raw or record_json(obj),
            f"{where}object has none of the expected keys {', '.join(list_keys)} "
            f"(found: {keys}); is this the right export?",
        )


def safe_map(
    raw: bytes, mapper: Callable[[], Item], label: str
) -> Item:
    """Run one record's mapper; a RecordError (or a vendor-shape surprise) -> Unparseable."""
    try:
        return mapper()
    except RecordError as exc:
        return Unparseable(raw, f"{label}: {exc}")
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        return Unparseable(raw, f"{label}: unexpected shape ({type(exc).__name__}: {exc})")
