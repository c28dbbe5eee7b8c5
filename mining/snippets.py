"""Split long texts (call transcripts, long notes) into embeddable snippets."""

from __future__ import annotations

import re
from collections.abc import Callable

# Abbreviations whose trailing dot does not end a sentence.
_ABBREV = (
    "e.g.", "i.e.", "etc.", "vs.", "mr.", "mrs.", "ms.", "dr.", "prof.", "inc.", "ltd.",
    "approx.", "no.", "fig.", "cf.", "st.", "jr.", "sr.", "co.", "corp.", "u.s.",
)  # fmt: skip
_ABBREV_RE = re.compile(r"(?i)(?<![\w.])(" + "|".join(re.escape(a) for a in _ABBREV) + r")")
_PROTECT = "\x00"
# A sentence ends at . ! ? (possibly repeated, possibly followed by quotes/brackets) + space.
_SENT_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")
# A speaker turn at the start of a line: "Alice: ...", "Rep (Acme): ...", "SPEAKER 1: ...".
_SPEAKER = re.compile(r"^\s*[A-Z][\w .'()-]{0,40}?:\s+(?=\S)")
_TRIVIAL_WORDS = {
    "ok", "okay", "thanks", "thank", "you", "hi", "hello", "hey", "bye", "goodbye", "yes",
    "no", "yeah", "yep", "sure", "great", "cool", "right", "uh", "um", "hmm", "so", "and",
    "cheers", "morning", "good", "afternoon", "evening", "all", "everyone", "there", "much",
    "mhm", "alright", "perfect", "got", "it", "sounds", "see", "ya", "talk", "soon", "later",
}  # fmt: skip
_WORD = re.compile(r"[\w'’]+")
# Words that mark a sentence as asking for something, and connectives that open another
# request ("Also: ...", "They also want ..."). Complaint words (broken, slow, error) are
# left out on purpose: a ticket's sentences about one problem would be cut apart.
_REQUEST_CUE = re.compile(
    r"(?i)(?:\b(?:needs?|needed|wants?|wanted|would(?: also)? (?:like|love)|wish(?:es)?|"
    r"ask(?:s|ed|ing)? (?:for|again)|request(?:ed|ing)|looking for|"
    r"missing|lacks?|must|hard req|blocker|please (?:add|support|make|let)|support for|"
    r"ability to|option to|any plans?|roadmap|when will|feature|"
    r"(?:can|could|would|will) (?:you|we|they) (?:add|support|get|have|build|make))\b|"
    r"'d(?: also)? (?:like|love)\b)"
)
_ANOTHER = re.compile(r"(?i)^\s*(?:also|plus|additionally|separately|another)\b|\balso\b")


def _approx_tokens(text: str) -> int:
    # ~1.3 word pieces per English word for MiniLM-style tokenisers.
    return int(len(_WORD.findall(text)) * 1.3 + 0.999)


def split_sentences(text: str) -> list[str]:
    """Regex sentence split that keeps "e.g.", "3.5", "v2.1" and speaker turns intact."""
    out: list[str] = []
    for line in re.split(r"\n\s*\n|\n(?=\s*[A-Z][\w .'()-]{0,40}?:\s)|\n", text):
        line = line.strip()
        if not line:
            continue
        # Protect abbreviation dots; decimals/versions never match (no space after the dot).
        protected = _ABBREV_RE.sub(lambda m: m.group(0).replace(".", _PROTECT), line)
        for part in _SENT_END.split(protected):
            part = part.replace(_PROTECT, ".").strip()
            if part:
                out.append(part)
    return out


def _is_trivial(text: str) -> bool:
    words = [w.lower() for w in _WORD.findall(_SPEAKER.sub("", text))]
    return len(words) < 3 or all(w in _TRIVIAL_WORDS for w in words)


def _stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return ENGLISH_STOP_WORDS


def _content_words(text: str) -> int:
    words = _WORD.findall(_SPEAKER.sub("", text))
    return sum(1 for w in words if w.lower() not in _stop_words())


def split_snippets(
    text: str,
    max_tokens: int = 128,
    count_tokens: Callable[[str], int] | None = None,
    granularity: str = "window",
    min_content_words: int = 3,
) -> list[str]:
    """Split `text` into snippets, each <= `max_tokens`.

    ``granularity="window"`` (default): short single-line texts stay whole; longer or
    multi-line ones become windows of consecutive sentences packed up to `max_tokens`.
    ``granularity="sentence"``: one snippet per sentence (or line, bullet, speaker turn); a
    sentence with fewer than `min_content_words` non-stop words ("Any ETA?", "Flagged to
    PM.") is glued to the one before it (after it, when first). Measured on the 3,000-record
    demo world (seed 7): sentences separate the several requests of a call, but 10,525
    snippets instead of 3,190 made 322 themes instead of 124 (each recurring sentence
    pattern forms its own dense group) and NMI on single-topic records fell from 0.75 to
    0.57, so windows stay the default.
    In window mode a record that raises two or more requests (`request_units`: request
    cues such as "needs", "would like", "asked for", "Also: ...") is first cut before each
    later request, so each request feeds its own theme ("Customer needs SSO with Okta.
    They also asked for a Salesforce integration." gives two snippets); the trend tables
    count a record once per theme. On the demo world (3,000 records, seed 7) this splits 43
    of the 103 CRM notes that raise two themes, and 92 of ~2,330 one-theme notes, tickets and
    ideas (two request sentences about one need; both snippets then share a theme).
    Trivial sentences (fewer than 3 words, greetings, "ok thanks") are dropped unless
    nothing else is left. Deterministic.
    """
    if not isinstance(max_tokens, int) or max_tokens < 8:
        raise ValueError(f"max_tokens: expected an int >= 8, got {max_tokens!r}")
    if granularity not in ("sentence", "window"):
        raise ValueError(f"granularity: expected 'sentence' or 'window', got {granularity!r}")
    count = count_tokens or _approx_tokens
    text = text.strip()
    if not text:
        return [text]
    sentences = [s for s in split_sentences(text) if not _is_trivial(s)]
    if not sentences:
        return [text]
    if granularity == "sentence":
        return _sentence_snippets(sentences, max_tokens, count, min_content_words) or [text]
    requests = request_units(sentences, min_content_words)
    if len(requests) >= 2:  # a note raising two requests feeds two themes
        return [w for unit in requests for w in _windows(unit, max_tokens, count)]
    if count(text) <= max_tokens and "\n" not in text:
        return [text]
    return _windows(sentences, max_tokens, count) or [text]


def is_request(sentence: str, min_content_words: int = 3) -> bool:
    """Does the sentence ask for something of its own: a request cue plus at least
    `min_content_words` other non-stop words (one fewer after "also": "Also: wants SSO
    before renewal"), so that "Need answer by EOQ." or "Asked for timeline." are not."""
    text = _SPEAKER.sub("", sentence)
    if text.lstrip().startswith(">") or _REQUEST_CUE.search(text) is None:
        return False  # a quoted earlier reply asks nothing new
    need = min_content_words - 1 if _ANOTHER.search(sentence) else min_content_words
    return _topic_words(_REQUEST_CUE.sub(" ", text)) >= need


def _topic_words(text: str) -> int:
    """Words that can name what is asked for: not stop words, not generic ones ("lot",
    "thing", "team"), so "a lot of people are asking for the same thing" names nothing."""
    from mining.phrases import GENERIC_WORDS

    return sum(1 for w in _WORD.findall(text)
               if w.lower() not in _stop_words() and w.lower() not in GENERIC_WORDS)


def request_units(sentences: list[str], min_content_words: int = 3) -> list[list[str]]:
    """Cut the sentences before each request sentence (`is_request`) that follows another
    one (the first may name what it asks in one word fewer): each group then holds one
    request, with the context around it. One request (or none): one group, the sentences
    as they are."""
    groups: list[list[str]] = [[]]
    asked = False  # does the current group hold a request already?
    for sent in sentences:
        # the first request may be terse ("Mtg notes: wants SSO before renewal."); a later
        # one needs its full say, so "Need answer by EOQ." stays context
        request = is_request(sent, min_content_words - (0 if asked else 1))
        if asked and request:
            groups.append([])
        groups[-1].append(sent)
        asked = asked or request
    return groups


def _windows(sentences: list[str], max_tokens: int, count: Callable[[str], int]
             ) -> list[str]:
    """Consecutive sentences packed into windows of at most `max_tokens`."""
    snippets: list[str] = []
    window: list[str] = []
    used = 0
    for sent in sentences:
        n = count(sent)
        if window and used + n > max_tokens:
            snippets.append(" ".join(window))
            window, used = [], 0
        if n > max_tokens:  # one over-long sentence: cut it on word boundaries
            snippets.extend(_cut_words(sent, max_tokens, count))
            continue
        window.append(sent)
        used += n
    if window:
        snippets.append(" ".join(window))
    return snippets


def _sentence_snippets(
    sentences: list[str], max_tokens: int, count: Callable[[str], int], min_words: int
) -> list[str]:
    units: list[str] = []
    pending = ""  # short sentences before the first real one
    for sent in sentences:
        if _content_words(sent) < min_words:
            if units and count(units[-1]) + count(sent) <= max_tokens:
                units[-1] = f"{units[-1]} {sent}"
            else:
                pending = f"{pending} {sent}".strip()
            continue
        if pending:
            sent, pending = f"{pending} {sent}", ""
        units.append(sent)
    if pending:
        units.append(pending)
    out: list[str] = []
    for unit in units:
        out.extend(_cut_words(unit, max_tokens, count) if count(unit) > max_tokens else [unit])
    return out


def _cut_words(sentence: str, max_tokens: int, count: Callable[[str], int]) -> list[str]:
    pieces: list[str] = []
    words: list[str] = []
    for word in sentence.split():
        if words and count(" ".join([*words, word])) > max_tokens:
            pieces.append(" ".join(words))
            words = []
        words.append(word)
    if words:
        pieces.append(" ".join(words))
    return pieces
