"""Emerging themes: weighted demand rising faster than the theme's own history explains.

Method (per theme, on a regular series of periods, oldest..newest):

1. Weighted demand per period (the trends weighted score: each account counts once per
   period) is put in account units: divided by the theme's mean contribution of one account
   in its baseline (shrunk towards the global mean with ``prior_accounts`` pseudo-accounts).
   The baseline then reads as "accounts per period", and a recent window of heavier accounts
   (enterprise, high ARR) reads as more accounts than the baseline had.
2. The baseline is every period since the data starts (``data_start``), not since the
   theme's first mention: weeks of silence are history too, and a theme nobody mentioned
   for ten weeks has a rate near zero, not a typical rate. It stops ``guard_periods``
   before the recent window: a surge that began a week before the window would otherwise
   inflate its own baseline's mean and variance and hide itself.
   Periods may be partly observed (``exposure``: the share of the period elapsed, e.g. the
   current week on a Thursday); rates are per fully observed period.
3. The theme's rate gets an empirical-Bayes Gamma prior fitted to the established themes
   (mean m, spread v across themes; strength m / v pseudo-periods, at most
   ``prior_periods``): a short or silent history is not over-trusted, and a theme with no
   observed baseline at all is compared with the typical theme. The recent window is tested
   against the posterior predictive: a negative binomial with the posterior mean, its
   uncertainty, and the theme's own week-to-week over-dispersion (shrunk towards the median
   theme's): p = P(X >= observed).
   The observed value leaves out the single loudest account (a theme must still look
   surprising without it), so one account spamming tickets cannot make a theme emerge.
4. A theme is flagged when p passes the Benjamini-Hochberg cut at false discovery rate
   ``alpha`` over all themes tested (threshold = -log10 of that cut, shown as evidence),
   at least ``min_accounts`` distinct accounts spoke in the recent window, and the window
   is at least ``min_lift`` times its expectation. Flagged themes are ranked by statistic.
   ``is_new``: no mention before the recent window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
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
class EmergingEvidence:
    """Why a theme was flagged: stored as JSON in theme_emerging.evidence (``as_dict``).

    Weighted figures are in score units; ``*_observed``/``*_expected`` of the accounts look
    in distinct accounts. ``evidence["lift"]`` reads a field like the stored JSON does.
    """

    method: str
    weighted_per_period: list[float]
    mentions_per_period: list[int]
    accounts_per_period: list[int]
    exposure_per_period: list[float]
    recent_periods: int
    baseline_periods: int
    guard_periods: int
    baseline_mentions: int
    baseline_mean: float
    baseline_var: float
    prior_mean: float
    prior_periods: float
    unit: float
    observed_without_top_account: float
    p_weighted: float
    p_accounts: float
    accounts_observed: float
    accounts_expected: float
    accounts_method: str
    top_account_share: float
    recent_accounts: int
    lift: float | None
    accounts_lift: float | None
    alpha: float
    multiple_testing: str
    themes_tested: int
    min_accounts: int
    min_lift: float
    # set by group_related: the flagged sub-themes folded into this entry
    related_themes: list[dict[str, Any]] | None = None

    def __getitem__(self, name: str) -> Any:
        if name not in self.__dataclass_fields__ or (
                name == "related_themes" and self.related_themes is None):
            raise KeyError(name)
        return getattr(self, name)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.related_themes is None:
            del out["related_themes"]
        return out


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
    evidence: EmergingEvidence


@dataclass(frozen=True)
class _Look:
    """One measure of one theme tested against the theme's own baseline (in that measure)."""

    p: float
    method: str
    expected: float
    robust: float  # observed without the loudest account
    observed: float
    baseline_mean: float
    baseline_var: float
    prior_mean: float
    prior_periods: float

    @property
    def lift(self) -> float | None:
        return self.observed / self.expected if self.expected > 0 else None


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


def _baseline(x: np.ndarray, e: np.ndarray, start: int, end: int) -> tuple[float, float, float]:
    """(exposure, rate per full period, variance per full period) over periods [start, end)."""
    base, expo = x[start:end], e[start:end]
    total = float(expo.sum())
    if total <= 0:
        return 0.0, 0.0, 0.0
    mu = float(base.sum()) / total
    full = base[expo >= 0.999]
    var = float(full.var(ddof=1)) if len(full) > 1 else mu
    return total, mu, var


@dataclass
class EmergingDetector:
    """Flag and rank the themes whose recent weighted demand beats their own baseline.

    Parameters (dataclass fields: stored unchanged, validated in ``fit``):
    ``recent_periods`` at the end of the series form the recent window; ``guard_periods``
    just before it are left out of the baseline, so the first weeks of a ramp-up do not count
    as the history the rest of it is compared with; ``alpha`` is the false discovery rate;
    ``min_accounts`` and ``min_lift`` the other bars a flagged theme must pass;
    ``prior_periods`` / ``prior_accounts`` the strength of the empirical-Bayes priors;
    ``unit`` fixes the contribution of one account (default: learned per theme).

    Learned state after ``fit(series)``: ``emerging_`` (the flagged themes, ranked, each
    with its EmergingEvidence), ``units_`` and ``p_values_`` (per theme, in input order),
    ``p_cut_`` / ``threshold_`` (the Benjamini-Hochberg cut and its -log10), ``baseline_``
    (the [start, end) period range of the baseline) and ``split_`` (first recent period).
    """

    recent_periods: int = 2
    min_accounts: int = 3
    alpha: float = 0.01
    min_lift: float = 1.5
    prior_periods: float = 2.0
    prior_accounts: float = 3.0
    unit: float | None = None
    guard_periods: int = 1

    def _validate(self) -> None:
        if self.recent_periods < 1:
            raise ValueError(f"recent_periods: expected >= 1, got {self.recent_periods!r}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha: expected 0 < alpha < 1, got {self.alpha!r}")
        if self.min_accounts < 1:
            raise ValueError(f"min_accounts: expected >= 1, got {self.min_accounts!r}")
        if self.guard_periods < 0:
            raise ValueError(f"guard_periods: expected >= 0, got {self.guard_periods!r}")

    def fit(
        self,
        series: Sequence[ThemeSeries],
        exposure: Sequence[float] | None = None,
        data_start: int | None = None,
    ) -> EmergingDetector:
        """``exposure``: observed share of each period (default: all 1). ``data_start``: index
        of the first period with any data (default: 0 when a theme was active before the
        first period, else the earliest ``first_index``)."""
        self._validate()
        self.emerging_: list[EmergingTheme] = []
        self.units_: list[float] = []
        self.p_values_: list[float] = []
        if not series:
            return self
        n_periods = len(series[0].weighted)
        if any(len(s.weighted) != n_periods for s in series):
            raise ValueError("series: every theme needs the same number of periods")
        if n_periods <= self.recent_periods:
            raise ValueError("series: need more periods than recent_periods")
        expo = np.ones(n_periods) if exposure is None else np.asarray(exposure, dtype=float)
        if expo.shape != (n_periods,) or (expo < 0).any() or (expo > 1).any():
            raise ValueError("exposure: expected one share in [0, 1] per period")
        split = n_periods - self.recent_periods
        base_end = max(split - self.guard_periods, 0)  # baseline: [start, base_end)
        if data_start is None:
            firsts = [s.first_index for s in series]
            data_start = 0 if any(f is None for f in firsts) else min(firsts)
        start = int(min(max(data_start, 0), base_end))
        self.split_, self.baseline_ = split, (start, base_end)

        self.units_ = self._units(series)
        xs = [np.asarray(s.weighted, dtype=float) / u
              for s, u in zip(series, self.units_, strict=True)]
        counts = [np.asarray(s.accounts, dtype=float) for s in series]
        # Two looks at each theme, each against its own history: the weighted demand (a few
        # heavy accounts) and the breadth, distinct accounts per period (many light ones: ten
        # SMB accounts weigh less than one enterprise account, yet ten customers is news).
        # Each leaves out the loudest account.
        robust_w = [float(x[split:].sum()) - (float(np.max(s.recent_account_weights)) / u
                                              if len(s.recent_account_weights) else 0.0)
                    for s, x, u in zip(series, xs, self.units_, strict=True)]
        robust_a = [float(c[split:].sum())
                    - float(min(self.recent_periods, c[split:].max(initial=0))) for c in counts]
        looks_w = self._look(xs, robust_w, expo)
        looks_a = self._look(counts, robust_a, expo)
        # Bonferroni over the two looks: a theme gets no extra chance from having two
        self.p_values_ = [min(1.0, 2 * min(lw.p, la.p))
                          for lw, la in zip(looks_w, looks_a, strict=True)]
        self.p_cut_ = benjamini_hochberg(self.p_values_, self.alpha)
        self.threshold_ = -math.log10(self.p_cut_)

        found = []
        for s, u, p, lw, la in zip(series, self.units_, self.p_values_, looks_w, looks_a,
                                   strict=True):
            n_acc = len(s.recent_account_weights)
            lifts = [look.lift for look in (lw, la) if look.lift is not None]
            if (p > self.p_cut_ or n_acc < self.min_accounts
                    or max(lifts, default=math.inf) < self.min_lift):
                continue
            found.append(self._flag(s, u, p, lw, la, expo, len(series)))
        found.sort(key=lambda e: (-e.statistic, -e.observed, e.theme_id))
        self.emerging_ = [replace(e, rank=i) for i, e in enumerate(found, start=1)]
        return self

    def _units(self, series: Sequence[ThemeSeries]) -> list[float]:
        """Each theme's contribution of one account (its baseline's, shrunk towards the
        typical theme's), or the fixed ``unit``."""
        if self.unit:
            return [self.unit] * len(series)
        # the typical theme's contribution per account (median, so a few enterprise-heavy
        # themes do not make every other account look small)
        per_theme = [
            float(np.sum(s.weighted)) / float(np.sum(s.accounts))
            for s in series
            if np.sum(s.accounts) > 0 and np.sum(s.weighted) > 0
        ]
        global_unit = float(np.median(per_theme)) if per_theme else 1.0
        start, end = self.baseline_
        return [(float(np.sum(s.weighted[start:end])) + self.prior_accounts * global_unit)
                / (float(np.sum(s.accounts[start:end])) + self.prior_accounts) for s in series]

    def _look(self, xs: Sequence[np.ndarray], robust: Sequence[float],
              expo: np.ndarray) -> list[_Look]:
        """One measure (a series per theme) tested against each theme's own baseline.

        Empirical-Bayes Gamma prior on the per-period rate from the themes with a real
        history (strength = mean / variance across themes, at most `prior_periods`), then
        the posterior predictive of the recent window, widened by the theme's own
        over-dispersion (shrunk towards the median theme's): a negative binomial upper tail.
        """
        start, base_end = self.baseline_
        stats = [_baseline(x, expo, start, base_end) for x in xs]
        established = [(mu, var) for e_b, mu, var in stats if e_b >= 3 and mu > 0]
        rates = np.array([mu for mu, _ in established]) if established else np.array([1.0])
        # a silent catalogue must not make one mention a surge
        m0 = max(float(np.mean(rates)), 0.5)
        v0 = float(np.var(rates)) if len(rates) > 1 else m0
        strength = min(self.prior_periods, m0 / max(v0, 1e-9))  # pseudo-periods
        # week-to-week swing of the median theme (variance / mean), at least Poisson's 1
        ratios = [v / m for m, v in established]
        d0 = max(float(np.median(ratios)) if ratios else 1.0, 1.0)
        recent_expo = float(expo[self.split_:].sum())
        out = []
        for x, rob, (e_b, mu_b, var_b) in zip(xs, robust, stats, strict=True):
            mu = (strength * m0 + e_b * mu_b) / (strength + e_b)
            disp = max((e_b * (var_b / mu_b if mu_b > 0 else 1.0) + self.prior_periods * d0)
                       / (e_b + self.prior_periods), 1.0)
            expected = recent_expo * mu
            # rate uncertainty (Gamma posterior) on top of the theme's own over-dispersion
            var = expected * disp + recent_expo**2 * mu / (strength + e_b)
            p, method = upper_tail(rob, expected, var)
            out.append(_Look(p=p, method=method, expected=expected, robust=rob,
                             observed=float(x[self.split_:].sum()), baseline_mean=mu_b,
                             baseline_var=var_b, prior_mean=m0, prior_periods=strength))
        return out

    def _flag(self, s: ThemeSeries, u: float, p: float, lw: _Look, la: _Look,
              expo: np.ndarray, n_themes: int) -> EmergingTheme:
        """The flagged theme (rank 0 until sorted) with its evidence; weighted figures back
        in score units."""
        split, (start, base_end) = self.split_, self.baseline_
        contrib = np.asarray(s.recent_account_weights, dtype=float) / u
        top_share = float(contrib.max() / contrib.sum()) if contrib.sum() > 0 else 0.0
        baseline_mentions = int(np.sum(s.mentions[:split]))
        n_acc = len(s.recent_account_weights)
        evidence = EmergingEvidence(
            method=lw.method,
            weighted_per_period=[round(float(v), 4) for v in s.weighted],
            mentions_per_period=[int(v) for v in s.mentions],
            accounts_per_period=[int(v) for v in s.accounts],
            exposure_per_period=[round(float(v), 4) for v in expo],
            recent_periods=self.recent_periods,
            baseline_periods=base_end - start,
            guard_periods=split - base_end,
            baseline_mentions=baseline_mentions,
            baseline_mean=lw.baseline_mean * u,
            baseline_var=lw.baseline_var * u * u,
            prior_mean=lw.prior_mean * u,
            prior_periods=round(lw.prior_periods, 4),
            unit=u,
            observed_without_top_account=lw.robust * u,
            p_weighted=lw.p,
            p_accounts=la.p,
            accounts_observed=la.observed,
            accounts_expected=round(la.expected, 4),
            accounts_method=la.method,
            top_account_share=round(top_share, 4),
            recent_accounts=n_acc,
            lift=lw.lift,
            accounts_lift=la.lift,
            alpha=self.alpha,
            multiple_testing="bonferroni over 2 looks, then benjamini_hochberg",
            themes_tested=n_themes,
            min_accounts=self.min_accounts,
            min_lift=self.min_lift,
        )
        return EmergingTheme(
            theme_id=s.theme_id,
            label=s.label,
            rank=0,
            is_new=baseline_mentions == 0,
            mentions=int(np.sum(s.mentions[split:])),
            accounts=n_acc,
            arr=float(s.recent_arr),
            pipeline=float(s.recent_pipeline),
            observed=lw.observed * u,
            expected=lw.expected * u,
            statistic=min(-math.log10(max(p, 1e-300)), _MAX_STAT),
            p_value=p,
            threshold=self.threshold_,
            evidence=evidence,
        )


def detect_emerging(
    series: Sequence[ThemeSeries],
    *,
    exposure: Sequence[float] | None = None,
    data_start: int | None = None,
    **params: Any,
) -> list[EmergingTheme]:
    """``EmergingDetector(**params).fit(series, exposure, data_start).emerging_`` in one call
    (``params``: EmergingDetector's, by name)."""
    detector = EmergingDetector(**params)
    return detector.fit(series, exposure=exposure, data_start=data_start).emerging_


def group_related(
    found: Sequence[EmergingTheme],
    centroids: dict[int, Sequence[float]],
    min_similarity: float = 0.7,
) -> list[EmergingTheme]:
    """Fold each flagged theme into a higher-ranked one whose centroid is at least
    `min_similarity` (cosine) away, and re-rank.

    Density clustering can cut one request into sub-themes ("Shopify: sync orders",
    "Shopify: tag customers by lifetime value"); when they surge together they are one
    piece of news, and six rows of it would push every other emerging theme off the top
    of the list. The kept entry lists the folded ones in ``evidence["related_themes"]``.
    Themes without a centroid are never folded.
    """
    kept: list[EmergingTheme] = []
    vectors: list[np.ndarray | None] = []
    related: list[list[dict[str, Any]]] = []
    for e in sorted(found, key=lambda e: e.rank):
        c = centroids.get(e.theme_id)
        v = None if c is None else np.asarray(c, dtype=float)
        if v is not None:
            v = v / max(float(np.linalg.norm(v)), 1e-12)
            sims = [float(v @ u) if u is not None else -1.0 for u in vectors]
            best = int(np.argmax(sims)) if sims else -1
            if best >= 0 and sims[best] >= min_similarity:
                related[best].append({"theme_id": e.theme_id, "label": e.label,
                                      "similarity": round(sims[best], 4),
                                      "statistic": e.statistic, "mentions": e.mentions,
                                      "accounts": e.accounts})
                continue
        kept.append(e)
        vectors.append(v)
        related.append([])
    return [replace(e, rank=i, evidence=replace(e.evidence, related_themes=rel))
            for i, (e, rel) in enumerate(zip(kept, related, strict=True), start=1)]
