"""Which themes are over-represented in lost deals? Fisher's exact test per theme, BH across them.

For each theme, the closed deals of a window split four ways::

                 lost            won
    theme        lost_i          won_i
    the rest     L - lost_i      W - won_i      (L, W: all lost / won deals of the window)

A one-sided Fisher's exact test asks whether the theme's deals are lost more often than the
other deals. Themes with fewer than ``min_deals`` closed deals are ``small_sample``: reported,
never tested, so never ranked or flagged. The Benjamini-Hochberg procedure controls the false
discovery rate across the tested themes; a theme is over-represented when its q-value is at most
``fdr`` (and its loss rate is above the rest's, which the one-sided test implies).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import false_discovery_control, fisher_exact

from mining._validate import check_float, check_int


class LossOverRepresentation:
    """Fisher's exact test per theme against the rest, with false-discovery control.

    fit(won, lost, total_won, total_lost): per-theme won/lost counts (arrays, one entry per
    theme) and the window's totals. Learned: ``loss_rate_``, ``expected_loss_rate_``,
    ``p_values_`` and ``q_values_`` (NaN where not tested), ``small_sample_``,
    ``over_represented_``, and ``ranking_`` (tested theme indices, most significant first).
    """

    def __init__(self, min_deals: int = 8, fdr: float = 0.1) -> None:
        self.min_deals = min_deals
        self.fdr = fdr

    def fit(self, won: np.ndarray, lost: np.ndarray, total_won: int, total_lost: int
            ) -> LossOverRepresentation:
        check_int("min_deals", self.min_deals, 1)
        check_float("fdr", self.fdr, 0.0, 1.0)
        won = np.asarray(won, dtype=np.int64)
        lost = np.asarray(lost, dtype=np.int64)
        if won.shape != lost.shape or won.ndim != 1:
            raise ValueError("won and lost must be 1-d arrays of the same length")
        if (won < 0).any() or (lost < 0).any() or (won > total_won).any() \
                or (lost > total_lost).any():
            raise ValueError("per-theme counts must be between 0 and the window's totals")
        closed = won + lost
        rest_won, rest_lost = total_won - won, total_lost - lost
        with np.errstate(invalid="ignore", divide="ignore"):
            self.loss_rate_ = np.where(closed > 0, lost / np.maximum(closed, 1), np.nan)
            rest = rest_won + rest_lost
            self.expected_loss_rate_ = np.where(rest > 0, rest_lost / np.maximum(rest, 1), np.nan)
        self.small_sample_ = closed < self.min_deals
        self.p_values_ = np.full(len(won), np.nan)
        for i in np.flatnonzero(~self.small_sample_):
            table = [[lost[i], won[i]], [rest_lost[i], rest_won[i]]]
            self.p_values_[i] = fisher_exact(table, alternative="greater").pvalue
        self.q_values_ = np.full(len(won), np.nan)
        tested = np.flatnonzero(~self.small_sample_)
        if len(tested):
            self.q_values_[tested] = false_discovery_control(self.p_values_[tested], method="bh")
        self.over_represented_ = (~self.small_sample_) & (self.q_values_ <= self.fdr) & (
            self.loss_rate_ > self.expected_loss_rate_)
        self.ranking_ = tested[np.argsort(self.p_values_[tested], kind="stable")]
        return self
