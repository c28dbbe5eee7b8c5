"""Clustering quality against labelled data (NMI, ARI, noise) and a BERTopic baseline."""

from __future__ import annotations

import csv
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def evaluate(labels_true: Sequence, labels_pred: Sequence[int]) -> dict[str, float | int]:
    """NMI and ARI over ALL items, noise (-1) counted as one more predicted group.

    Counting noise as a group (not dropping it) keeps a method from scoring well by
    discarding hard items; `noise_share` and `n_themes` are reported beside.
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    y_true = np.asarray([str(v) for v in labels_true])
    y_pred = np.asarray(labels_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"labels_pred: expected {y_true.shape[0]} labels, got {y_pred.shape[0]}")
    return {
        "nmi": float(normalized_mutual_info_score(y_true, y_pred)),
        "ari": float(adjusted_rand_score(y_true, y_pred)),
        "noise_share": float(np.mean(y_pred < 0)) if y_pred.size else 0.0,
        "n_themes": int(np.unique(y_pred[y_pred >= 0]).size),
        "n_items": int(y_pred.size),
    }


def load_labelled_csv(
    path: str | Path, text_col: str = "text", label_col: str = "intent"
) -> tuple[list[str], list[str]]:
    """(texts, labels) from a CSV with a header, e.g. clinc150's `text,intent`."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path: no such file {path}")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {text_col, label_col} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(
                f"text_col/label_col: column(s) {sorted(missing)} not in {path.name} "
                f"(has {reader.fieldnames})"
            )
        rows = list(reader)
    return [r[text_col] for r in rows], [r[label_col] for r in rows]


def fit_bertopic(embeddings: np.ndarray, texts: Sequence[str]) -> Any:
    """BERTopic with its defaults (its UMAP + HDBSCAN) fitted on the same precomputed
    embeddings."""
    try:
        from bertopic import BERTopic
    except ImportError as exc:
        raise ValueError(
            "compare_with: the BERTopic baseline needs the optional dev dependency; "
            "pip install 'trendmine[dev]' (or bertopic==0.17.4)"
        ) from exc
    from bertopic.backend import BaseEmbedder

    class _NoEmbedder(BaseEmbedder):
        """Embeddings are given; this stops BERTopic loading (or downloading) a model."""

        def embed(self, documents: Any, verbose: bool = False) -> np.ndarray:
            raise RuntimeError("embeddings must be precomputed")

    model = BERTopic(embedding_model=_NoEmbedder(), verbose=False)
    model.fit(list(texts), embeddings=np.asarray(embeddings))
    return model


def run_bertopic(embeddings: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    """BERTopic's topic per item (-1 = outlier), see `fit_bertopic`."""
    return np.asarray(fit_bertopic(embeddings, texts).topics_, dtype=np.int64)


def bertopic_labels(model: Any, n_words: int = 4) -> dict[int, str]:
    """BERTopic's own label of each topic: its top c-TF-IDF words, as its default topic
    names show them ("12_credit_limit_increase_raise" -> "credit limit increase raise")."""
    return {int(t): " ".join(w for w, _ in model.get_topic(t)[:n_words] if w)
            for t in set(model.topics_) if t >= 0}


def compare(
    texts: Sequence[str],
    labels: Sequence,
    embeddings: np.ndarray,
    compare_with: Sequence[str] = ("bertopic",),
    model: Any = None,
    encoder: Any = None,
    unnamed: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """One row per method: trendmine's ThemeModel (or `model`) and each baseline named.

    With `encoder` (the embedding model as a TextEncoder) the themes are labelled too and
    each row gets its labels' quality (`label_columns`): trendmine's phrase labels
    (labelling timed apart, `label_seconds`), BERTopic's top-word labels.
    """
    from mining.model import ThemeModel

    unknown = set(compare_with) - {"bertopic"}
    if unknown:
        raise ValueError(f"compare_with: unknown baseline(s) {sorted(unknown)}; use 'bertopic'")
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    labelled = encoder is not None
    fitted = (model or ThemeModel(embedder=encoder)).fit(
        embeddings, texts=texts if labelled else None, label=False)
    row: dict[str, Any] = {"method": "trendmine", **evaluate(labels, fitted.labels_),
                           "fit_seconds": round(time.perf_counter() - start, 2)}
    if labelled:
        start = time.perf_counter()
        fitted.label(texts)
        row["label_seconds"] = round(time.perf_counter() - start, 2)
        row |= label_columns(fitted.labels_text_, fitted.labels_, labels, texts, encoder,
                             unnamed, getattr(fitted.labeller_, "candidates_", None))
    rows.append(row)
    if "bertopic" in compare_with:
        start = time.perf_counter()
        bt = fit_bertopic(embeddings, texts)
        pred = np.asarray(bt.topics_, dtype=np.int64)
        row = {"method": "bertopic", **evaluate(labels, pred),
               "fit_seconds": round(time.perf_counter() - start, 2)}
        if labelled:
            row["label_seconds"] = 0.0  # its labels come with its fit
            row |= label_columns(bertopic_labels(bt), pred, labels, texts, encoder, unnamed)
        rows.append(row)
    return rows


def label_columns(labels_text: dict[int, str], labels_pred: Sequence[int],
                  labels_true: Sequence, texts: Sequence[str], encoder: Any,
                  unnamed: Sequence[str] = (),
                  candidates: dict[int, Sequence[str]] | None = None) -> dict[str, float]:
    """The label measures of a results table: `label_acc` (label_quality's
    name_accuracy_nameable), `label_in_text`, `label_2_6_words` and, given the labeller's
    ranked candidates, `label_pool` (label_pool_ceiling's `pool`: a perfect ranking's
    label_acc)."""
    q = label_quality(labels_text, labels_pred, labels_true, texts, encoder, unnamed=unnamed)
    out = {"label_acc": q["name_accuracy_nameable"], "label_in_text": q["in_text_share"],
           "label_2_6_words": q["short_share"]}
    if candidates is not None:
        out["label_pool"] = label_pool_ceiling(candidates, labels_pred, labels_true, encoder,
                                               unnamed=unnamed)["pool"]
    return out


class _ReferenceNames:
    """The reference names of a labelled set, embedded once: which true label a phrase
    names (its nearest reference name, cosine, `encoder`), and each theme's majority."""

    def __init__(self, labels_true: Sequence, encoder: Any, names: dict[str, str] | None,
                 unnamed: Sequence[str]) -> None:
        self.y_true = np.asarray([str(v) for v in labels_true])
        self.skip = {str(u) for u in unnamed}
        self.classes = sorted(set(self.y_true.tolist()) - self.skip)
        ref = [(names or {}).get(c, c.replace("_", " ")) for c in self.classes]
        self.encoder = encoder
        self.R = np.asarray(encoder.encode(ref), dtype=np.float32) if ref else None

    def named(self, phrases: Sequence[str]) -> list[str]:
        """The true label each phrase names."""
        L = np.asarray(self.encoder.encode(list(phrases)), dtype=np.float32)
        return [self.classes[i] for i in (L @ self.R.T).argmax(axis=1)]

    def majority(self, members: np.ndarray) -> str:
        return Counter(self.y_true[members].tolist()).most_common(1)[0][0]


def label_quality(
    labels_text: dict[int, str],
    labels_pred: Sequence[int],
    labels_true: Sequence,
    texts: Sequence[str],
    encoder: Any,
    names: dict[str, str] | None = None,
    unnamed: Sequence[str] = (),
) -> dict[str, float | int]:
    """How well theme labels name what their members are about, against a labelled set.

    `name_accuracy`: size-weighted share of themes whose label's nearest reference name
    (cosine, `encoder`) is the theme's majority true label; reference names are
    `names[label]`, by default the label with "_" read as a space ("credit_limit" ->
    "credit limit"). True labels in `unnamed` (e.g. CLINC150's "oos", out of scope) have no
    reference name: a theme with such a majority can never be hit, so it counts as a miss
    in `name_accuracy` and is left out of `name_accuracy_nameable` (both reported, with
    `nameable_share`, the size-weighted share of themes with a nameable majority).
    `in_text_share`: share of labels that occur as a phrase (case and punctuation aside)
    in at least one member text. `short_share`: share of 2-6 word labels.
    """
    import re

    ref = _ReferenceNames(labels_true, encoder, names, unnamed)
    y_pred = np.asarray(labels_pred, dtype=np.int64)
    ids = sorted(c for c in labels_text if (y_pred == c).any())
    if not ids or not ref.classes:
        return {"name_accuracy": 0.0, "name_accuracy_nameable": 0.0, "nameable_share": 0.0,
                "in_text_share": 0.0, "short_share": 0.0, "n_labels": len(ids)}
    nearest = ref.named([labels_text[c] for c in ids])
    hit_weight = total = nameable = in_text = short = 0

    def norm(s: str) -> str:
        return " " + " ".join(re.findall(r"[a-z0-9]+", s.lower())) + " "

    for k, cid in enumerate(ids):
        members = np.flatnonzero(y_pred == cid)
        majority = ref.majority(members)
        total += members.size
        nameable += members.size * (majority not in ref.skip)
        hit_weight += members.size * (nearest[k] == majority)
        phrase = norm(labels_text[cid])
        in_text += any(phrase in norm(texts[i]) for i in members)
        short += 2 <= len(labels_text[cid].split()) <= 6
    return {
        "name_accuracy": float(hit_weight / total),
        "name_accuracy_nameable": float(hit_weight / nameable) if nameable else 0.0,
        "nameable_share": float(nameable / total),
        "in_text_share": float(in_text / len(ids)),
        "short_share": float(short / len(ids)),
        "n_labels": len(ids),
    }


def label_pool_ceiling(
    candidates: dict[int, Sequence[str]],
    labels_pred: Sequence[int],
    labels_true: Sequence,
    encoder: Any,
    names: dict[str, str] | None = None,
    unnamed: Sequence[str] = (),
) -> dict[str, float]:
    """How far a labeller's ranking is from the best its candidate pool allows.

    `candidates`: per theme, its candidate phrases best first (e.g. PhraseLabeller's
    `candidates_`); the first is the label. Over the themes with a nameable majority,
    size-weighted: `first` (the label names the majority, as `label_quality`'s
    `name_accuracy_nameable`), `pool` (some candidate does: a perfect ranking's score),
    `rank_2_3`, `rank_4_10`, `rank_over_10` (where the first such candidate sits when it
    is not first) and `none` (no candidate does, or there is none: the theme's members never
    say its name, or the theme mixes needs).
    """
    ref = _ReferenceNames(labels_true, encoder, names, unnamed)
    y_pred = np.asarray(labels_pred, dtype=np.int64)
    phrases = sorted({p for pool in candidates.values() for p in pool})
    named = dict(zip(phrases, ref.named(phrases), strict=True)) if phrases else {}
    weight = {"first": 0, "rank_2_3": 0, "rank_4_10": 0, "rank_over_10": 0, "none": 0}
    total = 0
    for cid, pool in candidates.items():
        members = np.flatnonzero(y_pred == cid)
        majority = ref.majority(members) if members.size else None
        if majority is None or majority in ref.skip:
            continue
        total += members.size
        rank = next((i + 1 for i, p in enumerate(pool) if named[p] == majority), 0)
        bucket = ("none" if not rank else "first" if rank == 1 else "rank_2_3" if rank <= 3
                  else "rank_4_10" if rank <= 10 else "rank_over_10")
        weight[bucket] += members.size
    out = {k: float(v / total) if total else 0.0 for k, v in weight.items()}
    out["pool"] = 1.0 - out["none"] if total else 0.0
    return out
