"""Tone of feedback: an offline lexicon scorer for urgency and sentiment (no model, nothing
downloaded).

Each text is lower-cased, hyphens dropped ("deal-breaker" -> "dealbreaker") and split into
word tokens. A cue is a token in one of the lexicons below; a cue with a negation among the
NEGATION_WINDOW tokens before it ("not urgent", "isn't broken", "no blocker") is negated:
an urgency cue then does not count, a sentiment cue counts for half its weight with the
opposite sign (VADER's rule of thumb). Per text:

- ``urgent``: 1 when at least one urgency cue is not negated, else 0;
- ``sentiment``: s / sqrt(s^2 + 15), s = sum of the signed cue weights, so it lies in
  (-1, 1) and one mild cue reads about -0.25 (VADER's normalisation, alpha = 15).

The lexicons are small and written for B2B product feedback (tickets, notes, calls): the cues
a PM scans for ("blocker", "churn", "cancel", "urgent", "broken", "can't"). Pass your own to
the scorer to extend them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

URGENCY_CUES: frozenset[str] = frozenset({
    "urgent", "urgently", "asap", "immediately", "blocker", "blocking", "blocked",
    "showstopper", "dealbreaker", "critical", "emergency", "outage", "escalate", "escalated",
    "escalation", "deadline", "churn", "churning", "cancel", "cancelling", "canceling",
    "cancellation", "terminate", "leaving", "competitor", "losing",
})

SENTIMENT_CUES: Mapping[str, float] = {
    # negative
    "broken": -2.0, "bug": -1.0, "buggy": -1.5, "crash": -2.0, "crashes": -2.0,
    "fail": -1.5, "fails": -1.5, "failed": -1.5, "failing": -1.5, "error": -1.0,
    "errors": -1.0, "slow": -1.0, "unusable": -2.5, "useless": -2.0, "terrible": -2.5,
    "awful": -2.5, "horrible": -2.5, "frustrating": -2.0, "frustrated": -2.0,
    "annoying": -1.5, "disappointed": -2.0, "disappointing": -2.0, "painful": -1.5,
    "confusing": -1.0, "missing": -0.5, "can't": -1.0, "cannot": -1.0, "unable": -1.0,
    "doesn't": -0.5, "problem": -1.0, "issue": -0.5, "issues": -0.5, "worse": -1.5,
    "hate": -2.5, "blocker": -1.5, "outage": -2.0, "churn": -1.5, "cancel": -1.0,
    # positive
    "love": 2.5, "great": 2.0, "awesome": 2.5, "excellent": 2.5, "nice": 1.5, "happy": 1.5,
    "thanks": 1.0, "thank": 1.0, "helpful": 1.5, "useful": 1.5, "easy": 1.0, "fast": 1.0,
    "good": 1.5, "like": 0.5, "works": 1.0, "lovely": 2.0, "smooth": 1.0,
}

NEGATIONS: frozenset[str] = frozenset({
    "not", "no", "never", "don't", "doesn't", "isn't", "aren't", "wasn't", "weren't",
    "won't", "hardly", "nothing", "neither", "nor", "without",
})
NEGATION_WINDOW = 3
NEGATED_FACTOR = -0.5
NORMALISE_ALPHA = 15.0
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?")


@dataclass(frozen=True)
class Tone:
    """One text's tone: urgent (0/1) and sentiment in (-1, 1)."""

    urgent: int
    sentiment: float


class LexiconToneScorer:
    """Urgency and sentiment per text from cue lexicons with negation handling.

    Stateless: ``fit`` only validates the parameters (the scikit-learn contract is kept
    so the scorer can sit where a learned model would).
    """

    def __init__(self, urgency_cues: frozenset[str] = URGENCY_CUES,
                 sentiment_cues: Mapping[str, float] = SENTIMENT_CUES,
                 negations: frozenset[str] = NEGATIONS,
                 negation_window: int = NEGATION_WINDOW) -> None:
        self.urgency_cues = urgency_cues
        self.sentiment_cues = sentiment_cues
        self.negations = negations
        self.negation_window = negation_window

    def fit(self, texts: Sequence[str] | None = None) -> LexiconToneScorer:
        if not isinstance(self.negation_window, int) or self.negation_window < 0:
            raise ValueError(f"negation_window: expected an int >= 0, got "
                             f"{self.negation_window!r}")
        return self

    def tone(self, text: str) -> Tone:
        """The tone of one text (see the module docstring)."""
        tokens = _TOKEN.findall(text.lower().replace("-", "").replace("\u2019", "'"))
        urgent, s = 0, 0.0
        for i, tok in enumerate(tokens):
            is_urgent = tok in self.urgency_cues
            weight = self.sentiment_cues.get(tok)
            if not is_urgent and weight is None:
                continue
            before = tokens[max(0, i - self.negation_window):i]
            negated = any(b in self.negations for b in before)
            if is_urgent and not negated:
                urgent = 1
            if weight is not None:
                s += weight * (NEGATED_FACTOR if negated else 1.0)
        return Tone(urgent, s / math.sqrt(s * s + NORMALISE_ALPHA))

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """(n, 2) array: urgent (0/1), sentiment per text."""
        self.fit()
        out = np.zeros((len(texts), 2), dtype=float)
        for k, text in enumerate(texts):
            t = self.tone(text)
            out[k] = (t.urgent, t.sentiment)
        return out
