"""Outlier reduction: give noise items to the nearest theme when they are close enough."""

from __future__ import annotations

import numpy as np

from mining._validate import as_matrix, check_float, l2_normalize

METHOD_CLUSTER = "cluster"
METHOD_OUTLIER = "outlier"
METHOD_NOISE = "noise"


def compute_centroids(embeddings: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cluster_ids sorted, unit-norm mean embedding per cluster) in the original space."""
    X = l2_normalize(as_matrix("embeddings", embeddings))
    labels = np.asarray(labels)
    ids = np.unique(labels[labels >= 0])
    if ids.size == 0:
        return ids.astype(np.int64), np.zeros((0, X.shape[1]), dtype=np.float32)
    # Sum rows per cluster as one sparse (clusters x members) product: np.add.at took ~3 s
    # per call at 100k items, this ~0.1 s, without copying the rows.
    from scipy.sparse import csr_matrix

    member = np.flatnonzero(labels >= 0)
    pos = np.searchsorted(ids, labels[member])
    onehot = csr_matrix((np.ones(member.size, dtype=np.float32), (pos, member)),
                        shape=(ids.size, X.shape[0]))
    sums = np.asarray(onehot @ X)
    return ids.astype(np.int64), l2_normalize(sums.astype(np.float32, copy=False))


def reduce_outliers(
    embeddings: np.ndarray, labels: np.ndarray, threshold: float | None = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Attach each noise item to its most similar centroid when cosine >= `threshold`.

    Returns (new_labels, method, similarity): `method` is "cluster" for HDBSCAN members,
    "outlier" for re-attached noise and "noise" for what stays unassigned; `similarity` is
    the cosine to the assigned centroid (to the nearest one for noise).
    `threshold=None` keeps every noise item as noise.
    """
    check_float("threshold", threshold, -1.0, 1.0, allow_none=True)
    X = l2_normalize(as_matrix("embeddings", embeddings))
    labels = np.asarray(labels, dtype=np.int64).copy()
    if labels.shape != (X.shape[0],):
        raise ValueError(f"labels: expected shape ({X.shape[0]},), got {labels.shape}")
    method = np.where(labels >= 0, METHOD_CLUSTER, METHOD_NOISE).astype(object)
    similarity = np.zeros(X.shape[0], dtype=np.float32)
    ids, C = compute_centroids(X, labels)
    if ids.size == 0:
        return labels, method, similarity
    member = labels >= 0
    similarity[member] = np.einsum("ij,ij->i", X[member], C[np.searchsorted(ids, labels[member])])
    noise = np.flatnonzero(~member)
    if noise.size:
        sims = X[noise] @ C.T
        best = sims.argmax(axis=1)
        best_sim = sims[np.arange(noise.size), best]
        similarity[noise] = best_sim
        ok = best_sim >= threshold if threshold is not None else np.zeros(noise.size, bool)
        labels[noise[ok]] = ids[best[ok]]
        method[noise[ok]] = METHOD_OUTLIER
    return labels, method, similarity
