"""Call-note templates are boilerplate even where their snippets cluster together ("Next
steps: Lena to send a recap and roadmap update.", "Great, I'll send a recap ..."), and the
theme such snippets form is chatter: it never reaches a top list."""

from __future__ import annotations

import numpy as np

from mining.chatter import BoilerplateDetector, chatter_themes, sentence_key, template_tail

TOPICS = ["SSO with Okta fails at login for our admins.",
          "The CSV export times out on large reports.",
          "Dashboard widgets load slowly every morning.",
          "Please add an audit log for role changes.",
          "We need EU data residency for our German customers."]
RECAP = "Great, I'll send a recap with next steps by {}."
DAYS = ["Monday", "Tuesday", "Friday"]
REPS = ["Lena", "Noah", "Aisha", "Umar"]


def test_a_template_alone_in_its_snippet_is_boilerplate_and_its_theme_chatter():
    """Call notes: one topic snippet each, then the rep's recap, a snippet of its own that
    clustering put in a theme of its own (5)."""
    texts, labels, records = [], [], []
    for call in range(15):
        texts += [TOPICS[call % 5], RECAP.format(DAYS[call % 3])]
        labels += [call % 5, 5]
        records += [call, call]
    det = BoilerplateDetector().fit(texts, labels, records)
    assert det.templates_ == {template_tail(sentence_key(RECAP.format("Monday")))}
    assert det.chatter_.tolist() == [False, True] * 15
    assert chatter_themes(np.array(labels), det.chatter_, texts=det.stripped_) == {5}


def test_a_named_template_inside_a_brief_is_stripped_whoever_the_rep():
    """The brief's closing line names a different rep each time: one template."""
    texts, labels, records = [], [], []
    for call in range(20):
        texts += [f"The call focused on {TOPICS[call % 5][:-1].lower()}. Next steps: "
                  f"{REPS[call % 4]} to send a recap and roadmap update.", TOPICS[call % 5]]
        labels += [9, call % 5]  # the template pulled every brief into one theme
        records += [call, call]
    det = BoilerplateDetector().fit(texts, labels, records)
    assert det.templates_ == {"to send a recap and roadmap update"}
    assert det.stripped_[0] == "The call focused on sso with okta fails at login for our admins."


def test_a_request_a_few_calls_repeat_is_not_a_template():
    """The same sentence beside many topics, but in a few of the calls only: a request."""
    texts, labels, records = [], [], []
    for call in range(80):  # calls raising two topics each
        texts += [TOPICS[call % 5], TOPICS[(call + 2) % 5]]
        labels += [call % 5, (call + 2) % 5]
        records += [call, call]
        if call % 13 == 0:  # 7 of 80 calls
            texts.append("We would like a dark mode for late shifts.")
            labels.append(7)
            records.append(call)
    det = BoilerplateDetector().fit(texts, labels, records)
    assert det.templates_ == set() and det.boilerplate_ == set()
    assert not det.chatter_.any()
