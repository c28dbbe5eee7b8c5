"""Assign new items to existing themes without re-clustering."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mining._validate import as_matrix, check_float, l2_normalize


def assign_incremental(
    embeddings: np.ndarray,
    centroids: np.ndarray,
    theme_ids: Sequence[int],
    threshold: float = 0.5,
    chunk_size: int = 8192,
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest theme centroid by cosine for each item.

    Returns (assigned_ids, similarities): the theme id, or -1 where the best cosine is
    below `threshold`; the similarity to the best centroid either way. One matrix product
    per chunk (bounded memory for large batches against many themes).
    """
    check_float("threshold", threshold, -1.0, 1.0)
    X = l2_normalize(as_matrix("embeddings", embeddings))
    ids = np.asarray(theme_ids, dtype=np.int64)
    n = X.shape[0]
    if len(ids) == 0 or n == 0:
        return np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=np.float32)
    C = l2_normalize(as_matrix("centroids", centroids))
    if C.shape != (len(ids), X.shape[1]):
        raise ValueError(
            f"centroids: expected shape ({len(ids)}, {X.shape[1]}) to match theme_ids and "
            f"embeddings, got {C.shape}"
        )
    best = np.empty(n, dtype=np.int64)
    sim = np.empty(n, dtype=np.float32)
    for start in range(0, n, chunk_size):
        S = X[start : start + chunk_size] @ C.T
        b = S.argmax(axis=1)
        best[start : start + len(b)] = b
        sim[start : start + len(b)] = S[np.arange(len(b)), b]
    assigned = np.where(sim >= threshold, ids[best], -1)
    return assigned, sim


def count_alike(embeddings: np.ndarray, min_similarity: float, neighbours: int,
                limit: int = 20_000, chunk_size: int = 2048) -> int:
    """How many items have at least `neighbours` others at cosine >= `min_similarity`:
    items that could make a theme together, as opposed to scattered noise. Past `limit`
    items, all of them (the caller should treat that many as a theme anyway)."""
    check_float("min_similarity", min_similarity, -1.0, 1.0)
    X = l2_normalize(as_matrix("embeddings", embeddings))
    n = X.shape[0]
    if n <= neighbours:
        return 0
    if n > limit:
        return n
    close = np.empty(n, dtype=np.int64)
    for start in range(0, n, chunk_size):
        close[start : start + chunk_size] = (
            (X[start : start + chunk_size] @ X.T) >= min_similarity).sum(axis=1) - 1
    return int((close >= neighbours).sum())
