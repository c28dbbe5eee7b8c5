"""Theme labels: class-based TF-IDF keywords and representative quotes."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from mining._validate import as_matrix, check_int, l2_normalize

# Redaction placeholders ("[EMAIL]", "<PHONE>", "{{NAME}}") must never become keywords.
_PLACEHOLDER = re.compile(r"\[[A-Z][A-Z0-9_ ]*\]|<[A-Z][A-Z0-9_]*>|\{\{\s*\w+\s*\}\}")
_NORM = re.compile(r"[^a-z0-9]+")
# Two quotes this similar say the same thing; show one.
_NEAR_DUPLICATE = 0.95


def strip_placeholders(text: str) -> str:
    return _PLACEHOLDER.sub(" ", text)


def _readable(terms: list[str], max_terms: int = 3) -> str:
    """Join the top terms, skipping ones already covered by a chosen term."""
    chosen: list[str] = []
    covered: set[str] = set()
    for term in terms:
        words = term.split()
        if set(words) <= covered:
            continue
        # A bigram whose words are a chosen unigram + something new replaces that unigram.
        chosen = [c for c in chosen if not (len(c.split()) == 1 and c in words)]
        chosen.append(term)
        covered.update(words)
        if len(chosen) == max_terms:
            break
    label = " / ".join(chosen)
    return label[:1].upper() + label[1:]


def count_rows(vectorizer: Any, texts: Sequence[str]) -> sp.csr_matrix:
    """`vectorizer.fit_transform(texts)`, each distinct text analysed once: the Python
    tokenising is most of the cost, and a window repeats texts (templates, re-exports)."""
    unique, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
    if unique.size == len(texts):
        return vectorizer.fit_transform(texts).tocsr()
    return vectorizer.fit_transform(unique.tolist()).tocsr()[inverse.ravel()]


def ctfidf_matrix(counts: sp.spmatrix, labels: np.ndarray, ids: np.ndarray) -> sp.csr_matrix:
    """(len(ids), n_terms) class-based TF-IDF from per-item term counts (rows of `counts`).

    One document per theme; weight = tf(term, theme) * log(1 + A / f(term)), with tf
    L1-normalised per theme, A the average number of terms per theme and f the term's
    frequency over all themes.
    """
    labels = np.asarray(labels, dtype=np.int64)
    rows = np.flatnonzero(np.isin(labels, ids))
    theme_pos = np.searchsorted(ids, labels[rows])
    indicator = sp.csr_matrix(
        (np.ones(rows.size), (theme_pos, rows)), shape=(len(ids), len(labels))
    )
    tf_counts = (indicator @ counts).tocsr().astype(np.float64)
    freq = np.asarray(tf_counts.sum(axis=0)).ravel()
    avg_terms = tf_counts.sum() / max(len(ids), 1)
    idf = np.log1p(avg_terms / np.maximum(freq, 1.0))
    row_sums = np.asarray(tf_counts.sum(axis=1)).ravel()
    tf = sp.diags(1.0 / np.maximum(row_sums, 1.0)) @ tf_counts
    return (tf @ sp.diags(idf)).tocsr()


class CTfidfLabeller:
    """BERTopic-style c-TF-IDF keywords, a short label and representative quotes per theme.

    c-TF-IDF: one document per theme; weight = tf(term, theme) * log(1 + A / f(term)),
    with tf L1-normalised per theme, A the average number of terms per theme and f the
    term's frequency over all themes.
    """

    def __init__(
        self,
        top_n_words: int = 10,
        ngram_range: tuple[int, int] = (1, 2),
        stop_words: str | list[str] | None = "english",
        n_quotes: int = 5,
        min_quotes: int = 3,
        label_terms: int = 3,
    ) -> None:
        self.top_n_words = top_n_words
        self.ngram_range = ngram_range
        self.stop_words = stop_words
        self.n_quotes = n_quotes
        self.min_quotes = min_quotes
        # Tokenised texts by kind, for the texts object last seen: a copy for the parent
        # level (PhraseLabeller.for_parents) shares it, so one run tokenises once.
        self._term_cache: dict[str, tuple[Any, Any]] = {}
        self.label_terms = label_terms

    def _validate(self) -> None:
        check_int("top_n_words", self.top_n_words, 1)
        check_int("n_quotes", self.n_quotes, 0)
        check_int("min_quotes", self.min_quotes, 0)
        check_int("label_terms", self.label_terms, 1)
        lo, hi = self.ngram_range
        if not (isinstance(lo, int) and isinstance(hi, int) and 1 <= lo <= hi):
            raise ValueError(f"ngram_range: expected (min_n, max_n), got {self.ngram_range!r}")

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[int],
        embeddings: np.ndarray,
        groups: Sequence | None = None,
    ) -> CTfidfLabeller:
        self._validate()
        labels = np.asarray(labels, dtype=np.int64)
        X = l2_normalize(as_matrix("embeddings", embeddings))
        if not (len(texts) == len(labels) == X.shape[0]):
            raise ValueError("texts: texts, labels and embeddings must have the same length")
        if groups is not None and len(groups) != len(labels):
            raise ValueError("groups: expected one group (account id) per text")
        ids = [int(c) for c in np.unique(labels[labels >= 0])]
        self.keywords_: dict[int, list[str]] = {}
        self.scores_: dict[int, list[float]] = {}
        self.labels_text_: dict[int, str] = {}
        self.quotes_: dict[int, list[int]] = {}
        if not ids:
            return self
        self._fit_keywords(texts, labels, ids)
        for cid in ids:
            self.quotes_[cid] = self._quotes(texts, X, labels, cid, groups)
        return self

    def _tokenised(self, kind: str, texts: Sequence[str], make: Callable[[], Any]) -> Any:
        """`make()`, computed once per kind for the same texts object (see __init__)."""
        cache = getattr(self, "_term_cache", None)
        if cache is None:
            cache = self._term_cache = {}
        hit = cache.get(kind)
        if hit is not None and hit[0] is texts:
            return hit[1]
        out = make()
        cache[kind] = (texts, out)
        return out

    def _word_counts(self, texts: Sequence[str]) -> tuple[sp.csr_matrix, np.ndarray]:
        from sklearn.feature_extraction.text import CountVectorizer

        vec = CountVectorizer(
            ngram_range=tuple(self.ngram_range), stop_words=self.stop_words, lowercase=True
        )
        counts = count_rows(vec, [strip_placeholders(t) for t in texts])
        return counts, vec.get_feature_names_out()

    def _fit_keywords(self, texts: Sequence[str], labels: np.ndarray, ids: list[int]) -> None:
        try:
            counts, vocab = self._tokenised(
                f"keywords {tuple(self.ngram_range)} {self.stop_words!r}", texts,
                lambda: self._word_counts(texts))
        except ValueError:  # empty vocabulary (only stop words / placeholders)
            for cid in ids:
                self.keywords_[cid], self.scores_[cid], self.labels_text_[cid] = [], [], ""
            return
        ctfidf = ctfidf_matrix(counts, labels, np.asarray(ids))
        for pos, cid in enumerate(ids):
            row = ctfidf.getrow(pos)
            order = np.lexsort((row.indices, -row.data))[: self.top_n_words]  # ties by term
            terms = [str(vocab[row.indices[i]]) for i in order]
            self.keywords_[cid] = terms
            self.scores_[cid] = [float(row.data[i]) for i in order]
            self.labels_text_[cid] = _readable(terms, self.label_terms)

    def _quotes(
        self,
        texts: Sequence[str],
        X: np.ndarray,
        labels: np.ndarray,
        cid: int,
        groups: Sequence | None,
    ) -> list[int]:
        if self.n_quotes == 0:
            return []
        members = np.flatnonzero(labels == cid)
        centroid = l2_normalize(X[members].sum(axis=0, keepdims=True))[0]
        sims = X[members] @ centroid
        ranked = members[np.lexsort((members, -sims))]  # closest first, ties by index
        chosen: list[int] = []
        seen_text: set[str] = set()
        seen_group: set = set()
        skipped_for_group: list[int] = []
        for i in ranked:
            key = _NORM.sub(" ", texts[i].lower()).strip()
            if key in seen_text or (chosen and float((X[chosen] @ X[i]).max()) >= _NEAR_DUPLICATE):
                continue
            if groups is not None and groups[i] is not None and groups[i] in seen_group:
                skipped_for_group.append(int(i))
                continue
            chosen.append(int(i))
            seen_text.add(key)
            if groups is not None and groups[i] is not None:
                seen_group.add(groups[i])
            if len(chosen) == self.n_quotes:
                return chosen
        # Too few distinct accounts: fill up to min_quotes with same-account items.
        for i in skipped_for_group:
            if len(chosen) >= self.min_quotes:
                break
            key = _NORM.sub(" ", texts[i].lower()).strip()
            if key not in seen_text:
                chosen.append(i)
                seen_text.add(key)
        return chosen
