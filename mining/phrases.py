"""Phrase labels: a short phrase from the members' own words, the way a person names a theme.

KeyBERT-style: candidate phrases are word n-grams that occur in the theme's texts (never
starting or ending on a stop word, never led by a generic word like "need" or "please");
each gets a frequency score (how many members use it x how specific it is to this theme);
with a text encoder, the best candidates are embedded and ranked by closeness to the
theme's centroid, and Maximal Marginal Relevance picks a few diverse `phrases_`. Without an
encoder (tests on arrays, no model) the frequency score decides.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from mining._validate import as_matrix, check_float, check_int, l2_normalize
from mining.contracts import TextEncoder
from mining.label import CTfidfLabeller, count_rows, strip_placeholders

# Words that carry no topic: a label never starts with them (nor ends, for most).
GENERIC_WORDS = frozenset({
    "need", "needs", "needed", "want", "wants", "wanted", "just", "please", "pls", "blocker",
    "blocking", "asap", "urgent", "really", "still", "also", "like", "would", "could",
    "can", "cant", "can't", "dont", "don't", "doesnt", "doesn't", "didnt", "didn't", "get",
    "got", "getting", "know", "think", "let", "lets", "let's", "make", "sure", "thanks",
    "thank", "hi", "hello", "hey", "ok", "okay", "yes", "yeah", "tell", "help", "way",
    "going", "able", "wondering", "try", "trying", "request", "requested", "requesting",
    "ask", "asked", "asking", "customer", "client", "team", "issue", "problem", "thing",
    "things", "stuff", "lot", "lots", "good", "great", "bad", "new", "use", "using",
})  # fmt: skip
# Verb forms that open questions, not topics ("did i spend", "does it cost").
_AUXILIARIES = frozenset({"did", "does", "doing", "done", "is", "are", "was", "were", "am",
                          "has", "have", "had", "will", "shall", "should", "may", "might",
                          "must", "what", "how", "why", "when", "where", "who", "which"})
# A phrase never crosses a sentence or clause boundary.
_CLAUSE = re.compile(r"[,;:!?()\[\]{}\"“”/|\n]+|\.(?:\s|$)|\s[-–—]\s")
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’&+.\-]*[A-Za-z0-9]|[A-Za-z0-9]")
# Length preference: one word is a keyword, not a phrase; very long phrases read badly.
_LENGTH_FACTOR = {1: 0.35, 2: 1.0, 3: 1.0, 4: 0.9, 5: 0.8, 6: 0.7}


def _stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


def clauses(text: str) -> list[list[str]]:
    """Word tokens of each clause (placeholders removed), case kept."""
    return [_TOKEN.findall(c) for c in _CLAUSE.split(strip_placeholders(text))]


def _weak(word: str, stop: frozenset[str]) -> bool:
    """A word that may not open or close a label: a stop or generic word, a contraction of
    one ("what's", "i'm", "don't"), a number or a single letter."""
    head = re.split(r"['’]", word, maxsplit=1)[0]
    return (len(word) < 2 or word.isdigit() or word in stop or word in GENERIC_WORDS
            or head in stop or head in GENERIC_WORDS or head in _AUXILIARIES)


def candidate_phrases(text: str, max_words: int = 5,
                      stop: frozenset[str] | None = None) -> list[str]:
    """Distinct lower-cased n-grams (1..max_words) of `text` that may name a theme."""
    stop = stop if stop is not None else _stop_words()
    out: set[str] = set()
    for toks in clauses(text):
        low = [t.lower() for t in toks]
        weak = [_weak(w, stop) for w in low]
        for i in range(len(low)):
            if weak[i]:
                continue
            for n in range(1, max_words + 1):
                if i + n > len(low):
                    break
                if not weak[i + n - 1]:
                    out.add(" ".join(low[i : i + n]))
    return sorted(out)


def surface_form(phrase: str, texts: Sequence[str]) -> str:
    """The phrase as the members write it most often, first letter upper-cased ("EU data
    residency", "Charged twice for one payment")."""
    words = phrase.split()
    pattern = re.compile(r"(?<![\w])" + r"[^\w]+".join(re.escape(w) for w in words) + r"(?![\w])",
                         re.IGNORECASE)
    forms: Counter[str] = Counter()
    for t in texts:
        forms.update(m.group(0) for m in pattern.finditer(strip_placeholders(t)))
    best = min(forms.items(), key=lambda kv: (-kv[1], kv[0]))[0] if forms else phrase
    best = " ".join(best.split())
    return best[:1].upper() + best[1:]


def mmr(candidates: np.ndarray, relevance: np.ndarray, top_n: int,
        diversity: float) -> list[int]:
    """Maximal Marginal Relevance: indices of `top_n` candidates that are relevant and
    unlike each other (`diversity` 0 = relevance only, 1 = novelty only)."""
    chosen = [int(np.argmax(relevance))]
    sims = candidates @ candidates.T
    while len(chosen) < min(top_n, len(relevance)):
        rest = [i for i in range(len(relevance)) if i not in chosen]
        redundancy = sims[np.ix_(rest, chosen)].max(axis=1)
        score = (1 - diversity) * relevance[rest] - diversity * redundancy
        chosen.append(rest[int(np.argmax(score))])
    return chosen


class PhraseLabeller(CTfidfLabeller):
    """c-TF-IDF keywords and quotes (CTfidfLabeller) plus a phrase label per theme.

    `encoder`: a TextEncoder (e.g. mining.Embedder) in the space of the embeddings given
    to `fit`; None ranks candidates by frequency only. Learned on top of the keyword
    labeller: `labels_text_` (the phrase, cased for reading) and `phrases_` (up to
    `n_phrases` diverse phrases, best first).
    """

    def __init__(
        self,
        encoder: TextEncoder | None = None,
        max_words: int = 5,
        n_candidates: int = 20,
        n_phrases: int = 3,
        diversity: float = 0.5,
        frequency_weight: float = -0.5,
        contrast: float = 2.0,
        top_n_words: int = 10,
        ngram_range: tuple[int, int] = (1, 2),
        stop_words: str | list[str] | None = "english",
        n_quotes: int = 5,
        min_quotes: int = 3,
    ) -> None:
        super().__init__(top_n_words=top_n_words, ngram_range=ngram_range,
                         stop_words=stop_words, n_quotes=n_quotes, min_quotes=min_quotes)
        self.encoder = encoder
        self.max_words = max_words
        self.n_candidates = n_candidates
        self.n_phrases = n_phrases
        self.diversity = diversity
        self.frequency_weight = frequency_weight
        self.contrast = contrast

    def fit(self, texts: Sequence[str], labels: Sequence[int], embeddings: np.ndarray,
            groups: Sequence | None = None) -> PhraseLabeller:
        check_int("max_words", self.max_words, 2)
        check_int("n_candidates", self.n_candidates, 1)
        check_int("n_phrases", self.n_phrases, 1)
        check_float("diversity", self.diversity, 0.0, 1.0)
        check_float("frequency_weight", self.frequency_weight, -10.0, 10.0)
        check_float("contrast", self.contrast, 0.0, 10.0)
        if self.encoder is not None and not isinstance(self.encoder, TextEncoder):
            raise ValueError("encoder: expected an object with an encode(texts) method")
        super().fit(texts, labels, embeddings, groups)
        self.phrases_: dict[int, list[str]] = {}
        labels = np.asarray(labels, dtype=np.int64)
        ids = np.unique(labels[labels >= 0])
        if ids.size:
            self._fit_phrases(list(texts), labels, l2_normalize(as_matrix("embeddings",
                                                                          embeddings)), ids)
        return self

    def _candidates(self, texts: list[str], labels: np.ndarray, ids: np.ndarray
                    ) -> tuple[list[list[str]], list[np.ndarray]]:
        """Per theme: the best candidates by frequency score, and those scores."""
        from sklearn.feature_extraction.text import CountVectorizer

        stop = _stop_words()
        vec = CountVectorizer(analyzer=lambda t: candidate_phrases(t, self.max_words, stop),
                              binary=True)
        try:
            counts = count_rows(vec, texts).tocsc()
        except ValueError:  # no candidate in any text
            return [[] for _ in ids], [np.zeros(0) for _ in ids]
        vocab = vec.get_feature_names_out()
        df_all = np.asarray(counts.sum(axis=0)).ravel()
        n_words = np.array([len(v.split()) for v in vocab])
        length = np.array([_LENGTH_FACTOR.get(int(n), 0.6) for n in n_words])
        rows = np.flatnonzero(labels >= 0)
        pos = np.searchsorted(ids, labels[rows])
        indicator = sp.csr_matrix((np.ones(rows.size), (pos, rows)),
                                  shape=(ids.size, len(labels)))
        df_theme = (indicator @ counts).tocsr()
        sizes = np.bincount(pos, minlength=ids.size)
        out_terms, out_scores = [], []
        for k in range(ids.size):
            row = df_theme.getrow(k)
            need = min(2, int(sizes[k]))
            keep = row.data >= need
            if not (keep & (n_words[row.indices] >= 2)).any():
                # no phrase used twice: a phrase used once reads better than a lone word
                keep = keep | (n_words[row.indices] >= 2)
            idx, df = row.indices[keep], row.data[keep]
            score = (df / sizes[k]) * np.sqrt(df / df_all[idx]) * length[idx]
            order = np.lexsort((idx, -score))[: self.n_candidates]
            out_terms.append([str(vocab[idx[i]]) for i in order])
            out_scores.append(score[order])
        return out_terms, out_scores

    def _fit_phrases(self, texts: list[str], labels: np.ndarray, X: np.ndarray,
                     ids: np.ndarray) -> None:
        terms, scores = self._candidates(texts, labels, ids)
        _, centroids = compute_centroids_of(X, labels, ids)
        vectors: dict[str, np.ndarray] = {}
        if self.encoder is not None:
            unique = sorted({t for ts in terms for t in ts})
            if unique:
                enc = l2_normalize(as_matrix("encoder output",
                                             self.encoder.encode(unique)))
                vectors = dict(zip(unique, enc, strict=True))
        for k, cid in enumerate(ids.tolist()):
            cand, freq = terms[k], scores[k]
            if not cand:
                continue  # keep the keyword label
            multi = np.array([len(t.split()) >= 2 for t in cand])
            if multi.any():  # a phrase reads better than a lone word: words only as fallback
                cand, freq = [t for t, m in zip(cand, multi, strict=True) if m], freq[multi]
            rel = freq / max(float(freq.max()), 1e-12)
            if vectors:
                # Weights tuned on CLINC150 train/val (bench/bench_mining.py --themes):
                # among candidates the frequency score already picked, the most frequent
                # are often words shared with neighbours ("my credit card"), so by default
                # frequency counts slightly against a phrase (frequency_weight < 0).
                E = np.stack([vectors[t] for t in cand])
                S = E @ centroids.T
                # Close to this theme, and not as close to another: a label that tells the
                # theme apart from its neighbours ("Next song" rather than "Play the song").
                own = S[:, k].copy()
                S[:, k] = -1.0
                other = S.max(axis=1) if S.shape[1] > 1 else np.zeros_like(own)
                rel = own + self.contrast * (own - other) + self.frequency_weight * rel
                picked = mmr(E, rel, self.n_phrases, self.diversity)
            else:
                picked = list(np.argsort(-rel, kind="stable")[: self.n_phrases])
            members = [texts[i] for i in np.flatnonzero(labels == cid)]
            phrases = [surface_form(cand[i], members) for i in picked]
            self.phrases_[cid] = phrases
            self.labels_text_[cid] = phrases[0]


def compute_centroids_of(X: np.ndarray, labels: np.ndarray, ids: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Unit-norm centroids of exactly `ids` (in that order)."""
    C = np.zeros((ids.size, X.shape[1]), dtype=np.float32)
    for k, cid in enumerate(ids.tolist()):
        C[k] = X[labels == cid].sum(axis=0)
    return ids, l2_normalize(C)
