"""Dimensionality reducers: `fit_transform(X)` then `transform(X)`; swappable."""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass

import numpy as np

from mining._validate import as_matrix, check_choice, check_float, check_int, row_keys


class IdentityReducer:
    """No reduction: cluster in the embedding space itself."""

    def fit(self, X: np.ndarray) -> IdentityReducer:
        self.n_features_in_ = as_matrix("X", X).shape[1]
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return as_matrix("X", X)

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).transform(X)


class PCAReducer:
    """Linear projection (fast, deterministic; weaker than UMAP for density clustering)."""

    def __init__(self, n_components: int = 50, random_state: int | None = 42) -> None:
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, X: np.ndarray) -> PCAReducer:
        from sklearn.decomposition import PCA

        check_int("n_components", self.n_components, 1)
        X = as_matrix("X", X)
        k = min(self.n_components, X.shape[1], max(1, X.shape[0] - 1))
        self.pca_ = PCA(n_components=k, random_state=self.random_state).fit(X)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return self.pca_.transform(as_matrix("X", X)).astype(np.float32)

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).transform(X)


# The numba-compiled umap-learn modules whose functions a fit calls.
_UMAP_NUMBA_MODULES = ("umap.umap_", "umap.layouts", "umap.utils", "umap.distances",
                       "umap.sparse", "umap.spectral")
_umap_cache_on = False


def enable_umap_numba_cache() -> None:
    """Turn on numba's on-disk cache for umap-learn's compiled functions (most lack
    `cache=True`), so only the first process on a machine compiles them: measured on
    clinc150 test (5,500 items, 2 cores) a fresh process spent ~30 s compiling before.
    The cache goes to `NUMBA_CACHE_DIR` (the CLI sets it to the data dir), else next to
    umap's sources, else numba's user-wide dir. Idempotent; functions numba cannot cache
    (numba says why in a warning) stay compiled per process."""
    global _umap_cache_on
    if _umap_cache_on:
        return
    import importlib

    from numba.core.dispatcher import Dispatcher
    from numba.core.errors import NumbaWarning

    warnings.filterwarnings("ignore", category=NumbaWarning, module="numba.core.caching")
    for name in _UMAP_NUMBA_MODULES:
        for obj in vars(importlib.import_module(name)).values():
            if isinstance(obj, Dispatcher) and type(obj._cache).__name__ == "NullCache":
                # RuntimeError: no writable cache location for this file
                with contextlib.suppress(RuntimeError):
                    obj.enable_caching()
    _umap_cache_on = True


def principal_axes(X: np.ndarray, r: int) -> np.ndarray:
    """(d, r) top principal axes of X from the d x d covariance (one small eigh), signs
    fixed (largest component positive) so the result is deterministic."""
    Xc = X - X.mean(axis=0)
    w, V = np.linalg.eigh((Xc.T @ Xc).astype(np.float64))
    V = V[:, np.argsort(w)[::-1][:r]]
    V *= np.where(V[np.abs(V).argmax(axis=0), np.arange(V.shape[1])] < 0, -1.0, 1.0)
    return np.ascontiguousarray(V.astype(np.float32))


def pca_init(X: np.ndarray, n_components: int, random_state: int | None) -> np.ndarray:
    """UMAP's "pca" initial layout without sklearn's overhead: X on its top principal
    axes, scaled to +-10 with tiny noise as umap-learn's `noisy_scale_coords` does."""
    V = principal_axes(X, n_components)
    Y = ((X - X.mean(axis=0)) @ V).astype(np.float32)
    Y *= 10.0 / max(float(np.abs(Y).max()), 1e-12)
    rng = np.random.default_rng(random_state)
    return Y + rng.normal(scale=1e-4, size=Y.shape).astype(np.float32)


@dataclass(frozen=True)
class Layout:
    """What a UMAPReducer leaves to reuse: the sample UMAP fitted, where it put it, and
    where the last call put every item (by `row_keys`, so known items are not placed again)."""

    sample_X: np.ndarray  # (m, d) float32, unit rows: the items UMAP fitted
    sample_Y: np.ndarray  # (m, c) float32: their positions
    item_keys: np.ndarray | None = None  # (n,) uint64, sorted: row_keys of the last items
    item_Y: np.ndarray | None = None  # (n, c) float32: their positions


class UMAPReducer:
    """UMAP to a few dimensions, where HDBSCAN's density estimates work well.

    Above `max_fit_samples` items UMAP is fitted on an evenly spaced sample and every
    other item is placed at the similarity-weighted mean of its `n_place` nearest sample
    items (cosine in the original space; searched in the `place_probe` nearest of ~sqrt(m)
    k-means cells of the sample, see `_place`).
    Measured on 2 cores at 100k items: a full fit takes > 3 min, fit(10k) + this placement
    a few seconds. The sample is taken from the
    (canonically ordered) input, so the result is deterministic.
    Up to `exact_knn_max` fitted items (cosine metric), the k-nearest-neighbour graph is
    exact (chunked matrix products) and handed to UMAP, instead of NN-descent.
    `n_epochs` defaults to UMAP's own rule applied to the items mined (500 up to 10k
    items, 200 above, though the fit sees at most `max_fit_samples`). Fewer are
    faster (the layout step is linear in epochs) at the same NMI on clinc150 test full (50,
    100, 200, 500 epochs: 0.821, 0.822, 0.821, 0.818), but the layout moves more between runs:
    with 100 or 200 only 87-89% of theme ids survived 10% more data
    (tests/test_mine_db.py wants 90%), with 500 they do. The initial layout is `pca_init`
    (same as UMAP's "pca", without sklearn's overhead). umap-learn's numba functions are
    cached on disk (`enable_umap_numba_cache`).

    `warm_start`: a previous fit's `layout_`. No UMAP runs then: every item is placed
    among the previous sample as above (the sample's items keep their exact positions), so
    a re-mine costs a placement instead of a fit, and unchanged items stay where they were.
    A new topic has no place of its own in an old layout (its items land among their
    nearest old ones), so the caller passes one only when the new items fit the existing
    themes (warehouse.mine checks). Items the layout has placed before (same vector, by
    `row_keys`) keep their position without a search. The layout is refused, and UMAP fits
    afresh, when less than `reuse_min_cover` of the items are known to it (without item
    positions: less than that share, up to the sample size, was in the fitted sample).
    `refitted_` says whether UMAP ran, `refit_reason_` why a layout was refused.
    """

    def __init__(
        self,
        n_components: int = 5,
        n_neighbors: int = 15,
        min_dist: float = 0.0,
        metric: str = "cosine",
        n_epochs: int | None = None,
        init: str = "pca",
        max_fit_samples: int | None = 10_000,
        n_place: int = 8,
        place_probe: int | None = 3,
        low_memory: bool = True,
        exact_knn_max: int | None = 10_000,
        random_state: int | None = 42,
        warm_start: Layout | None = None,
        reuse_min_cover: float = 0.8,
    ) -> None:
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.metric = metric
        self.n_epochs = n_epochs
        self.init = init
        self.max_fit_samples = max_fit_samples
        self.n_place = n_place
        self.place_probe = place_probe
        self.low_memory = low_memory
        self.exact_knn_max = exact_knn_max
        self.random_state = random_state
        self.warm_start = warm_start
        self.reuse_min_cover = reuse_min_cover

    def _validate(self) -> None:
        check_int("n_components", self.n_components, 1)
        check_int("n_neighbors", self.n_neighbors, 2)
        check_float("min_dist", self.min_dist, 0.0, 1.0)
        check_choice("metric", self.metric, ("cosine", "euclidean", "correlation"))
        check_int("n_epochs", self.n_epochs, 1, allow_none=True)
        check_choice("init", self.init, ("pca", "spectral", "random"))
        check_int("max_fit_samples", self.max_fit_samples, 100, allow_none=True)
        check_int("n_place", self.n_place, 1)
        check_int("place_probe", self.place_probe, 1, allow_none=True)
        check_int("exact_knn_max", self.exact_knn_max, 1, allow_none=True)
        check_float("reuse_min_cover", self.reuse_min_cover, 0.0, 1.0)

    def _epochs(self, n: int) -> int:
        """UMAP's own rule (500 epochs up to 10k items, 200 above) applied to the n items
        mined, not to the sample fitted: a 100k re-mine fits 10k items for 200 epochs,
        as UMAP would fit all 100k."""
        if self.n_epochs is not None:
            return self.n_epochs
        return 500 if n <= 10_000 else 200

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        self._validate()
        X = as_matrix("X", X)
        self.refitted_, self.refit_reason_ = True, None
        if self.warm_start is not None:
            reused = self._reuse(X, self.warm_start)
            if reused is not None:
                self.refitted_ = False
                return reused
        return self._fit_new(X)

    def _reuse(self, X: np.ndarray, layout: Layout) -> np.ndarray | None:
        """X placed in `layout`, or None (with `refit_reason_`) when it no longer fits."""
        if layout.sample_X.shape[1] != X.shape[1] or (
                layout.sample_Y.shape[1] != min(self.n_components,
                                                max(1, layout.sample_X.shape[0] - 2))):
            self.refit_reason_ = "the layout has other dimensions"
            return None
        self._set_layout(layout)
        n, m = X.shape[0], layout.sample_X.shape[0]
        keys = row_keys(X)
        out = np.empty((n, layout.sample_Y.shape[1]), dtype=np.float32)
        known = np.zeros(n, dtype=bool)
        if layout.item_keys is not None and layout.item_keys.size:
            at = np.minimum(np.searchsorted(layout.item_keys, keys), layout.item_keys.size - 1)
            known = layout.item_keys[at] == keys
            out[known] = layout.item_Y[at[known]]
        todo = np.flatnonzero(~known)
        k = min(self.n_place, m - 1)
        nn, sim = (_exact_top_k(X[todo], self.sample_X_, k) if self.place_probe is None
                   else self._probe_top_k(X[todo], k, 4096))
        in_sample = sim.max(axis=1) >= 1.0 - 1e-5
        covered = int(known.sum() + in_sample.sum())
        # without item positions only the sample can be recognised: at most m of n items
        if covered < self.reuse_min_cover * (n if layout.item_keys is not None else min(n, m)):
            self.refit_reason_ = f"{n - covered} of {n} items are new to the layout"
            return None
        out[todo] = self._weighted(nn, sim)
        at = nn[np.arange(todo.size), sim.argmax(axis=1)]
        out[todo[in_sample]] = self.sample_Y_[at[in_sample]]  # the sample keeps its place
        self._remember(keys, out)
        return out

    def _remember(self, keys: np.ndarray, Y: np.ndarray) -> None:
        order = np.argsort(keys, kind="stable")
        self.item_keys_, self.item_Y_ = keys[order], Y[order]

    def _set_layout(self, layout: Layout) -> None:
        self.sample_X_, self.sample_Y_ = layout.sample_X, layout.sample_Y
        self.item_keys_ = self.item_Y_ = None
        self.cell_centroids_ = self.sample_cell_ = None

    @property
    def layout_(self) -> Layout:
        """The reusable state of the last fit (pass it as `warm_start` next time)."""
        return Layout(self.sample_X_, self.sample_Y_, getattr(self, "item_keys_", None),
                      getattr(self, "item_Y_", None))

    def _fit_new(self, X: np.ndarray) -> np.ndarray:
        enable_umap_numba_cache()  # before umap's first call in this process compiles
        import umap

        n = X.shape[0]
        if self.max_fit_samples is None or n <= self.max_fit_samples:
            idx = np.arange(n)
        else:
            idx = np.linspace(0, n - 1, self.max_fit_samples).round().astype(np.int64)
        self.sample_index_ = idx
        self.sample_X_ = X[idx]
        m, d = self.sample_X_.shape
        n_neighbors = max(2, min(self.n_neighbors, m - 1))
        n_components = min(self.n_components, max(1, m - 2))
        self.cell_centroids_ = self.sample_cell_ = None
        # "pca": deterministic, same quality as spectral on clinc150 test (NMI 0.817 vs
        # 0.816), faster, and no eigensolver to stall on a graph of many small groups.
        init = (pca_init(self.sample_X_, n_components, self.random_state)
                if self.init == "pca" and n_components < d else self.init)
        self.umap_ = umap.UMAP(
            n_components=n_components,
            n_neighbors=n_neighbors,
            min_dist=self.min_dist,
            metric=self.metric,
            n_epochs=self._epochs(n),
            init=init,
            low_memory=self.low_memory,
            random_state=self.random_state,
            # A fixed random_state makes UMAP single-threaded anyway; say so to silence it.
            n_jobs=1 if self.random_state is not None else -1,
        )
        if self.metric == "cosine" and self.exact_knn_max is not None and m <= self.exact_knn_max:
            # Exact neighbours by matrix products instead of UMAP's NN-descent: measured in
            # a fresh process on the 10k sample of the 100k bench set, 19 s instead of 61 s
            # (NN-descent's numba compile alone is ~40 s), and exact, hence deterministic.
            # Below 4,096 items too (UMAP's own small-data path is exact as well, but its
            # other numba functions were a second set to compile: clinc150 val, 3,100).
            self.umap_.precomputed_knn = _exact_cosine_knn(self.sample_X_, n_neighbors)
            self.umap_.force_approximation_algorithm = True  # i.e. use the given graph
        with warnings.catch_warnings():
            # "precomputed_knn[2] is not an NNDescent object": we place new items ourselves
            warnings.filterwarnings("ignore", message="precomputed_knn", category=UserWarning)
            self.sample_Y_ = self.umap_.fit_transform(self.sample_X_).astype(np.float32)
        if m == n:
            out = self.sample_Y_.copy()
        else:
            out = self._place(X)
            out[idx] = self.sample_Y_
        self._remember(row_keys(X), out)
        return out

    def _place(self, X: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """Each row at the similarity-weighted mean of its `n_place` nearest sample items'
        layout positions (cosine in the original space).

        With `place_probe`, the search is an inverted file: the sample is cut in ~sqrt(m)
        cells (spherical k-means), and each row is compared with the members of its
        `place_probe` nearest cells only, ~30x fewer multiply-adds than all m sample items
        at m = 10k. At 100k items this took the placement from ~23 s CPU (a full top-k
        over the sample per row) to a few seconds; `place_probe=None` searches exactly.
        """
        S = self.sample_X_
        k = min(self.n_place, S.shape[0] - 1)
        if self.place_probe is None:
            nn, sim = _exact_top_k(X, S, k, chunk)
        else:
            nn, sim = self._probe_top_k(X, k, chunk)
        return self._weighted(nn, sim, chunk)

    def _weighted(self, nn: np.ndarray, sim: np.ndarray, chunk: int = 4096) -> np.ndarray:
        Y = self.sample_Y_
        out = np.empty((nn.shape[0], Y.shape[1]), dtype=np.float32)
        for a in range(0, nn.shape[0], chunk):
            # Sharp weights: the closest neighbours dominate, far ones barely count.
            w = np.maximum(sim[a : a + chunk], 0.0) ** 4 + 1e-6
            out[a : a + chunk] = ((Y[nn[a : a + chunk]] * w[..., None]).sum(axis=1)
                                  / w.sum(axis=1)[:, None])
        return out

    def _cells(self) -> tuple[np.ndarray, np.ndarray]:
        """Spherical k-means cells over the sample (deterministic: evenly spaced seeds, a
        fixed number of rounds): (centroids, cell of each sample item)."""
        if self.cell_centroids_ is None:
            S = self.sample_X_
            n_cells = max(1, round(np.sqrt(S.shape[0])))
            C = S[np.linspace(0, S.shape[0] - 1, n_cells).round().astype(np.int64)].copy()
            for _ in range(5):
                cell = (S @ C.T).argmax(axis=1)
                sums = np.zeros_like(C)
                np.add.at(sums, cell, S)
                filled = np.bincount(cell, minlength=n_cells) > 0
                C[filled] = sums[filled] / np.maximum(
                    np.linalg.norm(sums[filled], axis=1, keepdims=True), 1e-12)
            self.cell_centroids_, self.sample_cell_ = C, (S @ C.T).argmax(axis=1)
        return self.cell_centroids_, self.sample_cell_

    def _probe_top_k(self, X: np.ndarray, k: int, chunk: int) -> tuple[np.ndarray, np.ndarray]:
        S = self.sample_X_
        C, cell_of = self._cells()
        n_probe = min(self.place_probe, C.shape[0])
        probe = np.empty((X.shape[0], n_probe), dtype=np.int64)
        for a in range(0, X.shape[0], chunk):
            sims = X[a : a + chunk] @ C.T
            probe[a : a + chunk] = np.argsort(-sims, axis=1, kind="stable")[:, :n_probe]
        members = [np.flatnonzero(cell_of == c) for c in range(C.shape[0])]
        cand_idx = np.zeros((X.shape[0], n_probe * k), dtype=np.int64)
        cand_sim = np.full((X.shape[0], n_probe * k), -np.inf, dtype=np.float32)
        for p in range(n_probe):
            order = np.argsort(probe[:, p], kind="stable")
            bounds = np.searchsorted(probe[order, p], np.arange(C.shape[0] + 1))
            for c, mem in enumerate(members):
                kk = min(k, mem.size)
                for lo in range(bounds[c], bounds[c + 1], chunk):
                    rows = order[lo : min(lo + chunk, bounds[c + 1])]
                    sim = X[rows] @ S[mem].T
                    top = (np.argpartition(-sim, kk - 1, axis=1)[:, :kk] if mem.size > kk
                           else np.broadcast_to(np.arange(kk), (rows.size, kk)))
                    cand_idx[rows, p * k : p * k + kk] = mem[top]
                    cand_sim[rows, p * k : p * k + kk] = np.take_along_axis(sim, top, axis=1)
        best = np.argsort(-cand_sim, axis=1, kind="stable")[:, :k]
        return (np.take_along_axis(cand_idx, best, axis=1),
                np.maximum(np.take_along_axis(cand_sim, best, axis=1), -1.0))

    def fit(self, X: np.ndarray) -> UMAPReducer:
        self.fit_transform(X)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """New items placed among the fitted ones (UMAP's own transform needs the NN-descent
        index that an exact-kNN fit does not build)."""
        return self._place(as_matrix("X", X))


def _exact_top_k(X: np.ndarray, S: np.ndarray, k: int, chunk: int = 2048):
    """(indices, similarities) of each row's k most similar rows of S (dot products)."""
    nn = np.empty((X.shape[0], k), dtype=np.int64)
    sim = np.empty((X.shape[0], k), dtype=np.float32)
    for a in range(0, X.shape[0], chunk):
        full = X[a : a + chunk] @ S.T
        top = np.argpartition(-full, k, axis=1)[:, :k]
        nn[a : a + chunk] = top
        sim[a : a + chunk] = np.take_along_axis(full, top, axis=1)
    return nn, sim


def _exact_cosine_knn(X: np.ndarray, k: int, chunk: int = 2048):
    """(indices, cosine distances, None) of the k nearest rows, self first: UMAP's
    `precomputed_knn`."""
    Xn = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    n = Xn.shape[0]
    ind = np.empty((n, k), dtype=np.int64)
    dist = np.empty((n, k), dtype=np.float32)
    for a in range(0, n, chunk):
        sim = Xn[a : a + chunk] @ Xn.T
        rows = np.arange(sim.shape[0])
        sim[rows, a + rows] = 2.0  # self first, even among exact duplicates
        part = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        vals = np.take_along_axis(sim, part, axis=1)
        order = np.lexsort((part, -vals), axis=1)  # by similarity, ties by index
        ind[a : a + chunk] = np.take_along_axis(part, order, axis=1)
        dist[a : a + chunk] = np.clip(1.0 - np.take_along_axis(vals, order, axis=1), 0.0, 2.0)
    return ind, dist, None
