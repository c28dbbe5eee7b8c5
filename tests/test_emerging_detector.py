"""EmergingDetector follows the estimator contract; its evidence keeps the stored JSON keys."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mining.emerging import EmergingDetector, detect_emerging, group_related
from tests.test_emerging import RECENT, build

# theme_emerging.evidence: keys readers of trends.emerging_themes rely on (the data contract)
STORED_KEYS = {
    "method", "weighted_per_period", "mentions_per_period", "accounts_per_period",
    "exposure_per_period", "recent_periods", "baseline_periods", "guard_periods",
    "baseline_mentions", "baseline_mean", "baseline_var", "prior_mean", "prior_periods", "unit",
    "observed_without_top_account", "p_weighted", "p_accounts", "accounts_observed",
    "accounts_expected", "accounts_method", "top_account_share", "recent_accounts", "lift",
    "accounts_lift", "alpha", "multiple_testing", "themes_tested", "min_accounts", "min_lift",
}


def test_fit_learns_state_and_matches_detect_emerging():
    series, ids = build(4)
    det = EmergingDetector(recent_periods=RECENT, alpha=0.01)
    assert det.fit(series) is det
    assert (det.recent_periods, det.alpha, det.unit) == (RECENT, 0.01, None)  # unchanged
    assert det.emerging_ == detect_emerging(series, recent_periods=RECENT, alpha=0.01)
    assert len(det.units_) == len(det.p_values_) == len(series)
    assert det.threshold_ == pytest.approx(-math.log10(det.p_cut_))
    assert det.split_ == len(series[0].weighted) - RECENT
    assert det.baseline_[1] == det.split_ - det.guard_periods
    p_of = {s.theme_id: p for s, p in zip(series, det.p_values_, strict=True)}
    flagged = {e.theme_id for e in det.emerging_}
    assert ids["brand_new"] in flagged
    assert all(p_of[t] <= det.p_cut_ for t in flagged)


def test_evidence_is_typed_and_stores_the_same_keys():
    series, _ = build(2)
    found = EmergingDetector(recent_periods=RECENT).fit(series).emerging_
    assert len(found) >= 2
    e = found[0]
    assert set(e.evidence.as_dict()) == STORED_KEYS
    assert e.evidence["lift"] == e.evidence.lift == pytest.approx(e.observed / e.expected)
    with pytest.raises(KeyError):
        e.evidence["related_themes"]  # only after group_related
    cents = {x.theme_id: np.eye(len(found))[i] for i, x in enumerate(found)}
    grouped = group_related(found, cents)
    assert set(grouped[0].evidence.as_dict()) == STORED_KEYS | {"related_themes"}
    assert grouped[0].evidence.related_themes == []


def test_empty_input_and_parameter_errors():
    assert EmergingDetector().fit([]).emerging_ == []
    series, _ = build(1)
    with pytest.raises(ValueError, match="guard_periods"):
        EmergingDetector(guard_periods=-1).fit(series)
    with pytest.raises(ValueError, match="exposure"):
        EmergingDetector().fit(series, exposure=[2.0] * len(series[0].weighted))
