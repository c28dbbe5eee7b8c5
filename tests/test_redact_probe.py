"""PII redaction against a labelled probe set (tests/fixtures/pii_probe.jsonl).

Each line is {"text", "kind", "pii"}: kind is the placeholder type expected for the `pii`
substring, or null for a look-alike (version, SKU, order number, price, date, time) that
must come back unchanged.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from ingest.redact import PLACEHOLDERS, redact_pii

from .conftest import REPO

PROBE = [
    json.loads(line)
    for line in (REPO / "tests" / "fixtures" / "pii_probe.jsonl").read_text().splitlines()
]
POSITIVES = [p for p in PROBE if p["kind"]]
LOOK_ALIKES = [p for p in PROBE if not p["kind"]]


def _caught(probe: dict) -> bool:
    out, _ = redact_pii(probe["text"])
    return probe["pii"] not in out and f"[{probe['kind']}]" in out


def test_recall_is_at_least_95_percent_overall_and_per_type():
    missed = [p for p in POSITIVES if not _caught(p)]
    recall = 1 - len(missed) / len(POSITIVES)
    assert recall >= 0.95, f"recall {recall:.3f}; missed: {[p['text'] for p in missed]}"
    totals, misses = Counter(p["kind"] for p in POSITIVES), Counter(p["kind"] for p in missed)
    assert set(totals) == set(PLACEHOLDERS)  # every placeholder type is probed
    for kind, n in totals.items():
        assert n >= 4 and 1 - misses[kind] / n >= 0.75, (kind, misses[kind], n)


@pytest.mark.parametrize("probe", LOOK_ALIKES, ids=lambda p: p["text"][:40])
def test_look_alikes_are_left_alone(probe):
    assert redact_pii(probe["text"]) == (probe["text"], {})


def test_the_probe_set_is_substantial():
    assert len(POSITIVES) >= 80 and len(LOOK_ALIKES) >= 40
    assert all(p["pii"] in p["text"] for p in POSITIVES)
