"""Emerging themes: weighted demand rising faster than the theme's own history explains.

Method (per theme, on a regular series of periods, oldest..newest):

1. Weighted demand per period (the trends weighted score: each account counts once per
   period) is put in account units: divided by the theme's mean contribution of one account
   in its baseline (shrunk towards the global mean with ``prior_accounts`` pseudo-accounts).
   The baseline then reads as "accounts per period", and a recent window of heavier accounts
   (enterprise, high ARR) reads as more accounts than the baseline had.
2. The baseline is the theme's periods before the recent window, from its first period on.
   Its mean and variance are shrunk towards a global prior (the median theme's baseline)
   with ``prior_periods`` pseudo-periods, so a short history is not over-trusted and a
   brand-new theme (no baseline, ``is_new``) is compared with the typical theme.
3. The recent window's demand is tested against a negative binomial with that mean and
   variance (a Poisson when the baseline is not over-dispersed): p = P(X >= observed).
   The observed value leaves out the single loudest account (a theme must still look
   surprising without it), so one account spamming tickets cannot make a theme emerge.
4. A theme is flagged when p passes the Benjamini-Hochberg cut at false discovery rate
   ``alpha`` over all themes tested (threshold = -log10 of that cut, shown as evidence),
   at least ``min_accounts`` distinct accounts spoke in the recent window, and the window
   is at least ``min_lift`` times its expectation. Flagged themes are ranked by statistic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import special

METHOD_NB = "negative_binomial"
METHOD_POISSON = "poisson"
_MAX_STAT = 300.0  # -log10 of the smallest double; keeps JSON finite


@dataclass(frozen=True)
class ThemeSeries:
    """One theme's demand over the analysed periods (all arrays oldest..newest, same length).

    ``first_index`` is the index of the theme's first period with any mention; None when the
    theme was already active before the first period given. ``recent_account_weights`` holds
    each distinct account's weighted contribution summed over the recent window.
    """

    theme_id: int
    weighted: Sequence[float]
    mentions: Sequence[int]
    accounts: Sequence[int]
    recent_account_weights: Sequence[float]
    first_index: int | None = None
    recent_arr: float = 0.0
    recent_pipeline: float = 0.0
    label: str = ""


@dataclass(frozen=True)
class EmergingTheme:
    theme_id: int
    label: str
    rank: int
    is_new: bool
    mentions: int
    accounts: int
    arr: float
    pipeline: float
    observed: float
    expected: float
    statistic: float
    p_value: float
    threshold: float
    evidence: dict[str, Any] = field(default_factory=dict)


def upper_tail(observed: float, mean: float, var: float) -> tuple[float, str]:
    """P(X >= observed) for a count with this mean/variance (continuous in `observed`).

    Negative binomial when var > mean (size r = mean^2/(var-mean)), else Poisson.
    """
    if observed <= 0:
        return 1.0, METHOD_POISSON if var <= mean else METHOD_NB
    mean = max(mean, 1e-9)
    if var > mean * (1 + 1e-9):
        r = mean * mean / (var - mean)
        # P(X >= k) = I_{1-p}(k, r) with p = r / (r + mean)
        return float(special.betainc(observed, r, mean / (r + mean))), METHOD_NB
    return float(special.gammainc(observed, mean)), METHOD_POISSON


def benjamini_hochberg(p_values: Sequence[float], alpha: float) -> float:
    """The Benjamini-Hochberg critical value alpha * k / m (false discovery rate alpha).

    k is the largest rank whose ordered p-value p_(k) <= alpha * k / m; every test with
    p <= that cut is a discovery. With no discovery the cut is the Bonferroni alpha / m, so
    the threshold shown is always a finite, meaningful number.
    """
    m = len(p_values)
    ordered = sorted(p_values)
    k = max((i for i, p in enumerate(ordered, start=1) if p <= alpha * i / m), default=1)
    return alpha * k / m


def _baseline(x: np.ndarray, start: int, end: int) -> tuple[int, float, float]:
    base = x[start:end]
    n = len(base)
    if n == 0:
        return 0, 0.0, 0.0
    mu = float(base.mean())
    var = float(base.var(ddof=1)) if n > 1 else mu
    return n, mu, var


def detect_emerging(
    series: Sequence[ThemeSeries],
    recent_periods: int = 2,
    min_accounts: int = 3,
    alpha: float = 0.01,
    min_lift: float = 1.5,
    prior_periods: float = 2.0,
    prior_accounts: float = 3.0,
    unit: float | None = None,
) -> list[EmergingTheme]:
    """Flag and rank the themes whose recent weighted demand beats their own baseline."""
    if recent_periods < 1:
        raise ValueError(f"recent_periods: expected >= 1, got {recent_periods!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: expected 0 < alpha < 1, got {alpha!r}")
    if min_accounts < 1:
        raise ValueError(f"min_accounts: expected >= 1, got {min_accounts!r}")
    if not series:
        return []
    n_periods = len(series[0].weighted)
    if any(len(s.weighted) != n_periods for s in series):
        raise ValueError("series: every theme needs the same number of periods")
    if n_periods <= recent_periods:
        raise ValueError("series: need more periods than recent_periods")
    split = n_periods - recent_periods

    # the typical theme's contribution per account (median, so a few enterprise-heavy
    # themes do not make every other account look small)
    per_theme = [
        float(np.sum(s.weighted)) / float(np.sum(s.accounts))
        for s in series
        if np.sum(s.accounts) > 0 and np.sum(s.weighted) > 0
    ]
    global_unit = unit or (float(np.median(per_theme)) if per_theme else 1.0)

    units, xs, stats = [], [], []
    for s in series:
        start = s.first_index or 0
        if unit:
            u = unit
        else:  # the theme's own contribution per account, shrunk towards the global one
            w_b = float(np.sum(s.weighted[start:split]))
            a_b = float(np.sum(s.accounts[start:split]))
            u = (w_b + prior_accounts * global_unit) / (a_b + prior_accounts)
        x = np.asarray(s.weighted, dtype=float) / u
        units.append(u)
        xs.append(x)
        stats.append(_baseline(x, start, split))
    established = [(mu, var) for n, mu, var in stats if n >= 3]
    mu0 = float(np.median([m for m, _ in established])) if established else 1.0
    mu0 = max(mu0, 0.5)  # a silent catalogue must not make one mention look like a surge
    # the prior's spread: the median theme's dispersion index (variance / mean), at least 1
    ratios = [v / m for m, v in established if m > 0]
    var0 = mu0 * max(float(np.median(ratios)) if ratios else 1.0, 1.0)

    tests = []
    for s, x, u, (n_b, mu_b, var_b) in zip(series, xs, units, stats, strict=True):
        mu = (n_b * mu_b + prior_periods * mu0) / (n_b + prior_periods)
        # a brand-new theme has no swing of its own to measure: the prior is a rate (Poisson)
        var = (n_b * var_b + prior_periods * var0) / (n_b + prior_periods) if n_b else mu0
        expected = recent_periods * mu
        contrib = np.asarray(s.recent_account_weights, dtype=float) / u
        observed = float(x[split:].sum())
        robust = observed - (float(contrib.max()) if len(contrib) else 0.0)
        p, method = upper_tail(robust, expected, recent_periods * var)
        tests.append((p, method, expected, contrib, observed, robust))
    p_cut = benjamini_hochberg([t[0] for t in tests], alpha)
    threshold = -math.log10(p_cut)

    found: list[EmergingTheme] = []
    for s, u, (n_b, mu_b, var_b), (p, method, expected, contrib, observed, robust) in zip(
        series, units, stats, tests, strict=True
    ):
        stat = min(-math.log10(max(p, 1e-300)), _MAX_STAT)
        n_acc = len(s.recent_account_weights)
        if p > p_cut or n_acc < min_accounts or observed < min_lift * expected:
            continue
        top_share = float(contrib.max() / contrib.sum()) if contrib.sum() > 0 else 0.0
        found.append(
            EmergingTheme(
                theme_id=s.theme_id,
                label=s.label,
                rank=0,
                is_new=n_b == 0,
                mentions=int(np.sum(s.mentions[split:])),
                accounts=n_acc,
                arr=float(s.recent_arr),
                pipeline=float(s.recent_pipeline),
                observed=observed * u,
                expected=expected * u,
                statistic=stat,
                p_value=p,
                threshold=threshold,
                evidence={
                    "method": method,
                    "weighted_per_period": [round(float(v), 4) for v in s.weighted],
                    "mentions_per_period": [int(v) for v in s.mentions],
                    "accounts_per_period": [int(v) for v in s.accounts],
                    "recent_periods": recent_periods,
                    "baseline_periods": n_b,
                    "baseline_mean": mu_b * u,
                    "baseline_var": var_b * u * u,
                    "prior_mean": mu0 * u,
                    "prior_periods": prior_periods,
                    "unit": u,
                    "observed_without_top_account": robust * u,
                    "top_account_share": round(top_share, 4),
                    "recent_accounts": n_acc,
                    "lift": observed / expected if expected > 0 else None,
                    "alpha": alpha,
                    "multiple_testing": "benjamini_hochberg",
                    "themes_tested": len(series),
                    "min_accounts": min_accounts,
                    "min_lift": min_lift,
                },
            )
        )
    found.sort(key=lambda e: (-e.statistic, -e.observed, e.theme_id))
    return [replace(e, rank=i) for i, e in enumerate(found, start=1)]
