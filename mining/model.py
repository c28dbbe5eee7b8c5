"""ThemeModel: embeddings -> reduce -> cluster -> outliers -> label, order-independent."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from mining._validate import as_matrix, check_float, l2_normalize, row_keys
from mining.assign import assign_incremental
from mining.cluster import WardClusterer
from mining.contracts import Clusterer, Grouper, Labeller, LeafMerger, Reducer, TextEncoder
from mining.embed import Embedder
from mining.hierarchy import AgglomerativeGrouper, SimilarLeafMerger
from mining.outliers import compute_centroids, reduce_outliers
from mining.phrases import PhraseLabeller
from mining.reduce import UMAPReducer

DEFAULT_OUTLIER_THRESHOLD = 0.40
# progress(stage, done, total): called at the start (done=0) and end (done=total) of a stage
Progress = Callable[[str, int, int], None]


def _noop(stage: str, done: int, total: int) -> None:
    return None


def canonical_order(X: np.ndarray) -> np.ndarray:
    """A permutation that depends only on the set of rows, not on their input order.

    Rows are sorted by `row_keys` (their values rounded to 1e-4), so float noise in the
    last bits (e.g. from a different batch composition) does not change the order.
    Identical rows get identical keys; their relative order cannot change the result.
    """
    return np.argsort(row_keys(X), kind="stable")


def _fit_clusterer(clusterer: Clusterer, reduced: np.ndarray, X: np.ndarray) -> Clusterer:
    """A clusterer whose `fit` takes `embeddings` (WardClusterer scores its cuts there)
    gets the unit embeddings beside the reduced vectors."""
    if "embeddings" in inspect.signature(clusterer.fit).parameters:
        return clusterer.fit(reduced, embeddings=X)
    return clusterer.fit(reduced)


class ThemeModel:
    """Cluster feedback embeddings into themes, BERTopic-style, with stable numbering.

    Parts (each swappable, contracts in `mining.contracts`): `embedder` (TextEncoder: texts
    -> vectors, for `fit_texts`), `reducer` (Reducer), `clusterer` (Clusterer), `merger`
    (LeafMerger: folds leaves that say the same thing; `False` = no merging), `grouper`
    (Grouper: parents over the leaves; `False` = one level), `labeller` (Labeller). None
    means the default part.

    Learned: `labels_` (-1 = noise), `method_` ("cluster"/"outlier"/"noise"),
    `similarity_` (cosine to the assigned centroid), `cluster_ids_`, `centroids_`
    (row i = unit-norm mean embedding of cluster `cluster_ids_[i]`), `merged_` (leaf merges
    {absorbed: kept}, before renumbering), `parent_of_` (parent number per row of
    `cluster_ids_`), `parent_ids_`, `parent_centroids_`, and with texts: `keywords_`,
    `labels_text_`, `quotes_` per leaf and `parent_keywords_`, `parent_labels_text_`,
    `parent_quotes_` per parent. Clusters are numbered 0..k-1 by size (largest first), ties
    broken by a content-derived key, so the partition and the numbering do not depend on
    the input order. `merge_clusters` folds clusters together (e.g. to keep a previous
    theme whole) and `label` (re)computes keywords and quotes, so a caller can match
    clusters to its previous themes before paying for the labels.
    """

    def __init__(
        self,
        embedder: TextEncoder | None = None,
        reducer: Reducer | None = None,
        clusterer: Clusterer | None = None,
        labeller: Labeller | None = None,
        merger: LeafMerger | bool | None = None,
        grouper: Grouper | bool | None = None,
        outlier_threshold: float | None = DEFAULT_OUTLIER_THRESHOLD,
        random_state: int | None = 42,
    ) -> None:
        self.embedder = embedder
        self.reducer = reducer
        self.clusterer = clusterer
        self.labeller = labeller
        self.merger = merger
        self.grouper = grouper
        self.outlier_threshold = outlier_threshold
        self.random_state = random_state

    def _parts(self) -> tuple[Reducer, Clusterer, Labeller, LeafMerger | None, Grouper | None]:
        check_float("outlier_threshold", self.outlier_threshold, -1.0, 1.0, allow_none=True)
        reducer = self.reducer or UMAPReducer(random_state=self.random_state)
        clusterer = self.clusterer or WardClusterer(random_state=self.random_state)
        labeller = self.labeller or PhraseLabeller(
            encoder=getattr(self, "embedder_", None) or self.embedder)
        merger = None if self.merger is False else (self.merger or SimilarLeafMerger())
        grouper = None if self.grouper is False else (self.grouper or AgglomerativeGrouper())
        for name, part, contract in (
            ("reducer", reducer, Reducer),
            ("clusterer", clusterer, Clusterer),
            ("labeller", labeller, Labeller),
            ("merger", merger, LeafMerger),
            ("grouper", grouper, Grouper),
        ):
            if part is not None and not isinstance(part, contract):
                raise ValueError(f"{name}: expected a {contract.__name__} "
                                 f"({contract.__doc__.splitlines()[0]})")
        return reducer, clusterer, labeller, merger, grouper

    def fit(
        self,
        embeddings: np.ndarray,
        texts: Sequence[str] | None = None,
        groups: Sequence | None = None,
        progress: Progress | None = None,
        label: bool = True,
    ) -> ThemeModel:
        """Learn the themes; `progress` (optional) hears each stage start and end:
        reduce, cluster, merge, outliers, label. With `texts`, leaf merging uses their
        words and, unless `label=False` (to label later with `label`), they are labelled."""
        reducer, clusterer, labeller, merger, grouper = self._parts()
        tick = progress or _noop
        X = l2_normalize(as_matrix("embeddings", embeddings))
        n = X.shape[0]
        if texts is not None and len(texts) != n:
            raise ValueError(f"texts: expected {n} texts (one per embedding), got {len(texts)}")
        if groups is not None and len(groups) != n:
            raise ValueError(f"groups: expected {n} groups (one per embedding), got {len(groups)}")

        perm = canonical_order(X)
        rank = np.empty(n, dtype=np.int64)
        rank[perm] = np.arange(n)
        raw = np.full(n, -1, dtype=np.int64)
        if n >= 3:
            tick("reduce", 0, n)
            reduced = reducer.fit_transform(X[perm])
            tick("reduce", n, n)
            tick("cluster", 0, n)
            raw[perm] = np.asarray(_fit_clusterer(clusterer, reduced, X[perm]).labels_,
                                   dtype=np.int64)
            tick("cluster", n, n)
        self.reducer_, self.clusterer_, self.labeller_ = reducer, clusterer, labeller
        self.merger_, self.grouper_ = merger, grouper

        raw = self._renumber(raw, rank)
        self.merged_: dict[int, int] = {}
        if merger is not None and n >= 3:
            tick("merge", 0, n)
            self.merged_ = dict(merger.fit(X, raw, texts).mapping_)
            if self.merged_:
                raw = self._renumber(np.array([self.merged_.get(int(v), int(v)) for v in raw],
                                              dtype=np.int64), rank)
            tick("merge", n, n)
        tick("outliers", 0, n)
        labels, method, sim = reduce_outliers(X, raw, threshold=self.outlier_threshold)
        tick("outliers", n, n)
        self.labels_ = labels
        self.method_ = method.astype(str)
        self.similarity_ = sim
        self.embeddings_fit_ = X  # kept for merge_clusters / label (a view, no copy)
        self._summarise()
        if texts is not None and label:
            self.label(texts, groups, progress=progress)
        return self

    def _summarise(self) -> None:
        X, labels = self.embeddings_fit_, self.labels_
        self.cluster_ids_, self.centroids_ = compute_centroids(X, labels)
        self.n_themes_ = int(self.cluster_ids_.size)
        self.noise_share_ = float(np.mean(labels < 0)) if labels.size else 0.0
        self.sizes_ = np.array([(labels == c).sum() for c in self.cluster_ids_], dtype=np.int64)
        self.group_parents()

    def group_parents(self, parent_of: np.ndarray | None = None) -> ThemeModel:
        """Parents over the current leaves: the grouper's, or `parent_of` (one parent number
        per row of `cluster_ids_`, e.g. to keep a previous run's grouping)."""
        k = self.n_themes_
        if parent_of is not None:
            parent_of = np.asarray(parent_of, dtype=np.int64)
            if parent_of.shape != (k,):
                raise ValueError(f"parent_of: expected shape ({k},), got {parent_of.shape}")
        elif self.grouper_ is None or k == 0:
            parent_of = np.arange(k, dtype=np.int64)  # one level: each leaf its own parent
        else:
            parent_of = self.grouper_.fit(self.centroids_, self.sizes_).parent_of_
        self.parent_of_ = np.asarray(parent_of, dtype=np.int64)
        self.parent_ids_ = np.unique(self.parent_of_)
        self.parent_centroids_ = l2_normalize(np.stack(
            [(self.centroids_[self.parent_of_ == p] * self.sizes_[self.parent_of_ == p, None]
              ).sum(axis=0) for p in self.parent_ids_]
        ).astype(np.float32)) if k else np.zeros((0, self.embeddings_fit_.shape[1]), np.float32)
        return self

    def parent_labels(self) -> np.ndarray:
        """Each item's parent number (-1 for noise)."""
        out = np.full(self.labels_.shape, -1, dtype=np.int64)
        member = self.labels_ >= 0
        out[member] = self.parent_of_[np.searchsorted(self.cluster_ids_, self.labels_[member])]
        return out

    def merge_clusters(self, mapping: dict[int, int]) -> ThemeModel:
        """Fold clusters into others (`{absorbed id: kept id}`), then recompute centroids and
        similarities; labels must be (re)computed afterwards with `label`."""
        labels = self.labels_.copy()
        for old, new in mapping.items():
            if old not in self.cluster_ids_ or new not in self.cluster_ids_ or new in mapping:
                raise ValueError(f"mapping: {old} -> {new} must join two existing clusters "
                                 "and not chain")
            labels[self.labels_ == old] = new
        return self._relabel(labels)

    def _relabel(self, labels: np.ndarray) -> ThemeModel:
        """Take new cluster labels: centroids and each member's similarity to its centroid
        follow (merge and split both end here)."""
        self.labels_ = labels
        self._summarise()
        member = labels >= 0
        pos = np.searchsorted(self.cluster_ids_, labels[member])
        self.similarity_ = self.similarity_.copy()
        self.similarity_[member] = np.einsum(
            "ij,ij->i", self.embeddings_fit_[member], self.centroids_[pos])
        return self

    def split_cluster(self, cid: int, parts: np.ndarray) -> ThemeModel:
        """Cut cluster `cid` in pieces: `parts[i]` is the piece of its i-th member (row
        order); piece 0 keeps `cid`, the others get new ids after the largest. Centroids
        and similarities are recomputed; labels must be (re)computed with `label`."""
        members = np.flatnonzero(self.labels_ == cid)
        parts = np.asarray(parts, dtype=np.int64)
        if cid not in self.cluster_ids_ or parts.shape != members.shape:
            raise ValueError(f"parts: expected one piece per member of cluster {cid}")
        labels = self.labels_.copy()
        top = int(self.cluster_ids_.max())
        for piece in np.unique(parts[parts > 0]):
            labels[members[parts == piece]] = top + int(piece)
        return self._relabel(labels)

    def label(self, texts: Sequence[str], groups: Sequence | None = None,
              progress: Progress | None = None) -> ThemeModel:
        """Keywords, readable labels and quotes for the current clusters (`fit` calls it
        when given texts)."""
        tick = progress or _noop
        n = self.labels_.size
        if len(texts) != n:
            raise ValueError(f"texts: expected {n} texts (one per embedding), got {len(texts)}")
        if groups is not None and len(groups) != n:
            raise ValueError(f"groups: expected {n} groups (one per embedding), got {len(groups)}")
        tick("label", 0, self.n_themes_)
        # A shallow copy for the parents (fit assigns fresh learned attributes), so the
        # leaf labeller's state stays readable and a shared encoder is not duplicated; a
        # labeller may name parents its own way (`for_parents`, e.g. topics, not questions).
        for_parents = getattr(self.labeller_, "for_parents", None)
        parent_labeller = for_parents() if callable(for_parents) else copy.copy(self.labeller_)
        with threadpool_limits(limits=1, user_api="blas"):
            self._fit_labellers(texts, groups, parent_labeller)
        tick("label", self.n_themes_, self.n_themes_)
        return self

    def _fit_labellers(self, texts: Sequence[str], groups: Sequence | None,
                       parent_labeller: Any) -> None:
        """Leaf then parent labels. Called with BLAS on one thread: labelling is hundreds
        of small matrix products, where BLAS threads only add contention."""
        docs = list(texts)  # one object for both levels: a labeller may reuse its tokens
        self.labeller_.fit(docs, self.labels_, self.embeddings_fit_, groups)
        self.keywords_ = self.labeller_.keywords_
        self.labels_text_ = self.labeller_.labels_text_
        self.quotes_ = self.labeller_.quotes_
        parent_labeller.fit(docs, self.parent_labels(), self.embeddings_fit_, groups)
        self.parent_labeller_ = parent_labeller
        self.parent_keywords_ = parent_labeller.keywords_
        self.parent_quotes_ = parent_labeller.quotes_
        # Parents are named as need families: a parent of one leaf by that leaf's label, one
        # of several by its best phrase and the next distinct one ("Audit logs &
        # compliance"); unique among the parents, the others' labels as alternatives.
        from mining.phrases import family_alternatives, family_label, unique_labels

        phrases = getattr(parent_labeller, "phrases_", {})
        names, children, sizes = dict(parent_labeller.labels_text_), {}, {}
        for p in names:
            rows = np.flatnonzero(self.parent_of_ == p)
            rows = rows[np.argsort(-self.sizes_[rows], kind="stable")]
            children[p] = [self.labels_text_.get(int(c), "") for c in self.cluster_ids_[rows]]
            sizes[p] = int(self.sizes_[rows].sum())
            if rows.size == 1 and children[p][0]:
                names[p] = children[p][0]
            elif phrases.get(p):
                names[p] = family_label(phrases[p])
        self.parent_labels_text_ = unique_labels(
            names, sizes, lambda p: family_alternatives(phrases.get(p, [])[1:], children[p]))

    @staticmethod
    def _renumber(labels: np.ndarray, rank: np.ndarray) -> np.ndarray:
        """0..k-1 by size descending, ties by the smallest canonical rank of a member."""
        ids = np.unique(labels[labels >= 0])
        if ids.size == 0:
            return labels
        sizes = np.array([(labels == c).sum() for c in ids])
        first = np.array([rank[labels == c].min() for c in ids])
        order = ids[np.lexsort((first, -sizes))]
        new_of = np.empty(order.size, dtype=np.int64)
        new_of[np.searchsorted(ids, order)] = np.arange(order.size)
        out = np.full(labels.shape, -1, dtype=np.int64)
        member = labels >= 0
        out[member] = new_of[np.searchsorted(ids, labels[member])]
        return out

    def fit_texts(self, texts: Sequence[str], groups: Sequence | None = None) -> ThemeModel:
        """Embed `texts` with the embedder (stored in `embeddings_`), then `fit`."""
        embedder = self.embedder or Embedder()
        if not isinstance(embedder, TextEncoder):
            raise ValueError("embedder: expected an object with an encode(texts) method")
        self.embedder_ = embedder
        self.embeddings_ = np.asarray(embedder.encode(list(texts)), dtype=np.float32)
        return self.fit(self.embeddings_, texts=texts, groups=groups)

    def predict(self, embeddings: np.ndarray, threshold: float | None = None):
        """Assign new items to the fitted themes: (cluster ids or -1, similarities)."""
        thr = self.outlier_threshold if threshold is None else threshold
        return assign_incremental(
            embeddings, self.centroids_, self.cluster_ids_, threshold=-1.0 if thr is None else thr
        )
