"""A call-note template that is a snippet of its own ("Great, I'll send a recap ...") is
boilerplate, and the theme such snippets form is chatter: it never reaches a top list."""

from __future__ import annotations

import numpy as np

from mining.chatter import BoilerplateDetector, chatter_themes, sentence_key

TOPICS = ["SSO with Okta fails at login for our admins.",
          "The CSV export times out on large reports.",
          "Dashboard widgets load slowly every morning.",
          "Please add an audit log for role changes.",
          "We need EU data residency for our German customers."]
RECAP = "Great, I'll send a recap with next steps by {}."
DAYS = ["Monday", "Tuesday", "Friday"]


def _calls(recap_theme: int = 5):
    """Call notes: one topic snippet each (label = the topic), then the rep's recap, a
    snippet of its own that clustering put in a theme of its own."""
    texts, labels, records = [], [], []
    for call in range(15):
        topic = call % len(TOPICS)
        texts += [TOPICS[topic], RECAP.format(DAYS[call % 3])]
        labels += [topic, recap_theme]
        records += [call, call]
    return texts, labels, records


def test_a_template_alone_in_its_snippet_is_boilerplate_and_its_theme_chatter():
    texts, labels, records = _calls()
    det = BoilerplateDetector().fit(texts, labels, records)
    assert det.boilerplate_ == {sentence_key(RECAP.format("Monday"))}
    assert det.chatter_.tolist() == [False, True] * 15
    assert chatter_themes(np.array(labels), det.chatter_, texts=det.stripped_) == {5}


def test_a_request_repeated_alone_stays_a_request():
    """The same sentence alone in many records, but asking for something: not boilerplate,
    whatever themes the rest of those records are about."""
    texts, labels, records = [], [], []
    for call in range(15):
        texts += [TOPICS[call % 4], "We would like a dark mode."]
        labels += [call % 4, 9]
        records += [call, call]
    det = BoilerplateDetector().fit(texts, labels, records)
    assert det.boilerplate_ == set() and not det.chatter_.any()


def test_a_template_whose_records_are_about_one_thing_is_not_boilerplate():
    """Alone in its snippet but always beside the same topic: a part of that need."""
    texts, labels, records = [], [], []
    for call in range(15):
        texts += [TOPICS[0], "Okta is our identity provider for everyone."]
        labels += [0, 7]
        records += [call, call]
    det = BoilerplateDetector().fit(texts, labels, records)
    assert det.boilerplate_ == set()
