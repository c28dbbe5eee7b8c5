"""The one place where parameters are checked (errors name the parameter)."""

from __future__ import annotations

from typing import Any

import numpy as np


def check_int(name: str, value: Any, low: int, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name}: expected an int >= {low}, got {value!r}")


def check_float(name: str, value: Any, low: float, high: float, *, allow_none: bool = False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValueError(f"{name}: expected a number in [{low}, {high}], got {value!r}")


def check_choice(name: str, value: Any, choices: tuple[Any, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}: expected one of {choices}, got {value!r}")


def as_matrix(name: str, X: Any) -> np.ndarray:
    """2-D float32 C-contiguous array, or a ValueError naming the argument."""
    arr = np.asarray(X, dtype=np.float32)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array (n_items, dim), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return np.ascontiguousarray(arr)


def l2_normalize(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as float32. Rows already of unit length (embeddings
    usually are) come back as they are, uncopied: a full run normalises the same 100k x 384
    matrix in several parts, and each copy (plus the n x d temporaries of linalg.norm) cost
    ~0.1-0.3 s. Callers treat the result as read-only."""
    X = np.asarray(X, dtype=np.float32)
    sq = np.einsum("ij,ij->i", X, X)  # no n x d temporary
    if sq.size and np.abs(sq - 1.0).max() < 1e-5:
        return X
    return X / np.sqrt(np.maximum(sq, 1e-24))[:, None]


def row_keys(X: np.ndarray) -> np.ndarray:
    """A uint64 key per row from its values rounded to 1e-4: equal rows get equal keys,
    distinct rows almost never do, and float noise in the last bits does not matter.

    A fixed random multiply-add hash, vectorised (a per-row blake2b took ~1 s per 100k
    items), column by column so there is no n x d temporary."""
    mult = np.random.default_rng(20240611).integers(1, 2**63, size=X.shape[1], dtype=np.uint64)
    keys = np.zeros(X.shape[0], dtype=np.uint64)
    for j in range(X.shape[1]):
        q = np.round(X[:, j] * 1e4).astype(np.int64).view(np.uint64)
        keys = keys * np.uint64(1099511628211) + q * (mult[j] | np.uint64(1))
    return keys
