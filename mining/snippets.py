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


def _content_words(text: str) -> int:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    words = _WORD.findall(_SPEAKER.sub("", text))
    return sum(1 for w in words if w.lower() not in ENGLISH_STOP_WORDS)


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
    if granularity == "window" and count(text) <= max_tokens and "\n" not in text:
        return [text]
    sentences = [s for s in split_sentences(text) if not _is_trivial(s)]
    if not sentences:
        return [text]
    if granularity == "sentence":
        return _sentence_snippets(sentences, max_tokens, count, min_content_words) or [text]
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
    return snippets or [text]


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
