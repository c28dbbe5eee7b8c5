"""Theme mining: embed feedback, cluster it into themes, label, match and assign.

Pure computation over arrays and rows: no Kafka, no Prefect, no database.
Each stage is a swappable object (BERTopic-style); every estimator follows the
scikit-learn contract (`__init__` stores params, `fit` learns `attr_`, returns self).
"""

from mining.assign import assign_incremental
from mining.cluster import HDBSCANClusterer
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
    "assign_incremental",
    "fold_splits",
    "match_themes",
    "reduce_outliers",
    "split_snippets",
    "text_hash",
]
