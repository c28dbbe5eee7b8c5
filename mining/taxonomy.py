"""Seeded themes: which items belong to a seed of the PM's taxonomy, and which to none.

A seed is a name and a few example requests. Nearest example alone is a weak guide (three
examples cannot cover the ways a need is phrased) and it swallows every need no seed covers,
so `SeedAssigner` uses the structure of the data as well:

1. *Anchors*: each seed's name and examples, averaged into one unit vector.
2. *Claims*: each cluster of the data (e.g. a leaf of the model) is claimed by the seed whose
   anchor its centroid is closest to, when that cosine reaches the bar. The bar is calibrated
   from the seeds themselves: a need looks about as much like another need's anchor as the
   seeds' anchors look like their nearest other seed's, so the `claim_quantile` of those
   nearest-seed cosines is what an unseeded cluster must not reach. Each seed then moves
   that bar by how closely its own examples agree (an acceptance radius per seed): each
   example is left out of the anchor in turn and its cosine to the rest (name included)
   measured; a seed whose examples agree more than the seeds' average is a narrow need and
   its bar rises (`radius_weight` times the difference), a broad one's falls. A seed
   claims more than one cluster only when they say the same thing (centroids at
   `same_need` or more alike: a need the clustering cut in two) or when one of its examples
   is nearest that cluster (a phrasing the PM gave), so a nearby need of its own stays out.
3. *Competition*: clusters no seed claims stay as free prototypes; every item goes to the
   nearest of the seeds' centroids and the free prototypes, so a cluster that mixes a seeded
   need with another gives each its own items.
4. *Self-training*: the seeds' centroids (used in the competition, never for the claims)
   move to the mean of the items they won (anchored by `example_weight` times the anchor),
   free prototypes to the mean of theirs, and claims and competition run again, `n_iter`
   times.
Items in no cluster follow the same competition but need the bar to join a seed.
"""

from __future__ import annotations

import numpy as np

from mining._validate import as_matrix, check_float, check_int, l2_normalize

DEFAULT_BAR = 0.5  # with a single seed there is no other seed to calibrate against
_CHUNK = 8192


def _group_sums(X: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Row g = sum of the rows of X in group g (groups outside 0..n_groups-1 are left out);
    a sparse product, as np.add.at is slow on 100k x 384."""
    from scipy.sparse import csr_matrix

    keep = np.flatnonzero((groups >= 0) & (groups < n_groups))
    M = csr_matrix((np.ones(keep.size, np.float32), (groups[keep], keep)),
                   shape=(n_groups, X.shape[0]))
    return np.asarray(M @ X, dtype=np.float32)


class SeedAssigner:
    """Assign items to seeds, or to none, from seed names, examples and the data's clusters.

    Parameters: `name_weight` (the name beside the examples in a seed's anchor: 1 = as much
    as all its examples together), `claim_quantile` (the calibrated bar, module doc),
    `same_need` (cosine of two clusters one seed may both claim), `example_weight` (the
    anchor's weight, as a count of items, in a self-trained centroid), `n_iter` (rounds),
    `radius_weight` (how far each seed's bar follows the agreement of its own examples;
    0 = one bar for all seeds).

    Learned: `seed_of_` (seed index per item, -1 = no seed), `score_` (cosine to the
    assigned seed's centroid, else to the nearest one), `threshold_` (the common bar),
    `seed_threshold_` (k: each seed's bar for claiming a cluster),
    `centroids_` (k, d: the seeds' self-trained centroids), `anchors_` (k, d),
    `cluster_seed_` ({cluster label: seed} for the clusters claimed).
    """

    def __init__(self, name_weight: float = 1.0, claim_quantile: float = 0.65,
                 same_need: float = 0.85, example_weight: float = 3.0, n_iter: int = 4,
                 radius_weight: float = 1.0) -> None:
        self.name_weight = name_weight
        self.claim_quantile = claim_quantile
        self.same_need = same_need
        self.example_weight = example_weight
        self.n_iter = n_iter
        self.radius_weight = radius_weight

    def _validate(self) -> None:
        check_float("name_weight", self.name_weight, 0.0, 100.0)
        check_float("claim_quantile", self.claim_quantile, 0.0, 1.0)
        check_float("same_need", self.same_need, -1.0, 1.0)
        check_float("example_weight", self.example_weight, 0.0, 1e6)
        check_int("n_iter", self.n_iter, 1)
        check_float("radius_weight", self.radius_weight, 0.0, 100.0)

    def fit(self, embeddings: np.ndarray, seed_example_embeddings: np.ndarray,
            seed_of_example: np.ndarray, seed_name_embeddings: np.ndarray | None = None,
            cluster_labels: np.ndarray | None = None) -> SeedAssigner:
        """Learn `seed_of_` for the n `embeddings`; `seed_of_example[i]` is the seed
        (0..k-1) of example i, row j of `seed_name_embeddings` embeds seed j's name, and
        `cluster_labels` (-1 = none) is the data's own clustering."""
        self._validate()
        X = l2_normalize(as_matrix("embeddings", embeddings))
        n = X.shape[0]
        E = np.asarray(seed_example_embeddings, dtype=np.float32).reshape(-1, X.shape[1])
        E = l2_normalize(as_matrix("seed_example_embeddings", E))
        seed_of = np.asarray(seed_of_example, dtype=np.int64)
        if seed_of.shape != (E.shape[0],) or (seed_of.size and seed_of.min() < 0):
            raise ValueError("seed_of_example: expected one seed index (>= 0) per example")
        names = None if seed_name_embeddings is None else l2_normalize(
            as_matrix("seed_name_embeddings", seed_name_embeddings))
        k = max(int(seed_of.max()) + 1 if seed_of.size else 0,
                0 if names is None else names.shape[0])
        labels = (np.full(n, -1, np.int64) if cluster_labels is None
                  else np.asarray(cluster_labels, dtype=np.int64))
        if labels.shape != (n,):
            raise ValueError("cluster_labels: expected one label per embedding")
        self.cluster_seed_: dict[int, int] = {}
        if k == 0 or n == 0:
            self.seed_of_ = np.full(n, -1, np.int64)
            self.score_ = np.zeros(n, np.float32)
            self.threshold_ = DEFAULT_BAR
            self.seed_threshold_ = np.zeros(0, np.float32)
            self.anchors_ = self.centroids_ = np.zeros((0, X.shape[1]), np.float32)
            return self
        self.anchors_ = self._anchors(E, seed_of, names, k)
        self._examples, self._seed_of_example = E, seed_of
        ids = np.unique(labels[labels >= 0])
        F = self._cluster_means(X, labels, ids)
        C = self.anchors_
        self.threshold_ = self._bar(self.anchors_)
        self.seed_threshold_ = (self.threshold_ + self.radius_weight
                                * self._agreement(E, seed_of, names, k)).astype(np.float32)
        for _ in range(self.n_iter):
            # claims are judged against the PM's own words, which self-training cannot drift
            claimed = self._claims(F, self.anchors_)
            free = np.flatnonzero(claimed < 0)
            won, score = self._compete(X, C, F[free], labels)
            C = self._retrain(X, won, k)
            moved = _group_sums(X, won - k, free.size)  # a free prototype follows its items
            has = np.linalg.norm(moved, axis=1) > 0
            F[free[has]] = l2_normalize(moved[has])
        self.centroids_ = C
        self.cluster_seed_ = {int(ids[i]): int(s) for i, s in enumerate(claimed) if s >= 0}
        self.seed_of_ = np.where(won < k, won, -1)
        self.score_ = score
        return self

    def _anchors(self, E: np.ndarray, seed_of: np.ndarray, names: np.ndarray | None,
                 k: int) -> np.ndarray:
        A = np.zeros((k, E.shape[1]), np.float32)
        np.add.at(A, seed_of, E)
        A = l2_normalize(A) if E.shape[0] else A
        if names is not None:
            A[: names.shape[0]] += self.name_weight * names
        return l2_normalize(A)

    @staticmethod
    def _cluster_means(X: np.ndarray, labels: np.ndarray, ids: np.ndarray) -> np.ndarray:
        index = np.where(labels >= 0, np.searchsorted(ids, labels), -1)
        F = _group_sums(X, index, ids.size)
        return l2_normalize(F) if ids.size else F

    def _agreement(self, E: np.ndarray, seed_of: np.ndarray, names: np.ndarray | None,
                   k: int) -> np.ndarray:
        """Per seed, the mean cosine of each example to the anchor built without it, minus
        the mean over the seeds (0 for a seed with a single example: nothing to leave out)."""
        counts = np.bincount(seed_of, minlength=k)
        rest = np.zeros((k, E.shape[1]), np.float32)
        np.add.at(rest, seed_of, E)
        rest = l2_normalize(rest[seed_of] - E)
        if names is not None:
            has = seed_of < names.shape[0]
            rest[has] += self.name_weight * names[seed_of[has]]
        held_out = (l2_normalize(rest) * E).sum(axis=1)
        shared = counts[seed_of] >= 2
        if not shared.any():
            return np.zeros(k, np.float32)
        per_seed = np.zeros(k, np.float32)
        np.add.at(per_seed, seed_of[shared], held_out[shared])
        many = counts >= 2
        per_seed[many] /= counts[many]
        return np.where(many, per_seed - per_seed[many].mean(), 0.0).astype(np.float32)

    def _bar(self, C: np.ndarray) -> float:
        """The `claim_quantile` of each seed's cosine to its nearest other seed."""
        if C.shape[0] < 2:
            return DEFAULT_BAR
        S = C @ C.T
        np.fill_diagonal(S, -1.0)
        return float(np.quantile(S.max(axis=1), self.claim_quantile))

    def _claims(self, F: np.ndarray, C: np.ndarray) -> np.ndarray:
        """Seed per cluster (-1 = free): the nearest seed when past the bar, and for a seed
        with several, only those alike its best one (the others are needs of their own)."""
        if F.shape[0] == 0:
            return np.zeros(0, np.int64)
        S = F @ C.T
        top, best = S.argmax(axis=1), S.max(axis=1)
        claimed = np.where(best >= self.seed_threshold_[top], top, -1)
        # the cluster nearest each example: a phrasing the PM gave, wherever it landed
        near = self._examples @ F.T
        close = near.max(axis=1) >= self.threshold_
        shown = set(zip(self._seed_of_example[close].tolist(),
                        near[close].argmax(axis=1).tolist(), strict=True))
        for s in np.unique(claimed[claimed >= 0]).tolist():
            mine = np.flatnonzero(claimed == s)
            lead = mine[best[mine].argmax()]
            apart = (F[mine] @ F[lead] < self.same_need) & np.array(
                [(s, int(i)) not in shown for i in mine])
            claimed[mine[apart]] = -1
        return claimed

    def _compete(self, X: np.ndarray, C: np.ndarray, free: np.ndarray, labels: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Per item, the index of the nearest prototype (seeds 0..k-1, then the free
        clusters) and its cosine to the nearest seed. An item in no cluster joins a seed only
        past the bar."""
        k = C.shape[0]
        P = np.vstack([C, free]) if free.size else C
        won = np.empty(X.shape[0], np.int64)
        score = np.empty(X.shape[0], np.float32)
        for start in range(0, X.shape[0], _CHUNK):
            S = X[start:start + _CHUNK] @ P.T
            won[start:start + len(S)] = S.argmax(axis=1)
            score[start:start + len(S)] = S[:, :k].max(axis=1)
        loose = (labels < 0) & (won < k) & (score < self.threshold_)
        won[loose] = k + free.shape[0]  # no prototype: no seed
        return won, score

    def _retrain(self, X: np.ndarray, won: np.ndarray, k: int) -> np.ndarray:
        return l2_normalize(_group_sums(X, won, k) + self.example_weight * self.anchors_)
