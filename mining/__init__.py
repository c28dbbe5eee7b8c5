"""Theme mining: embed feedback, cluster it into themes, label, match and assign.

Pure computation over arrays and rows: no Kafka, no Prefect, no database.
Each stage is a swappable object (BERTopic-style); every estimator follows the
scikit-learn contract (`__init__` stores params, `fit` learns `attr_`, returns self).

Names resolve lazily (PEP 562): `from mining.embed import LightEncoder` or `from mining import
Embedder` loads only what it needs, so a one-query command (`similar`) does not pay for
importing scikit-learn, UMAP and HDBSCAN.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mining.assign import assign_incremental, count_alike
    from mining.cluster import HDBSCANClusterer, WardClusterer
    from mining.contracts import Clusterer, Grouper, Labeller, LeafMerger, Reducer, TextEncoder
    from mining.embed import Embedder, text_hash
    from mining.hierarchy import AgglomerativeGrouper, SimilarLeafMerger
    from mining.label import CTfidfLabeller
    from mining.match import LineageEvent, MatchResult, fold_splits, match_themes
    from mining.model import ThemeModel
    from mining.outliers import reduce_outliers
    from mining.phrases import PhraseLabeller
    from mining.reduce import IdentityReducer, PCAReducer, UMAPReducer
    from mining.snippets import split_snippets

_LAZY = {
    "assign_incremental": "mining.assign",
    "count_alike": "mining.assign",
    "HDBSCANClusterer": "mining.cluster",
    "WardClusterer": "mining.cluster",
    "Clusterer": "mining.contracts",
    "Grouper": "mining.contracts",
    "Labeller": "mining.contracts",
    "LeafMerger": "mining.contracts",
    "Reducer": "mining.contracts",
    "TextEncoder": "mining.contracts",
    "Embedder": "mining.embed",
    "text_hash": "mining.embed",
    "AgglomerativeGrouper": "mining.hierarchy",
    "SimilarLeafMerger": "mining.hierarchy",
    "CTfidfLabeller": "mining.label",
    "LineageEvent": "mining.match",
    "MatchResult": "mining.match",
    "fold_splits": "mining.match",
    "match_themes": "mining.match",
    "ThemeModel": "mining.model",
    "reduce_outliers": "mining.outliers",
    "PhraseLabeller": "mining.phrases",
    "IdentityReducer": "mining.reduce",
    "PCAReducer": "mining.reduce",
    "UMAPReducer": "mining.reduce",
    "split_snippets": "mining.snippets",
}

__all__ = [
    "AgglomerativeGrouper",
    "CTfidfLabeller",
    "Clusterer",
    "Embedder",
    "Grouper",
    "HDBSCANClusterer",
    "IdentityReducer",
    "Labeller",
    "LeafMerger",
    "LineageEvent",
    "MatchResult",
    "PCAReducer",
    "PhraseLabeller",
    "Reducer",
    "SimilarLeafMerger",
    "TextEncoder",
    "ThemeModel",
    "UMAPReducer",
    "WardClusterer",
    "assign_incremental",
    "count_alike",
    "fold_splits",
    "match_themes",
    "reduce_outliers",
    "split_snippets",
    "text_hash",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mining' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
