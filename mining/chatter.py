"""Chatter: boilerplate sentences found in the data, and themes made of nothing else.

Call-note templates ("No product topics were discussed", "Sent roadmap deck."), greetings
and sign-offs recur word for word across many records that are otherwise about different
things. A request sentence may recur too ("We export everything to Excel just to pivot
it."), but its records then sit together in one theme. So a sentence is *boilerplate* when
it occurs, beside other content, in at least `min_records` records spread over at least
`min_themes` themes, none holding more than `max_theme_share` of them. A call-note template
("Next steps: Lena to send a recap and roadmap update.") often defeats that test: the
template dominates its snippets, which then cluster together in one theme of their own. It
is boilerplate too when it recurs in at least `template_share` of the records that have
other snippets, and the theme of the rest of those records (the calls it closes) spreads the
same way. No list of phrases is hard-coded. A record with nothing left but boilerplate and a
few words is chatter.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from mining._validate import check_float, check_int
from mining.snippets import _REQUEST_CUE, split_sentences

# A snippet that asks, reports a problem or puts a question: a theme where almost no
# snippet does ("Happy holidays!", "Test ticket, please ignore") is small talk, not a need.
_PROBLEM = re.compile(
    r"(?i)\b(?:broken|bugs?|errors?|fail\w*|crash\w*|slow\w*|issues?|problems?|block\w*|"
    r"complain\w*|frustrat\w*|time[sd]? out|timing out|can'?t|cannot|unable|doesn'?t|won'?t|"
    r"not working|hurt\w*|unusable|stuck|wrong|lost|declined|charged|"
    # a change for the worse or a limit met: "used to open instantly, now spins", "we ran out"
    r"used to|no longer|ran out|run(?:ning)? out|freez\w*|hangs?|spin(?:s|ning)?|"
    r"takes? (?:forever|ages)|too (?:slow|long|many|few|hard|expensive|rigid|complex)|"
    r"pain(?:ful\w*)?|confus\w*|unclear|limit(?:s|ed)? (?:hit|reached))\b")
# a request said politely without a request word ("Please allow more than 10 custom fields")
_PLEASE = re.compile(
    r"(?i)\bplease (?:allow|add|support|make|let us|enable|provide|consider|fix|improve|"
    r"build|include|extend|increase|raise|change|offer|implement|bring|look into)\b")
# a question, or an instruction ("Add a dark mode", "switch to whisper mode")
_QUESTION = re.compile(
    r"(?i)\?|^\W*(?:what|how|why|when|where|who|which|is|are|can|could|would|will|do|does|"
    r"did|should|may|any|add|allow|enable|disable|let|make|change|turn|switch|set|put|remove|"
    r"delete|update|show|give|send|cancel|reset|fix|support|sync|export|import|go)\b")
# Arranging the meeting itself ("Does Tuesday the week after next work for you?", "I'll
# send the invite"): a question about that asks for nothing in the product, so it does not
# count as one. Only questions are discounted: "wants SSO, see you Tuesday" still asks.
_LOGISTICS = re.compile(
    r"(?i)\b(?:works? (?:for|with) (?:you|me|us|everyone|both of us|your team)|suits? you|"
    r"are you (?:free|available)|(?:your|my|our|their) availability|align\w* calendars?|"
    r"(?:calendar )?invites?|agenda|reschedul\w*|rebook\w*|talk (?:then|soon)|"
    r"see you (?:then|there|soon)|meet (?:up|in person|onsite))\b")
_NORM = re.compile(r"[^a-z0-9]+")


def _asks_sentence(sentence: str) -> bool:
    if _REQUEST_CUE.search(sentence) or _PROBLEM.search(sentence) or _PLEASE.search(sentence):
        return True
    return bool(_QUESTION.search(sentence)) and not _LOGISTICS.search(sentence)


def asks(text: str) -> bool:
    """Does the text ask for something, report a problem or put a question (one about the
    product: a question arranging a meeting does not count)?"""
    return any(_asks_sentence(s) for s in split_sentences(text) or [text])


_WORD = re.compile(r"[A-Za-z][A-Za-z'’]+")


_SPEAKER = re.compile(r"^\s*[A-Z][\w .'()-]{0,40}?:\s+(?=\S)")
# Names, dates and numbers vary inside a template ("Great, I'll send a recap with next steps
# by Monday."): a capitalised word after the first, and any word with a digit, is a slot.
_SLOT = re.compile(r"(?<=\s)[A-Z][\w'’.-]*|\S*\d\S*")


def sentence_key(sentence: str) -> str:
    """The sentence as a template: speaker, names, dates and numbers out, lower-cased."""
    text = _SLOT.sub(" ", _SPEAKER.sub("", sentence))
    return _NORM.sub(" ", text.lower()).strip()


def template_tail(key: str) -> str | None:
    """A sentence template without its first word: the slot a name fills at the start of a
    call-note line ("Lena to send a recap", "Noah agreed to follow up") that `sentence_key`
    cannot tell from an ordinary first word. None for templates of under four words."""
    words = key.split(" ")
    return " ".join(words[1:]) if len(words) >= 4 else None


def _parse(text: str) -> tuple[list[str], list[str], list[int]]:
    """A text's sentences, their templates (`sentence_key`) and word counts."""
    sents = split_sentences(text)
    return sents, [sentence_key(s) for s in sents], [len(_WORD.findall(s)) for s in sents]


class BoilerplateDetector:
    """Learn boilerplate sentences from texts and their (first-pass) theme labels.

    Give it coarse themes (the parent level): one need is often several leaves, and a
    request sentence spread over the leaves of one parent is not boilerplate. Measured on
    the demo world (3,000 records, seed 7): with parents and these defaults the 43
    sentences found are sign-offs, staff replies and call-note templates; with leaves (or
    a looser share) real request sentences ("compliance asking for audit trail") slip in.

    Learned: `boilerplate_` (normalised sentences), `templates_` (call-note templates, as
    `template_tail`s: the first word may vary), `chatter_` (bool per text: nothing but
    boilerplate and fewer than `min_content_words` other words), `stripped_` (each text
    without its boilerplate sentences; the text itself when nothing else is left).
    """

    def __init__(self, min_records: int = 5, max_theme_share: float = 0.34,
                 min_themes: int = 4, min_content_words: int = 3,
                 template_share: float = 0.1) -> None:
        self.min_records = min_records
        self.max_theme_share = max_theme_share
        self.min_themes = min_themes
        self.min_content_words = min_content_words
        self.template_share = template_share

    def fit(self, texts: Sequence[str], labels: Sequence[int],
            records: Sequence | None = None) -> BoilerplateDetector:
        """`records` (optional): the record each text comes from, so that one record's
        snippets count once."""
        check_int("min_records", self.min_records, 2)
        check_float("max_theme_share", self.max_theme_share, 0.0, 1.0)
        check_int("min_themes", self.min_themes, 1)
        check_int("min_content_words", self.min_content_words, 0)
        check_float("template_share", self.template_share, 0.0, 1.0)
        labels = np.asarray(labels, dtype=np.int64)
        if len(texts) != labels.size:
            raise ValueError("labels: expected one label per text")
        records = list(range(len(texts))) if records is None else list(records)
        # each distinct text's sentences, their templates and word counts, once (a window
        # repeats texts: templates, "Thanks!"; both passes below read them)
        parsed = {t: _parse(t) for t in dict.fromkeys(texts)}
        sentences, keys, words = (list(x) for x in zip(*(parsed[t] for t in texts), strict=True)
                                  ) if len(texts) else ([], [], [])
        # sentence -> {record: label}, over records where the sentence has company: a
        # record that is nothing but the sentence lands in whatever theme such records
        # form together, which says nothing about the sentence.
        where: dict[str, dict] = defaultdict(dict)
        # sentence -> {record: the theme of the rest of that record}
        around: dict[str, dict] = defaultdict(dict)
        context = self._record_context(labels, records, words)
        for i, (ks, ws) in enumerate(zip(keys, words, strict=True)):
            total = sum(ws)
            for key, w in zip(ks, ws, strict=True):
                if total - w >= self.min_content_words:
                    where[key].setdefault(records[i], int(labels[i]))
                if i in context and (tail := template_tail(key)):
                    around[tail].setdefault(records[i], context[i])
        # Measured on the demo world (10,000 records, seed 7): the four call templates recur
        # in 270-505 of the records with other snippets, beside 25-26 themes; the most
        # repeated customer sentence in 84, so a template_share of 0.1 parts them.
        common = self.template_share * len({records[i] for i in context})
        self.boilerplate_: set[str] = {key for key, recs in where.items()
                                       if key and self._spread(recs)}
        self.templates_: set[str] = {tail for tail, recs in around.items()
                                     if len(recs) >= common and self._spread(recs)}
        self.stripped_, chatter = [], []
        for text, sents, ks, ws in zip(texts, sentences, keys, words, strict=True):
            keep = [k not in self.boilerplate_ and template_tail(k) not in self.templates_
                    for k in ks]
            kept = [s for s, y in zip(sents, keep, strict=True) if y]
            chatter.append(sum(w for w, y in zip(ws, keep, strict=True) if y)
                           < self.min_content_words)
            self.stripped_.append(" ".join(kept) if kept else text)
        self.chatter_ = np.array(chatter, dtype=bool)
        return self


    def _spread(self, recs: dict) -> bool:
        """Records enough, over themes enough, none holding too large a share."""
        if len(recs) < self.min_records:
            return False
        themes = Counter(recs.values())
        top = themes.most_common(1)[0][1] / len(recs)
        return top <= self.max_theme_share and len(themes) >= self.min_themes

    def _record_context(self, labels: np.ndarray, records: list, words: list[list[int]]
                        ) -> dict[int, int]:
        """{text index: the most common theme among the OTHER texts of its record that have
        content of their own} (texts of a record with no such other text are left out)."""
        by_record: dict = defaultdict(list)
        for i, rec in enumerate(records):
            by_record[rec].append(i)
        out: dict[int, int] = {}
        for members in by_record.values():
            if len(members) < 2:
                continue
            for i in members:
                others = Counter(int(labels[j]) for j in members
                                 if j != i and labels[j] != labels[i]
                                 and sum(words[j]) >= self.min_content_words)
                if others:
                    out[i] = min(others, key=lambda t: (-others[t], t))
        return out


def chatter_themes(labels: np.ndarray, chatter: np.ndarray, min_share: float = 0.5,
                   asking: np.ndarray | None = None, min_ask_share: float = 0.15,
                   texts: Sequence[str] | None = None) -> set[int]:
    """Theme ids whose members are mostly chatter (at least `min_share`), or, given
    `asking` (bool per member: `asks`) or the `texts` to ask it of, where fewer than
    `min_ask_share` of the members ask, complain or question anything. Measured: on the
    demo world (3,000 records, seed 7) 16% of the off-topic records' snippets ask, of every
    product theme's 80-98%; of the 151 CLINC150 test intents only "goodbye", "thank_you",
    "yes" and "maybe" stay under 15%. With `texts`, a theme's members are asked only until
    enough of them ask (a product theme: about a sixth), with the same result."""
    labels = np.asarray(labels, dtype=np.int64)
    out = set()
    for cid in np.unique(labels[labels >= 0]).tolist():
        member = np.flatnonzero(labels == cid)
        if float(chatter[member].mean()) >= min_share:
            out.add(int(cid))
        elif asking is not None:
            if float(asking[member].mean()) < min_ask_share:
                out.add(int(cid))
        elif texts is not None and not _enough_ask(texts, member, min_ask_share):
            out.add(int(cid))
    return out


def _enough_ask(texts: Sequence[str], member: np.ndarray, min_share: float) -> bool:
    """Do at least `min_share` of the member texts ask? Stops as soon as it knows."""
    need, seen = min_share * member.size, 0
    for done, i in enumerate(member.tolist(), start=1):
        seen += asks(texts[i])
        if seen >= need:
            return True
        if seen + member.size - done < need:
            return False
    return seen >= need


def chatter_parents(parent_of: np.ndarray, sizes: np.ndarray, chatter_leaf: np.ndarray,
                    min_share: float = 0.5) -> set[int]:
    """Parent numbers with at least `min_share` of their snippets in chatter leaves
    (`parent_of`, `sizes`, `chatter_leaf`: one entry per leaf)."""
    out = set()
    for p in np.unique(parent_of).tolist():
        leaves = parent_of == p
        if sizes[leaves & chatter_leaf].sum() >= min_share * sizes[leaves].sum():
            out.add(int(p))
    return out


def separate_chatter(parent_of: np.ndarray, chatter_leaf: np.ndarray) -> np.ndarray:
    """Parent numbers with the chatter leaves that sit among product leaves moved to one new
    parent of their own (`parent_of`, `chatter_leaf`: one entry per leaf). A product parent
    then holds, counts and is labelled after product leaves only (a scheduling call's leaf
    grouped with product leaves named the parent "Upcoming onsite"); a parent of chatter
    leaves only is left as it is."""
    parent_of = np.asarray(parent_of, dtype=np.int64)
    chatter_leaf = np.asarray(chatter_leaf, dtype=bool)
    if parent_of.shape != chatter_leaf.shape:
        raise ValueError("chatter_leaf: expected one entry per leaf")
    mixed = [p for p in np.unique(parent_of[chatter_leaf]).tolist()
             if not chatter_leaf[parent_of == p].all()]
    stray = chatter_leaf & np.isin(parent_of, mixed)
    out = parent_of.copy()
    if stray.any():
        out[stray] = int(parent_of.max()) + 1
    return out
