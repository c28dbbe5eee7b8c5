"""Phrase labels: a short phrase from the members' own words, the way a person names a theme.

KeyBERT-style: candidate phrases are word n-grams that occur in the theme's texts (never
starting or ending on a stop word, never led by a generic word like "need" or "please";
a question word may open a leaf's label: "How many PTO days"); with a text encoder, the
candidates whose words are most typical of the theme are embedded and ranked by closeness
to the theme's centroid, by how much closer that is than to the nearest other theme, and
by how many members each is the closest candidate to; Maximal Marginal Relevance picks a
few diverse `phrases_`. Without an encoder (tests on arrays, no model) a frequency score
(how many members use it x how specific it is to this theme) decides.
"""

from __future__ import annotations

import copy
import functools
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
# Words in sklearn's stop list that name things: a phrase may start or end on them ("Due
# date on the bill", "Pay my utility bill", "Dark mode follow the operating system"). Not
# its adverbs and verbs ("last", "next", "back", "show", "call", "find"): as label ends they
# read as cut off ("Who deleted a report last"); tried on CLINC150 val and the demo set.
_LABEL_WORDS = frozenset({"amount", "bill", "bottom", "detail", "due", "fire", "front",
                          "interest", "name", "part", "side", "system", "top"})
# Verb forms that open questions, not topics ("did i spend", "does it cost").
_AUXILIARIES = frozenset({"did", "does", "doing", "done", "is", "are", "was", "were", "am",
                          "has", "have", "had", "will", "shall", "should", "may", "might",
                          "must", "what", "how", "why", "when", "where", "who", "which"})
# A phrase never crosses a sentence or clause boundary (punctuation, or a conjunction that
# opens a clause: "Shopify app so our store", "Sync into Salesforce so reps" are fragments).
_CLAUSE = re.compile(r"[,;:!?()\[\]{}\"“”/|\n]+|\.(?:\s|$)|\s[-–—]\s"
                     r"|\s(?:so|because|but|although|though|unless|whereas)\s", re.IGNORECASE)
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’&+.\-]*[A-Za-z0-9]|[A-Za-z0-9]")
# Length preference: one word is a keyword, not a phrase; very long phrases read badly.
_LENGTH_FACTOR = {1: 0.35, 2: 1.0, 3: 1.0, 4: 0.9, 5: 0.8, 6: 0.7}
# A label is completed while its members go on with the same word this often (see
# complete_phrases), up to the longest label a theme may have.
_CONTINUED, _MAX_LABEL_WORDS = 0.8, 6
# Question words may open a leaf's label ("How many PTO days", "When is the next payday"):
# many requests are questions, and the question word often tells two themes apart. Not
# the other auxiliaries: on CLINC150 train/val they scored about the same (0.774 / 0.788
# vs 0.770 / 0.766) but read as fragments ("Is true", "Does my todo list").
_QUESTION_LEADS = frozenset({"what", "how", "why", "when", "where", "who", "which"})
# Small ranking terms (tuned with the other weights on CLINC150 train/val): the mean log
# typicality / specificity of the phrase's words (see _WordStats).
_WORD_TYPICAL, _WORD_SPECIFIC = 0.1, 0.05


def _stop_words() -> frozenset[str]:
    """sklearn's English stop words, less the words a label needs (its docs list the
    list's known issues)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) - _LABEL_WORDS


def clauses(text: str) -> list[list[str]]:
    """Word tokens of each clause (placeholders removed), case kept."""
    return [_TOKEN.findall(c) for c in _CLAUSE.split(strip_placeholders(text))]


@functools.lru_cache(maxsize=1 << 16)  # called for every token of every text
def _weak(word: str, stop: frozenset[str]) -> bool:
    """A word that may not open or close a label: a stop or generic word, a contraction of
    one ("what's", "i'm", "don't"), a number or a single letter."""
    head = re.split(r"['’]", word, maxsplit=1)[0]
    return (len(word) < 2 or word.isdigit() or word in stop or word in GENERIC_WORDS
            or head in stop or head in GENERIC_WORDS or head in _AUXILIARIES)


def candidate_phrases(text: str, max_words: int = 5,
                      stop: frozenset[str] | None = None,
                      leads: frozenset[str] = frozenset()) -> list[str]:
    """Distinct lower-cased n-grams (1..max_words) of `text` that may name a theme. A phrase
    never starts or ends on a weak word, except that words in `leads` may open it ("how
    many pto days", "when is the next payday")."""
    stop = stop if stop is not None else _stop_words()
    out: set[str] = set()
    for toks in clauses(text):
        low = [t.lower() for t in toks]
        weak = [_weak(w, stop) for w in low]
        for i in range(len(low)):
            if weak[i] and low[i] not in leads:
                continue
            for n in range(1, max_words + 1):
                if i + n > len(low):
                    break
                if not weak[i + n - 1]:
                    out.add(" ".join(low[i : i + n]))
    return sorted(out)


def complete_phrases(phrases: Sequence[str], texts: Sequence[str],
                     stop: frozenset[str] | None = None) -> list[str]:
    """Each phrase lengthened, one word at a time, while the members who use it almost
    always go on with the same content word (>= `_CONTINUED` of its uses, within the
    clause, and at least two uses: one member's next word is as likely a detail, "What 80
    divided buy"), up to `_MAX_LABEL_WORDS`: a phrase cut off at a modifier reads as a
    fragment ("Remove me from this mailing" -> "... mailing list", "How to improve my
    credit" -> "... credit score")."""
    corpus, stop = _Corpus(texts), stop if stop is not None else _stop_words()
    return [corpus.completed(p, stop) for p in phrases]


def surface_form(phrase: str, texts: Sequence[str]) -> str:
    """The phrase as the members write it most often, first letter upper-cased ("EU data
    residency", "Charged twice for one payment")."""
    return surface_forms([phrase], texts)[0]


def surface_forms(phrases: Sequence[str], texts: Sequence[str]) -> list[str]:
    """`surface_form` of each phrase over the same texts, searched as one string (a
    parent's phrases are searched in thousands of members)."""
    corpus = _Corpus(texts)
    return [corpus.surface_form(p) for p in phrases]


class _Corpus:
    """Texts (placeholders removed) as one string, searched for phrases case aside: built
    once per theme for both `complete_phrases` and `surface_forms`.

    The separator "_" is a word character that no token holds, so neither the run of
    spaces and punctuation between a phrase's words nor the space before its next word
    spans two texts. The lower-cased copy is searched with a case-sensitive pattern that
    opens on a literal word: at 100k items, compiling case-insensitive patterns and
    scanning with look-behind-led ones cost the labelling 3-4 s."""

    _NEXT = re.compile(r"[ \t]+(" + _TOKEN.pattern + ")")
    _WORD = re.compile(r"\w")

    def __init__(self, texts: Sequence[str]) -> None:
        self.text = "\n_\n".join(strip_placeholders(t) for t in texts)
        low = self.text.lower()
        self.low = low if len(low) == len(self.text) else None  # lower() kept the offsets

    def completed(self, phrase: str, stop: frozenset[str]) -> str:
        """`complete_phrases` of one phrase."""
        words = phrase.split()
        while len(words) < _MAX_LABEL_WORDS:
            after = Counter(self._next_word(end) for _, end in self._find(words))
            word, count = after.most_common(1)[0] if after else (None, 0)
            if word is None or _weak(word, stop) or count < max(2, _CONTINUED * after.total()):
                break
            words.append(word)
        return " ".join(words)

    def surface_form(self, phrase: str) -> str:
        """`surface_form` of one phrase."""
        forms = Counter(self.text[start:end] for start, end in self._find(phrase.split()))
        best = min(forms.items(), key=lambda kv: (-kv[1], kv[0]))[0] if forms else phrase
        best = " ".join(best.split())
        return best[:1].upper() + best[1:]

    def _find(self, words: Sequence[str]) -> list[tuple[int, int]]:
        """(start, end) of each use of the words, in this order and as whole words."""
        body = r"[^\w]+".join(re.escape(w.lower()) for w in words) + r"(?![\w])"
        if self.low is None:
            found = re.finditer(r"(?<![\w])" + body, self.text, re.IGNORECASE)
            return [m.span() for m in found]
        return [m.span() for m in re.finditer(body, self.low)
                if m.start() == 0 or not self._WORD.match(self.low, m.start() - 1)]

    def _next_word(self, end: int) -> str | None:
        """The word right after a use ending at `end`, in the same clause (None if none)."""
        m = self._NEXT.match(self.text if self.low is None else self.low, end)
        return m.group(1).lower() if m else None


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
    labeller: `labels_text_` (the phrase, cased for reading), `phrases_` (up to
    `n_phrases` diverse phrases, best first) and `candidates_` (every ranked candidate,
    lower-cased, best first, the first completed as the label is: the pool the label came
    from, for a rename or a measure of how often the pool held a better name).

    With an encoder, every multi-word phrase any member uses is a candidate (a phrase used
    by one member only may still name the theme best: "credit limit increased"); the
    `n_candidates` whose words are most typical of the theme (used by many members, rare
    elsewhere) are embedded and ranked by: closeness to the theme centroid, plus
    `contrast` x how much closer that is than to the nearest other theme, plus
    `member_weight` x the share of members to which it is the closest candidate, plus
    small terms for how typical and specific its words are to the theme.
    """

    def __init__(
        self,
        encoder: TextEncoder | None = None,
        max_words: int = 5,
        n_candidates: int = 40,
        n_phrases: int = 3,
        diversity: float = 0.5,
        contrast: float = 2.0,
        member_weight: float = 0.2,
        question_leads: bool = True,
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
        self.contrast = contrast
        self.member_weight = member_weight
        self.question_leads = question_leads

    def for_parents(self) -> PhraseLabeller:
        """A shallow copy (the encoder shared) for parent themes: a parent spans several
        needs, so its label is a topic, never a question (on CLINC150 train/val, parent
        labels against the 10 domain names: 0.48 / 0.41 with every auxiliary as a lead,
        0.53 / 0.76 without leads)."""
        twin = copy.copy(self)
        twin.question_leads = False
        return twin

    def fit(self, texts: Sequence[str], labels: Sequence[int], embeddings: np.ndarray,
            groups: Sequence | None = None) -> PhraseLabeller:
        check_int("max_words", self.max_words, 2)
        check_int("n_candidates", self.n_candidates, 1)
        check_int("n_phrases", self.n_phrases, 1)
        check_float("diversity", self.diversity, 0.0, 1.0)
        check_float("contrast", self.contrast, 0.0, 10.0)
        check_float("member_weight", self.member_weight, 0.0, 10.0)
        if self.encoder is not None and not isinstance(self.encoder, TextEncoder):
            raise ValueError("encoder: expected an object with an encode(texts) method")
        super().fit(texts, labels, embeddings, groups)
        self.phrases_: dict[int, list[str]] = {}
        self.candidates_: dict[int, list[str]] = {}
        labels = np.asarray(labels, dtype=np.int64)
        ids = np.unique(labels[labels >= 0])
        if ids.size:
            self._fit_phrases(texts if isinstance(texts, list) else list(texts), labels,
                              l2_normalize(as_matrix("embeddings", embeddings)), ids)
        return self

    def _candidates(self, texts: list[str], labels: np.ndarray, ids: np.ndarray
                    ) -> list[dict[str, np.ndarray]]:
        """Per theme: its candidate phrases ("terms") with their features, best first by
        the frequency score (no encoder) or by how typical their words are (encoder)."""
        from sklearn.feature_extraction.text import CountVectorizer

        stop = _stop_words()
        leads = _QUESTION_LEADS if self.question_leads and self.encoder is not None \
            else frozenset()
        vec = CountVectorizer(
            analyzer=lambda t: candidate_phrases(t, self.max_words, stop, leads), binary=True)
        try:
            counts = count_rows(vec, texts).tocsr()
        except ValueError:  # no candidate in any text
            return [{"terms": np.zeros(0, dtype=object)} for _ in ids]
        vocab = vec.get_feature_names_out()
        df_all = np.asarray(counts.sum(axis=0)).ravel()
        n_words = np.array([v.count(" ") + 1 for v in vocab])
        length = np.array([_LENGTH_FACTOR.get(int(n), 0.6) for n in n_words])
        rows = np.flatnonzero(labels >= 0)
        pos = np.searchsorted(ids, labels[rows])
        indicator = sp.csr_matrix((np.ones(rows.size), (pos, rows)),
                                  shape=(ids.size, len(labels)))
        df_theme = (indicator @ counts).tocsr()
        sizes = np.bincount(pos, minlength=ids.size)
        words = (_WordStats(*self._tokenised("clause words", texts, lambda: clause_words(texts)),
                            vocab, indicator, stop) if self.encoder is not None else None)
        out = []
        for k in range(ids.size):
            row = df_theme.getrow(k)
            idx, df = row.indices, row.data
            multi = n_words[idx] >= 2
            if words is None:
                # frequency only: phrases used by at least two members first
                keep = df >= min(2, int(sizes[k]))
                if not (keep & multi).any():
                    keep = keep | multi  # a phrase used once reads better than a lone word
                idx, df = idx[keep], df[keep]
                score = (df / sizes[k]) * np.sqrt(df / df_all[idx]) * length[idx]
                feats: dict[str, np.ndarray] = {}
            else:
                if multi.any():  # a phrase reads better than a lone word: words as fallback
                    idx, df = idx[multi], df[multi]
                feats = words.features(k, idx, sizes[k])
                score = feats["word_typical"] + feats["word_specific"] + np.log(df)
            order = np.lexsort((idx, -score))[: self.n_candidates]
            idx, df = idx[order], df[order]
            out.append({"terms": vocab[idx], "df": df.astype(np.float64),
                        "df_all": df_all[idx].astype(np.float64), "n_words": n_words[idx],
                        "score": score[order],
                        **{name: f[order] for name, f in feats.items()}})
        return out

    def _fit_phrases(self, texts: list[str], labels: np.ndarray, X: np.ndarray,
                     ids: np.ndarray) -> None:
        cands = self._candidates(texts, labels, ids)
        _, centroids = compute_centroids_of(X, labels, ids)
        stop = _stop_words()
        vectors: dict[str, np.ndarray] = {}
        if self.encoder is not None:
            unique = sorted({str(t) for c in cands for t in c["terms"]})
            if unique:
                enc = l2_normalize(as_matrix("encoder output",
                                             self.encoder.encode(unique)))
                vectors = dict(zip(unique, enc, strict=True))
        for k, cid in enumerate(ids.tolist()):
            c = cands[k]
            cand = [str(t) for t in c["terms"]]
            if not cand:
                self.candidates_[cid] = []
                continue  # keep the keyword label
            members = np.flatnonzero(labels == cid)
            if vectors:
                E = np.stack([vectors[t] for t in cand])
                rel = self._relevance(E, c, centroids, k, X[members])
                picked = mmr(E, rel, self.n_phrases, self.diversity)
                ranked = np.argsort(-rel, kind="stable")
            else:
                if (c["n_words"] >= 2).any():  # words only as a fallback
                    c["score"] = np.where(c["n_words"] >= 2, c["score"], -np.inf)
                ranked = np.argsort(-c["score"], kind="stable")
                picked = list(ranked[: self.n_phrases])
                picked = [i for i in picked if np.isfinite(c["score"][i])] or picked[:1]
            corpus = _Corpus([texts[i] for i in members])
            complete = [corpus.completed(cand[i], stop) for i in picked]
            # the label heads the pool as shown (picked[0] is ranked[0])
            self.candidates_[cid] = [complete[0]] + [cand[i] for i in ranked[1:]]
            phrases = [corpus.surface_form(p) for p in complete]
            self.phrases_[cid] = phrases
            self.labels_text_[cid] = phrases[0]

    def _relevance(self, E: np.ndarray, c: dict[str, np.ndarray], centroids: np.ndarray,
                   k: int, members: np.ndarray) -> np.ndarray:
        """Ranking score of theme k's candidates (embedded as rows of E). Weights tuned on
        CLINC150 train and val (bench/bench_mining.py --themes; test held out)."""
        S = E @ centroids.T
        own = S[:, k].copy()
        S[:, k] = -1.0
        # Close to this theme, and not as close to another: a label that tells the theme
        # apart from its neighbours ("Next song" rather than "Play the song").
        other = S.max(axis=1) if S.shape[1] > 1 else np.zeros_like(own)
        # Which candidate each member is closest to: a phrase that stands for many
        # members, not for the centroid's blend of them.
        nearest = np.bincount((members @ E.T).argmax(axis=1), minlength=len(E))
        return (own + self.contrast * (own - other)
                + self.member_weight * nearest / len(members)
                + _WORD_TYPICAL * c["word_typical"] + _WORD_SPECIFIC * c["word_specific"])


def clause_words(texts: Sequence[str]) -> tuple[sp.csr_matrix, dict[str, int]]:
    """(texts x words) incidence of the lower-cased words of each text's clauses, and the
    word index."""
    from sklearn.feature_extraction.text import CountVectorizer

    vec = CountVectorizer(analyzer=lambda t: {w.lower() for c in clauses(t) for w in c},
                          binary=True)
    counts = count_rows(vec, texts)
    return counts, {w: i for i, w in enumerate(vec.get_feature_names_out())}


class _WordStats:
    """Per theme, how typical (share of members using it) and how specific (share of its
    uses inside the theme) each word of a candidate phrase is; a phrase gets the mean log
    of each over its content words ("add grapes to my shopping": "grapes" is one member's)."""

    def __init__(self, counts: sp.csr_matrix, index: dict[str, int], vocab: np.ndarray,
                 indicator: sp.csr_matrix, stop: frozenset[str]) -> None:
        self.df_theme = (indicator @ counts).tocsr()  # (themes, words)
        self.df_all = np.maximum(np.asarray(counts.sum(axis=0)).ravel(), 1)
        # phrase x word incidence over content words, rows averaging (1 / n content words)
        r, cidx, val = [], [], []
        for p, phrase in enumerate(vocab):
            ws = phrase.split()
            content = [w for w in ws if not _weak(w, stop)] or ws
            for w in content:
                r.append(p)
                cidx.append(index[w])
                val.append(1.0 / len(content))
        self.incidence = sp.csr_matrix((val, (r, cidx)), shape=(len(vocab), len(index)))

    def features(self, k: int, idx: np.ndarray, size: int) -> dict[str, np.ndarray]:
        df = self.df_theme.getrow(k).toarray().ravel()
        rows = self.incidence[idx]
        return {"word_typical": rows @ np.log(np.maximum(df / size, 1e-3)),
                "word_specific": rows @ np.log(np.maximum(df / self.df_all, 1e-3))}


def compute_centroids_of(X: np.ndarray, labels: np.ndarray, ids: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Unit-norm centroids of exactly `ids` (in that order)."""
    C = np.zeros((ids.size, X.shape[1]), dtype=np.float32)
    for k, cid in enumerate(ids.tolist()):
        C[k] = X[labels == cid].sum(axis=0)
    return ids, l2_normalize(C)
