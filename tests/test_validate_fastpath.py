"""The fast validation path (msgspec + a few checks) against pydantic, the contract's owner.

`fast_feedback` may decline any record (pydantic then decides), but whatever it accepts
pydantic must accept too, with the same values. Checked on the fixtures, the PII probe and
thousands of mutated records, including the shapes where orjson and pydantic differ."""

from __future__ import annotations

import json
import random
from pathlib import Path

import msgspec
import pytest
from pydantic import ValidationError

from ingest.validate import FastFeedback, fast_feedback, validate_feedback
from schemas.events import FeedbackEvent
from schemas.names import Source

FIXTURES = Path(__file__).parent / "fixtures"
BASE = {
    "source": "ideas", "source_id": "canny:1", "account_id": "acct-1",
    "text": "Dark mode please, mail me at jane@acme.io", "created_at": "2026-03-02T09:00:00Z",
}


def _pydantic(raw: bytes) -> dict | None:
    try:
        return FeedbackEvent.model_validate_json(raw).model_dump()
    except ValidationError:
        return None


def _agrees(raw: bytes) -> bool:
    """True when the fast path declines, or accepts with pydantic's exact values."""
    fast = fast_feedback(raw)
    if fast is None:
        return True
    slow = _pydantic(raw)
    if slow is None:
        return False
    got = msgspec.structs.asdict(fast)
    for name in ("created_at", "updated_at"):  # same instant and offset; tz classes differ
        a, b = got.pop(name), slow.pop(name)
        if (a is None) != (b is None) or (a is not None and (a != b or
                                                             a.utcoffset() != b.utcoffset())):
            return False
    return got == slow and all(type(got[k]) is type(slow[k]) for k in got)


def _edge_cases() -> list[bytes]:
    def ev(**over) -> bytes:
        return json.dumps({**BASE, **over}, ensure_ascii=False).encode()

    stamps = [
        "2026-03-02T09:00:00+00:00", "2026-03-02T09:00:00.5Z", "2026-03-02T09:00:00.123456-05:30",
        "2026-03-02T09:00:00.1234567Z", "2026-03-02 09:00:00Z", "2026-03-02T09:00:00+0200",
        "2026-02-30T09:00:00Z", "2026-03-02T24:00:00Z", "2026-03-02T09:00:60Z",
        "2026-03-02T09:00:00", "2026-03-02T09:00:00+24:00", "0000-01-01T00:00:00Z", "1700000000",
        "2026-03-02t09:00:00z", "2026-W10-1T09:00:00Z",
    ]
    cases = [ev(created_at=s) for s in stamps] + [ev(updated_at=s) for s in stamps]
    cases += [ev(created_at=1700000000), ev(updated_at=None), ev(votes=None)]
    for value in (" x", "x ", "", "\x1fx", "x\u00a0", "\u200bx", None, 5, ["x"], "é" * 300):
        for name in ("source_id", "account_id", "opportunity_id", "author", "url", "text"):
            cases.append(ev(**{name: value}))
    for votes in (True, 3.0, 3.5, "3", -1, 2**31 - 1, 2**31, 2**64, 10**30):
        cases.append(ev(votes=votes))
    for metadata in (
        None, [], {"k": 1}, {" k": 1}, {"k ": {" inner ": " v "}}, {"n": 2**63 - 1},
        {"n": 2**63}, {"n": -(2**63)}, {"n": 2**64}, {"n": 10**30}, {"n": [1e300, -0.0]},
        {"f": 1.5e19}, {"deep": [[{"x": [10**25]}]]}, {"": 1},
    ):
        cases.append(ev(metadata=metadata))
    cases += [ev(source=s) for s in ("Ideas", " ideas", "nope", 1, ["ideas"], {"a": 1})]
    cases += [ev(extra=1), json.dumps({k: v for k, v in BASE.items() if k != "text"}).encode()]
    raw = ev()
    cases += [
        raw.replace(b"}", b', "text": "second wins"}'), raw.replace(b"acct-1", b"\\ud800"),
        raw.replace(b"acct-1", b"a\\u0000b"), raw.replace(b"}", b', "metadata": {"x": NaN}}'),
        raw.replace(b"}", b', "metadata": {"x": 1e999}}'), b"\xef\xbb\xbf" + raw,
        raw.replace(b"acct-1", b"acct\n1"), raw.replace(b"acct-1", b"\xff\xfe"), b"[]", b"null",
        raw + b" ", b" " + raw, raw[:-1], raw.replace(b"acct-1", b"acct\\/1"),
    ]
    return cases


def _mutations(seed: int, n: int) -> list[bytes]:
    rng = random.Random(seed)
    base = [json.dumps(BASE).encode()]
    for line in (FIXTURES / "crm_notes" / "canonical_notes.jsonl").read_bytes().splitlines():
        if line.strip():
            base.append(line)
    alphabet = b' "\\:,{}[]0123456789eE.+-TZtrufalsn\x00\x1f\xc3\xa9\xff'
    out = []
    for _ in range(n):
        raw = bytearray(rng.choice(base))
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(raw))
            op = rng.random()
            if op < 0.4:
                raw[i] = rng.choice(alphabet)
            elif op < 0.7:
                raw.insert(i, rng.choice(alphabet))
            else:
                del raw[i]
        out.append(bytes(raw))
    return out


def test_fast_path_reads_the_common_record_and_declines_the_rest():
    fast = fast_feedback(json.dumps(BASE).encode())
    assert isinstance(fast, FastFeedback) and fast.source is Source.IDEAS
    assert fast_feedback(json.dumps({**BASE, "text": " padded"}).encode()) is None
    assert fast_feedback(b'{"source": broken') is None


@pytest.mark.parametrize("raw", _edge_cases())
def test_fast_path_agrees_with_pydantic_on_edge_cases(raw):
    assert _agrees(raw), raw


def test_fast_path_agrees_with_pydantic_on_mutated_records():
    cases = _mutations(seed=15, n=20000)
    accepted = sum(fast_feedback(raw) is not None for raw in cases)
    bad = [raw for raw in cases if not _agrees(raw)]
    assert not bad, bad[:5]
    assert accepted > 1000  # the mutations still exercise the accepting side


def test_probe_texts_validate_the_same_either_way():
    """Every PII probe text as a record: the fast path's event equals pydantic's."""
    for line in (FIXTURES / "pii_probe.jsonl").read_text().splitlines():
        raw = json.dumps({**BASE, "text": json.loads(line)["text"]}).encode()
        assert fast_feedback(raw) is not None and _agrees(raw), raw
        event = validate_feedback(raw, expected_source=Source.IDEAS, max_text_chars=20000)
        assert isinstance(event, FastFeedback)
