"""Leaf clustering: Ward agglomeration with a chosen count (default), or HDBSCAN."""

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


class WardClusterer:
    """Ward agglomeration over (reduced) vectors, the number of clusters chosen by the
    silhouette of each cut -> `labels_` (-1 only for members of clusters too small to
    report; ThemeModel's outlier step re-attaches them when close to a theme).

    One theme per customer need wants the number of themes right: HDBSCAN's leaf selection
    cuts a need with many members into its wordings (the demo world's 25 needs came out
    as 171 leaves at 4,609 records), while Ward over UMAP's layout keeps each need's clump
    whole. Each candidate cut is scored by the median silhouette of its members, measured
    with cosine in the original embedding space when `fit` gets `embeddings` (else in X):
    in the layout the silhouette favours too few clusters (neighbouring needs touch there).

    The count must follow the needs whatever the number of requests per need. Each cut
    is scored by the median of its members' silhouettes (`statistic`), and the curve over
    the counts is smoothed (mean over the counts within a factor exp(`smooth_window`)
    either side): its raw highest point is often a narrow spike, and the mean silhouette
    follows the few items of a confused pair of needs. On CLINC150 (bench/bench_scales.py)
    the highest mean silhouette gave 0.97-1.06x the true intents on subsets of 60-80
    intents with 25-100 requests each, but 1.48x on the 150 closely packed intents of its
    test split; the smoothed median gives 0.98-1.05x and 1.34x, with a higher ARI on every
    scale. `tolerance` > 0 takes the smallest count whose smoothed score is within that
    share of the best (the "one standard error" rule): at 0.01, 1.24x on the test split,
    but 0.9-1.0x and a lower ARI on the subsets, and with few needs (6) two of them merged.

    `n_clusters` fixes the count instead. Candidates: `n_candidates` counts spaced
    geometrically from `min_clusters` to (items / `min_mean_size`). Clusters smaller than
    `min_cluster_size` (default: half of `auto_min_cluster_size`) become noise. Above
    `max_fit_samples` items the tree is built on an evenly spaced sample (Ward's memory is
    quadratic) and every other item joins its nearest sample item's cluster. The
    silhouette is computed on `silhouette_sample` items drawn with `random_state`, so the
    result is deterministic for a given input order. Learned: `labels_`, `n_clusters_`,
    `scores_` {count: median (`statistic`) silhouette},
    `smoothed_scores_` {count: smoothed score}.
    """

    def __init__(
        self,
        n_clusters: int | None = None,
        min_clusters: int = 5,
        min_mean_size: int = 10,
        min_cluster_size: int | None = None,
        n_candidates: int = 80,
        smooth_window: float = 0.3,
        tolerance: float = 0.0,
        statistic: str = "median",
        silhouette_sample: int = 3000,
        max_fit_samples: int = 10_000,
        random_state: int | None = 42,
    ) -> None:
        self.n_clusters = n_clusters
        self.min_clusters = min_clusters
        self.min_mean_size = min_mean_size
        self.min_cluster_size = min_cluster_size
        self.n_candidates = n_candidates
        self.smooth_window = smooth_window
        self.tolerance = tolerance
        self.statistic = statistic
        self.silhouette_sample = silhouette_sample
        self.max_fit_samples = max_fit_samples
        self.random_state = random_state

    def _validate(self) -> None:
        check_int("n_clusters", self.n_clusters, 1, allow_none=True)
        check_int("min_clusters", self.min_clusters, 1)
        check_int("min_mean_size", self.min_mean_size, 1)
        check_int("min_cluster_size", self.min_cluster_size, 1, allow_none=True)
        check_int("n_candidates", self.n_candidates, 1)
        check_float("smooth_window", self.smooth_window, 0.0, 10.0)
        check_float("tolerance", self.tolerance, 0.0, 1.0)
        check_choice("statistic", self.statistic, ("median", "mean"))
        check_int("silhouette_sample", self.silhouette_sample, 10)
        check_int("max_fit_samples", self.max_fit_samples, 10)

    def candidates(self, n: int) -> np.ndarray:
        """The counts whose cuts are scored for n items."""
        hi = max(2, min(n - 1, max(self.min_clusters, n // self.min_mean_size)))
        lo = max(2, min(self.min_clusters, hi))
        return np.unique(np.round(np.geomspace(lo, hi, self.n_candidates)).astype(np.int64))

    def fit(self, X: np.ndarray, embeddings: np.ndarray | None = None) -> WardClusterer:
        self._validate()
        from scipy.cluster.hierarchy import linkage

        X = as_matrix("X", X).astype(np.float64)
        n = X.shape[0]
        if embeddings is not None and as_matrix("embeddings", embeddings).shape[0] != n:
            raise ValueError(f"embeddings: expected {n} rows (one per row of X)")
        self.scores_: dict[int, float] = {}
        self.smoothed_scores_: dict[int, float] = {}
        if n < 3:
            self.labels_, self.n_clusters_ = np.full(n, -1, dtype=np.int64), 0
            return self
        idx = (np.arange(n) if n <= self.max_fit_samples else
               np.linspace(0, n - 1, self.max_fit_samples).round().astype(np.int64))
        S = X[idx]
        Z = linkage(S, method="ward")
        if self.n_clusters is not None:
            cut = _cut(Z, min(self.n_clusters, S.shape[0]))
        else:
            E = None if embeddings is None else np.asarray(embeddings, dtype=np.float32)[idx]
            cut = self._best_cut(S, E, Z)
        labels = self._spread(X, idx, S, cut)
        small = self.min_cluster_size or max(2, auto_min_cluster_size(n) // 2)
        ids, counts = np.unique(labels, return_counts=True)
        labels[np.isin(labels, ids[counts < small])] = -1
        self.n_clusters_ = int(np.unique(labels[labels >= 0]).size)
        self.labels_ = labels
        return self

    def _best_cut(self, S: np.ndarray, E: np.ndarray | None, Z: np.ndarray) -> np.ndarray:
        """The cut chosen on the smoothed silhouette curve (see the class docstring)."""
        from sklearn.metrics import silhouette_samples

        m = S.shape[0]
        rng = np.random.default_rng(self.random_state if self.random_state is not None else 0)
        rows = (np.arange(m) if m <= self.silhouette_sample
                else np.sort(rng.choice(m, self.silhouette_sample, replace=False)))
        if E is None:
            V = S[rows]
            D = np.sqrt(np.maximum(((V[:, None, :] - V[None, :, :]) ** 2).sum(axis=2), 0.0))
        else:
            V = E[rows] / np.maximum(np.linalg.norm(E[rows], axis=1, keepdims=True), 1e-12)
            D = np.clip(1.0 - V @ V.T, 0.0, None).astype(np.float64)
        np.fill_diagonal(D, 0.0)
        cuts: dict[int, np.ndarray] = {}
        for k in self.candidates(m):
            cut = _cut(Z, int(k))
            present = np.unique(cut[rows]).size
            if present < 2 or present >= rows.size:
                continue
            cuts[int(k)] = cut
            per_item = silhouette_samples(D, cut[rows], metric="precomputed")
            self.scores_[int(k)] = float(getattr(np, self.statistic)(per_item))
        if not cuts:
            return np.zeros(m, dtype=np.int64)
        self.smoothed_scores_ = smooth_curve(self.scores_, self.smooth_window)
        return cuts[parsimonious_count(self.smoothed_scores_, self.tolerance)]

    @staticmethod
    def _spread(X: np.ndarray, idx: np.ndarray, S: np.ndarray, cut: np.ndarray,
                chunk: int = 4096) -> np.ndarray:
        """Every item's cluster: its own for sampled items, its nearest sample item's else."""
        if idx.size == X.shape[0]:
            return cut.copy()
        out = np.empty(X.shape[0], dtype=np.int64)
        sq = (S ** 2).sum(axis=1)
        for a in range(0, X.shape[0], chunk):
            d = sq[None, :] - 2.0 * X[a : a + chunk] @ S.T
            out[a : a + chunk] = cut[d.argmin(axis=1)]
        out[idx] = cut
        return out


def _cut(Z: np.ndarray, k: int) -> np.ndarray:
    """Flat clusters 0..k-1 of a linkage tree cut into k."""
    from scipy.cluster.hierarchy import fcluster

    return fcluster(Z, t=k, criterion="maxclust").astype(np.int64) - 1


def smooth_curve(scores: dict[int, float], window: float) -> dict[int, float]:
    """Each count's score averaged with those of the counts within a factor exp(window)."""
    ks = np.array(sorted(scores))
    vals = np.array([scores[int(k)] for k in ks])
    logk = np.log(ks)
    return {int(k): float(vals[np.abs(logk - lk) <= window].mean())
            for k, lk in zip(ks, logk, strict=True)}


def parsimonious_count(scores: dict[int, float], tolerance: float) -> int:
    """The smallest count whose score is within `tolerance` (relative) of the best."""
    best = max(scores.values())
    return min(k for k, v in scores.items() if v >= best - tolerance * abs(best))
