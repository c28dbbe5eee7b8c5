"""The weighted demand score: one formula, used by the SQL rebuild and by Python alike.

Score of a theme in a period (and segment)::

    weighted_score = sum over distinct accounts a that mention the theme in the period of
        segment_weight[segment(a)]
        * max(source_weight[source] for the sources a used for the theme in the period)
        * ((1 - arr_weight) + arr_weight * min(arr(a) / reference_arr, arr_cap))

- An account counts once per period however many records it sends (50 tickets = 1 account).
- ``segment(a)`` and ``arr(a)`` are the account's values as of the period; an account the CRM
  does not know (or feedback without an account) has segment ``unknown`` and ARR 0, and each
  anonymous record counts as its own voice.
- ``reference_arr`` is the median ARR of the accounts the CRM knows (ARR > 0), so an account
  at median ARR scores exactly its segment x source weight; ``arr_cap`` stops a single huge
  account from outweighing everything else.
- ``arr_weight`` = 0 counts accounts only; 1 weighs by ARR only; 0.5 (default) blends them.

Weights live in Settings (TRENDMINE_SEGMENT_WEIGHTS, TRENDMINE_SOURCE_WEIGHTS,
TRENDMINE_ARR_WEIGHT; defaults in foundation.config); changing them needs a trends rebuild,
never a re-mining. The database computes the same formula in ``trendmine.account_contribution``
(migration V004, used through warehouse.score); tests/test_scoring.py proves the two agree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from statistics import median

from foundation.config import (
    DEFAULT_ARR_WEIGHT,
    DEFAULT_SEGMENT_WEIGHTS,
    DEFAULT_SOURCE_WEIGHTS,
    Settings,
)

# Not a setting: one account may weigh at most this many median accounts' ARR.
DEFAULT_ARR_CAP = 10.0
# A segment or source missing from the weight maps weighs like an SMB account / a plain note.
FALLBACK_WEIGHT = 1.0


@dataclass(frozen=True)
class ScoreWeights:
    """The knobs of the weighted score (validated on construction)."""

    segment_weights: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_SEGMENT_WEIGHTS)
    )
    source_weights: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_SOURCE_WEIGHTS)
    )
    arr_weight: float = DEFAULT_ARR_WEIGHT
    arr_cap: float = DEFAULT_ARR_CAP

    def __post_init__(self) -> None:
        if not 0.0 <= self.arr_weight <= 1.0:
            raise ValueError(f"arr_weight: expected 0..1, got {self.arr_weight!r}")
        if self.arr_cap <= 0:
            raise ValueError(f"arr_cap: expected > 0, got {self.arr_cap!r}")
        for name, weights in (
            ("segment_weights", self.segment_weights),
            ("source_weights", self.source_weights),
        ):
            bad = {k: v for k, v in weights.items() if not v >= 0}
            if bad:
                raise ValueError(f"{name}: weights must be >= 0, got {bad}")

    @classmethod
    def from_settings(cls, settings: Settings) -> ScoreWeights:
        return cls(
            dict(settings.segment_weights),
            dict(settings.source_weights),
            float(settings.arr_weight),
        )

    def segment(self, segment: str | None) -> float:
        return float(self.segment_weights.get(segment or "unknown", FALLBACK_WEIGHT))

    def source(self, source: str) -> float:
        return float(self.source_weights.get(source, FALLBACK_WEIGHT))


def reference_arr(arrs: Iterable[float]) -> float:
    """Median of the positive ARRs; 1.0 when there is none (ARR then only adds nothing)."""
    positive = [float(a) for a in arrs if a and a > 0]
    return float(median(positive)) if positive else 1.0


def account_contribution(
    segment: str | None, sources: Iterable[str], arr: float, ref_arr: float, weights: ScoreWeights
) -> float:
    """One distinct account's share of a theme's weighted score in one period."""
    src = max((weights.source(s) for s in sources), default=FALLBACK_WEIGHT)
    ratio = min(max(float(arr), 0.0) / ref_arr, weights.arr_cap) if ref_arr > 0 else 0.0
    return (
        weights.segment(segment) * src * ((1.0 - weights.arr_weight) + weights.arr_weight * ratio)
    )


def weighted_score(
    accounts: Iterable[tuple[str | None, Iterable[str], float]],
    ref_arr: float,
    weights: ScoreWeights,
) -> float:
    """Sum of account_contribution over distinct accounts: (segment, sources, arr) each."""
    return sum(
        account_contribution(seg, srcs, arr, ref_arr, weights) for seg, srcs, arr in accounts
    )


# --- the value score: what `trends` ranks by default ----------------------------------------
#
#     value = demand x pipeline_factor x momentum
#
# - demand: the weighted score of the window (above): distinct accounts, each weighted by its
#   segment, its ARR (capped) and its strongest source;
# - pipeline_factor = 1 + ln(1 + open_pipeline / reference_arr): open deals that ask for the
#   theme, in median accounts' ARR, with diminishing returns (a 3.2M pipeline against a 50k
#   median multiplies by 5.2, 100k by 2.1);
# - momentum = clip(sqrt(lift), MOMENTUM_MIN, MOMENTUM_MAX) with
#   lift = (recent + DAMPING) / (expected + DAMPING): the daily weighted score (each account
#   once a day) summed over the window's last `recent_days`, against what the days before
#   predict for as many days. DAMPING (a median account's day, twice) keeps one or two new
#   voices from reading as a surge; the clip keeps a theme's growth from outweighing its
#   size by more than MOMENTUM_MAX.
#
# So a fast-rising need multiplies its demand by up to MOMENTUM_MAX, and its pipeline by
# its factor, while steady noise keeps momentum ~1 (and no pipeline, factor 1): it sits
# below a steady theme only when that one's demand is more than MOMENTUM_MAX times its own.
# On the demo world (10,000 records, seed 7) MOMENTUM_MAX 6 puts the planted "EU data
# residency" (6 enterprise accounts, lift 136) first in the enterprise segment, where the
# weighted score alone ranked it 140th of 199; at 4 it came second, behind a theme of three
# times its demand that also rose (lift 1.9).
VALUE_RECENT_DAYS = 28
VALUE_DAMPING = 2.0
MOMENTUM_MIN = 0.5
MOMENTUM_MAX = 6.0


@dataclass(frozen=True)
class ValueParts:
    """One theme's value and the components it is the product of (`--explain`)."""

    demand: float
    pipeline_factor: float
    lift: float
    momentum: float
    value: float


def recent_days(window_days: int) -> int:
    """Days at the end of a window that count as recent: VALUE_RECENT_DAYS, or a third of a
    short window (at least one day)."""
    return max(1, min(VALUE_RECENT_DAYS, window_days // 3))


def value_score(demand: float, pipeline: float, recent: float, earlier: float,
                window_days: int, ref_arr: float) -> ValueParts:
    """The value score of one theme: `demand` the weighted score of the whole window,
    `recent`/`earlier` its weighted score in the last `recent_days(window_days)` days and in
    the days before them, `pipeline` its open pipeline, `ref_arr` the median ARR."""
    r_days = recent_days(window_days)
    e_days = max(window_days - r_days, 0)
    expected = earlier * r_days / e_days if e_days else recent
    lift = (max(recent, 0.0) + VALUE_DAMPING) / (max(expected, 0.0) + VALUE_DAMPING)
    momentum = min(max(lift ** 0.5, MOMENTUM_MIN), MOMENTUM_MAX)
    factor = 1.0 + math.log1p(max(pipeline, 0.0) / ref_arr) if ref_arr > 0 else 1.0
    return ValueParts(demand, factor, lift, momentum, demand * factor * momentum)
