"""Density clustering with HDBSCAN; parameters scale with the number of items."""

from __future__ import annotations

import numpy as np

from mining._validate import as_matrix, check_choice, check_float, check_int


def auto_min_cluster_size(n: int) -> int:
    """Smallest theme worth reporting, growing slowly with n.

    Measured on clinc150 (30 items per intent in test): a fixed small size finds fine
    themes at a few thousand items; at 100k a linear rule would swallow real themes, so
    it grows with sqrt(n).
    """
    return int(max(5, min(500, round(0.16 * np.sqrt(max(n, 1))))))


class HDBSCANClusterer:
    """HDBSCAN over (reduced) vectors -> `labels_` (-1 = noise), `probabilities_`."""

    def __init__(
        self,
        min_cluster_size: int | None = None,
        min_samples: int | None = None,
        cluster_selection_method: str = "leaf",
        cluster_selection_epsilon: float = 0.0,
        metric: str = "euclidean",
        core_dist_n_jobs: int = 2,
        random_state: int | None = 42,
    ) -> None:
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.cluster_selection_method = cluster_selection_method
        self.cluster_selection_epsilon = cluster_selection_epsilon
        self.metric = metric
        self.core_dist_n_jobs = core_dist_n_jobs
        self.random_state = random_state  # HDBSCAN is deterministic; kept for the contract

    def _validate(self) -> None:
        check_int("min_cluster_size", self.min_cluster_size, 2, allow_none=True)
        check_int("min_samples", self.min_samples, 1, allow_none=True)
        check_choice("cluster_selection_method", self.cluster_selection_method, ("leaf", "eom"))
        check_float("cluster_selection_epsilon", self.cluster_selection_epsilon, 0.0, 1e6)
        check_int("core_dist_n_jobs", self.core_dist_n_jobs, -1)

    def fit(self, X: np.ndarray) -> HDBSCANClusterer:
        self._validate()
        import hdbscan

        X = as_matrix("X", X).astype(np.float64)
        n = X.shape[0]
        mcs = self.min_cluster_size or auto_min_cluster_size(n)
        self.min_cluster_size_ = int(min(mcs, max(2, n)))
        self.min_samples_ = int(self.min_samples or max(1, min(self.min_cluster_size_, 10)))
        if n < max(3, self.min_cluster_size_):
            self.labels_ = np.full(n, -1, dtype=np.int64)
            self.probabilities_ = np.zeros(n, dtype=np.float32)
            return self
        model = hdbscan.HDBSCAN(
            min_cluster_size=self.min_cluster_size_,
            min_samples=self.min_samples_,
            cluster_selection_method=self.cluster_selection_method,
            cluster_selection_epsilon=float(self.cluster_selection_epsilon),
            metric=self.metric,
            core_dist_n_jobs=self.core_dist_n_jobs,
        ).fit(X)
        self.labels_ = model.labels_.astype(np.int64)
        self.probabilities_ = model.probabilities_.astype(np.float32)
        return self

    def fit_predict(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).labels_
