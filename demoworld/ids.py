"""Vendor-shaped record ids: Salesforce 15/18-char ids, HubSpot and Zendesk numbers,
Canny ObjectIds, Gong call ids. All deterministic from a counter and the seeded generator."""

from __future__ import annotations

import random
from datetime import datetime

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SFDC_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"

# Salesforce key prefixes
SF_ACCOUNT, SF_OPPORTUNITY, SF_NOTE, SF_CONTENT_NOTE, SF_USER = "001", "006", "002", "069", "005"


def _b62(n: int, width: int) -> str:
    out = ""
    for _ in range(width):
        n, r = divmod(n, 62)
        out = _B62[r] + out
    return out


def sfdc18(id15: str) -> str:
    """The case-safe 18-character form of a 15-character Salesforce id."""
    suffix = ""
    for i in range(0, 15, 5):
        bits = sum(1 << j for j, ch in enumerate(id15[i:i + 5]) if ch.isupper())
        suffix += _SFDC_SUFFIX[bits]
    return id15 + suffix


def sfdc_id(prefix: str, counter: int, rng: random.Random) -> str:
    """An 18-char id: key prefix, pod "5g", zeros, then a unique base-62 tail."""
    tail = _b62(counter * 7919 + rng.randrange(7919), 6)
    return sfdc18(f"{prefix}5g0000{tail}")


class Sequence:
    """Increasing numeric ids with random gaps, as systems hand them out over time."""

    def __init__(self, rng: random.Random, start: int, max_gap: int = 3) -> None:
        self._rng, self._next, self._gap = rng, start, max_gap

    def __call__(self) -> str:
        value = self._next
        self._next += 1 + self._rng.randrange(self._gap)
        return str(value)


def canny_id(created: datetime, rng: random.Random) -> str:
    """A MongoDB ObjectId: 4-byte creation time then 8 random bytes, as Canny uses."""
    return f"{int(created.timestamp()):08x}{rng.getrandbits(64):016x}"


def gong_call_id(rng: random.Random) -> str:
    return str(rng.randrange(10**18, 9 * 10**18))
