"""The contracts of ThemeModel's parts: any object with these methods can stand in.

Structural (`typing.Protocol`), as in BERTopic: a user swaps one stage without touching the
others and without inheriting from anything of ours. `runtime_checkable` lets ThemeModel
check a part once, with an error that names the parameter. Learned attributes (`labels_`,
...) are named in the docstrings only: they exist after `fit`, so an isinstance check on an
unfitted part must not ask for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class TextEncoder(Protocol):
    """Texts -> (n, dim) float32 vectors, L2-normalised (e.g. `mining.Embedder`)."""

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


@runtime_checkable
class Reducer(Protocol):
    """Embeddings -> a lower-dimensional space where density clustering works."""

    def fit_transform(self, X: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class Clusterer(Protocol):
    """Points -> `labels_` (one int per row, -1 = noise) after `fit`."""

    def fit(self, X: np.ndarray) -> Clusterer: ...


@runtime_checkable
class Labeller(Protocol):
    """Per cluster id: `keywords_` (list of terms), `labels_text_` (a readable label) and
    `quotes_` (row indices of representative members) after `fit`."""

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[int],
        embeddings: np.ndarray,
        groups: Sequence | None = None,
    ) -> Labeller: ...


@runtime_checkable
class LeafMerger(Protocol):
    """Which clusters say the same thing: `mapping_` {absorbed id: kept id} after `fit`
    (no chains: a kept id is never absorbed)."""

    def fit(
        self,
        embeddings: np.ndarray,
        labels: np.ndarray,
        texts: Sequence[str] | None = None,
    ) -> LeafMerger: ...


@runtime_checkable
class Grouper(Protocol):
    """Leaf centroids -> `parent_of_` (one parent index 0..p-1 per leaf row) after `fit`."""

    def fit(self, centroids: np.ndarray, sizes: np.ndarray) -> Grouper: ...
