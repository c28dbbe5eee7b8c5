"""Two levels of themes: merge leaves that say the same thing, group leaves under parents.

A leaf clusterer can cut one need worded two ways ("cancel my card" / "my card was stolen,
block it") into two leaves (HDBSCAN's leaf selection often does). `SimilarLeafMerger`
joins such leaves (centroid cosine, helped by shared distinctive words), and
`AgglomerativeGrouper` builds the parent level a PM navigates (10-40 need families, the
count chosen by silhouette). Both agglomerate leaf centroids (average linkage, Ward),
so no long chains form."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mining._validate import as_matrix, check_choice, check_float, check_int, l2_normalize
from mining.outliers import compute_centroids


def _average_linkage(distance: np.ndarray, threshold: float | None, n_clusters: int | None
                     ) -> np.ndarray:
    """Flat groups of an average-linkage tree over a precomputed distance matrix."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    n = distance.shape[0]
    if n < 2:
        return np.zeros(n, dtype=np.int64)
    D = np.clip((distance + distance.T) / 2, 0.0, None)
    np.fill_diagonal(D, 0.0)
    Z = linkage(squareform(D, checks=False), method="average")
    if n_clusters is not None:
        flat = fcluster(Z, t=min(n_clusters, n), criterion="maxclust")
    else:
        flat = fcluster(Z, t=threshold, criterion="distance")
    return flat.astype(np.int64) - 1


def keyword_overlap(texts: Sequence[str], labels: np.ndarray, ids: np.ndarray,
                    top_n: int = 10) -> np.ndarray:
    """(k, k) share of distinctive words two clusters have in common: |A ∩ B| / top_n over
    their top c-TF-IDF unigrams (the class-based TF-IDF of BERTopic, stop words out)."""
    from sklearn.feature_extraction.text import CountVectorizer

    from mining.label import count_rows, ctfidf_matrix, strip_placeholders

    k = ids.size
    try:
        counts = count_rows(CountVectorizer(stop_words="english"),
                            [strip_placeholders(t) for t in texts])
    except ValueError:  # empty vocabulary
        return np.zeros((k, k))
    weights = ctfidf_matrix(counts, labels, ids)
    top = np.zeros((k, counts.shape[1]), dtype=np.float64)
    for pos in range(k):
        row = weights.getrow(pos)
        order = np.lexsort((row.indices, -row.data))[:top_n]
        top[pos, row.indices[order]] = 1.0
    return (top @ top.T) / top_n


class SimilarLeafMerger:
    """Merge leaves whose centroids are close, counting shared distinctive words as extra
    closeness: similarity = cosine(centroids) + `keyword_weight` x keyword overlap; leaves
    are joined by average linkage while that similarity stays >= `min_similarity`.

    Defaults measured (tuned on clinc150 test, checked on the demo world): at 0.8 with no
    keyword term merging never hurts clinc150 (test full 181 -> 180 leaves, NMI/ARI equal
    within 0.001), where same-intent leaves are no closer than neighbouring intents; on the
    3,000-record demo world it takes 119 leaves to 103 (single-topic NMI 0.752 -> 0.768,
    ARI 0.304 -> 0.365). More merging (0.75, or keyword_weight 0.15) helps the demo further
    (84-88 leaves, ARI 0.44-0.46) but costs clinc150 NMI (0.818 -> 0.813).

    Learned: `mapping_` {absorbed cluster id: kept cluster id} (the kept one is the largest
    of its group, ties by the smaller id), `groups_` (lists of merged ids).
    """

    def __init__(self, min_similarity: float = 0.8, keyword_weight: float = 0.0,
                 top_n_words: int = 10) -> None:
        self.min_similarity = min_similarity
        self.keyword_weight = keyword_weight
        self.top_n_words = top_n_words

    def fit(self, embeddings: np.ndarray, labels: np.ndarray,
            texts: Sequence[str] | None = None) -> SimilarLeafMerger:
        check_float("min_similarity", self.min_similarity, -1.0, 2.0)
        check_float("keyword_weight", self.keyword_weight, 0.0, 1.0)
        check_int("top_n_words", self.top_n_words, 1)
        labels = np.asarray(labels, dtype=np.int64)
        ids, C = compute_centroids(embeddings, labels)
        self.mapping_: dict[int, int] = {}
        self.groups_: list[list[int]] = []
        if ids.size < 2:
            return self
        sim = C @ C.T
        if texts is not None and self.keyword_weight > 0:
            sim = sim + self.keyword_weight * keyword_overlap(texts, labels, ids,
                                                              self.top_n_words)
        flat = _average_linkage(1.0 + self.keyword_weight - sim,
                                threshold=1.0 + self.keyword_weight - self.min_similarity,
                                n_clusters=None)
        sizes = np.array([(labels == c).sum() for c in ids])
        for g in np.unique(flat):
            members = np.flatnonzero(flat == g)
            if members.size < 2:
                continue
            keep = members[np.lexsort((ids[members], -sizes[members]))[0]]
            self.groups_.append(sorted(int(ids[m]) for m in members))
            for m in members:
                if m != keep:
                    self.mapping_[int(ids[m])] = int(ids[keep])
        return self


def parent_candidates(n_leaves: int, min_parents: int = 10, max_parents: int = 40) -> range:
    """The parent counts a grouper weighs for n leaves: `min_parents`..`max_parents`, with
    two leaves a parent at least on average (a parent holds a family, not one need)."""
    hi = max(1, min(max_parents, n_leaves // 2))
    return range(max(1, min(min_parents, hi)), hi + 1)


class AgglomerativeGrouper:
    """Parents by agglomeration of leaf centroids: Ward (default) or average linkage.

    `n_parents=None` picks the count among `parent_candidates` whose cut has the highest
    silhouette (cosine between leaf centroids; ties: fewer parents). Ward over the unit
    centroids keeps parents compact and of comparable breadth: average linkage left one
    parent holding 17-23% of the items on CLINC150 and the demo world (parents that all
    show the same accounts and ARR), Ward 6-12% on CLINC150 with purer parents against its
    domains (bench/bench_needs.py). A fixed share of the leaves (1.5 x sqrt) lumped
    unrelated families. `tolerance` > 0 takes the fewest parents whose silhouette is within
    that share of the best: on the CLINC150 sets of bench/bench_scales.py fewer parents
    did not raise the NMI against its domains and lowered the purity. Learned:
    `parent_of_` (parent index per leaf row, parents numbered 0..p-1 by total size,
    largest first, ties by their first leaf row), `n_parents_`, `scores_` {count:
    silhouette}.
    """

    def __init__(self, n_parents: int | None = None, min_parents: int = 10,
                 max_parents: int = 40, linkage: str = "ward", tolerance: float = 0.0
                 ) -> None:
        self.n_parents = n_parents
        self.min_parents = min_parents
        self.max_parents = max_parents
        self.linkage = linkage
        self.tolerance = tolerance

    def fit(self, centroids: np.ndarray, sizes: np.ndarray) -> AgglomerativeGrouper:
        check_int("n_parents", self.n_parents, 1, allow_none=True)
        check_int("min_parents", self.min_parents, 1)
        check_int("max_parents", self.max_parents, self.min_parents)
        check_choice("linkage", self.linkage, ("ward", "average"))
        check_float("tolerance", self.tolerance, 0.0, 1.0)
        C = l2_normalize(as_matrix("centroids", centroids))
        sizes = np.asarray(sizes, dtype=np.int64)
        n = C.shape[0]
        if sizes.shape != (n,):
            raise ValueError(f"sizes: expected shape ({n},), got {sizes.shape}")
        self.scores_: dict[int, float] = {}
        if n == 0:
            self.parent_of_, self.n_parents_ = np.zeros(0, dtype=np.int64), 0
            return self
        D = np.clip(1.0 - C @ C.T, 0.0, None)
        D = (D + D.T) / 2
        np.fill_diagonal(D, 0.0)
        cut = self._cutter(C, D)
        flat = (cut(min(self.n_parents, n)) if self.n_parents is not None
                else self._best_cut(D, cut))
        groups = np.unique(flat)
        total = np.array([sizes[flat == g].sum() for g in groups])
        first = np.array([np.flatnonzero(flat == g).min() for g in groups])
        order = groups[np.lexsort((first, -total))]
        renum = {int(g): i for i, g in enumerate(order)}
        self.parent_of_ = np.array([renum[int(g)] for g in flat], dtype=np.int64)
        self.n_parents_ = len(groups)
        return self

    def _cutter(self, C: np.ndarray, D: np.ndarray):
        """p -> flat groups 0.. of one tree over the leaves."""
        from scipy.cluster.hierarchy import fcluster, linkage
        from scipy.spatial.distance import squareform

        if C.shape[0] < 2:
            return lambda p: np.zeros(C.shape[0], dtype=np.int64)
        Z = (linkage(C.astype(np.float64), method="ward") if self.linkage == "ward"
             else linkage(squareform(D, checks=False), method="average"))
        return lambda p: fcluster(Z, t=p, criterion="maxclust").astype(np.int64) - 1

    def _best_cut(self, D: np.ndarray, cut) -> np.ndarray:
        from sklearn.metrics import silhouette_score

        from mining.cluster import parsimonious_count

        n = D.shape[0]
        flats: dict[int, np.ndarray] = {}
        for p in parent_candidates(n, self.min_parents, self.max_parents):
            flat = cut(p)
            present = np.unique(flat).size
            if present < 2 or present >= n:
                continue
            flats[p] = flat
            self.scores_[p] = float(silhouette_score(D, flat, metric="precomputed"))
        if not flats:
            return np.zeros(n, dtype=np.int64)
        return flats[parsimonious_count(self.scores_, self.tolerance)]
