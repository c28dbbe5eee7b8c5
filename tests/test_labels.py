"""Labels a PM keeps: complete phrases, no question scaffolding, unique, stable, parents
named as families."""

from __future__ import annotations

import numpy as np
import pytest

from mining import PhraseLabeller, ThemeModel
from mining.phrases import (
    candidate_phrases,
    complete_phrases,
    dangling_end,
    family_label,
    unique_labels,
)


class WordEncoder:
    """A stand-in text encoder: bag of words hashed into 64 dims."""

    def encode(self, items):
        out = np.zeros((len(items), 64), dtype=np.float32)
        for i, t in enumerate(items):
            for w in t.lower().split():
                out[i, sum(map(ord, w)) % 64] += 1
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


@pytest.mark.parametrize("label", ["how can i freeze", "cheque deposit hasn't", "how to link",
                                   "app doesn't believe", "european bank card for top",
                                   "where do my funds come", "transfer isnt"])
def test_cut_off_labels_are_dangling(label: str) -> None:
    assert dangling_end(label.split())


@pytest.mark.parametrize("label", ["freeze my card", "card doesn't work", "top up my card",
                                   "top up", "audit log", "transfer didn't arrive",
                                   "cheque deposit not in balance", "log in"])
def test_complete_labels_are_not_dangling(label: str) -> None:
    assert not dangling_end(label.split())


def test_candidates_drop_question_scaffolding_and_cut_off_ends() -> None:
    found = candidate_phrases("How can I freeze my card?")
    assert "freeze my card" in found
    assert not any(p.startswith(("how", "can", "i ")) or dangling_end(p.split())
                   for p in found if " " in p)
    assert "cheque deposit hasn't" not in candidate_phrases("My cheque deposit hasn't cleared")
    assert "top up" in candidate_phrases("I want to top up")


def test_a_verb_is_completed_with_its_most_common_object() -> None:
    texts = ["How can I freeze my card?", "please freeze my card", "freeze my card now",
             "freeze my account", "can you freeze it"]
    # 3 of 5 uses go on "my card": enough for a verb that needs its object
    assert complete_phrases(["freeze"], texts) == ["freeze my card"]
    # a phrasal verb takes its particle
    assert complete_phrases(["top"], ["top up my card", "how to top up", "top up with pay"]
                            ) == ["top up"]
    # a complete phrase is only lengthened when the members almost always go on the same way
    assert complete_phrases(["card declined"], ["card declined at shop", "card declined",
                                                "card declined online"]) == ["card declined"]


def test_labeller_labels_are_complete_unique_and_stable() -> None:
    texts = ["How can I freeze my card?", "I need to freeze my card", "please freeze my card",
             "how do i freeze my card", "How can I link my card to the app?",
             "how to link my card to the app", "link my card to the app please",
             "can you link my card to the app", "freeze my card right now",
             "i want to freeze my card today"]
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2])  # 0 and 2: the same need twice
    enc = WordEncoder()
    emb = enc.encode(texts)
    lab = PhraseLabeller(encoder=enc).fit(texts, labels, emb)
    shown = list(lab.labels_text_.values())
    assert lab.labels_text_[0] == "Freeze my card"
    assert lab.labels_text_[1].lower().startswith("link my card")
    assert len({v.lower() for v in shown}) == len(shown)  # theme 2 gets another name
    assert not any(dangling_end(v.lower().split()) for v in shown)
    # float noise in the embeddings never changes a label
    noisy = emb + np.random.default_rng(0).normal(0, 1e-7, emb.shape).astype(np.float32)
    again = PhraseLabeller(encoder=enc).fit(list(texts), labels, noisy)
    assert again.labels_text_ == lab.labels_text_


def test_unique_labels_keep_the_largest_and_fall_back_in_order() -> None:
    out = unique_labels({0: "Audit log", 1: "Audit log", 2: "SSO", 3: "audit LOG"},
                        {0: 5, 1: 10, 2: 3, 3: 5},
                        lambda c: {0: ["SSO", "Audit log export"], 3: ["How to"]}.get(c, []))
    assert out[1] == "Audit log"  # the largest keeps it
    assert out[0] == "Audit log export"  # "SSO" is taken
    assert out[3] == "audit LOG · 3"  # no usable alternative
    assert len({v.lower() for v in out.values()}) == 4


def test_family_label_joins_two_distinct_phrases() -> None:
    assert family_label(["Audit logs", "Audit log export", "Compliance"]) == \
        "Audit logs & compliance"
    assert family_label(["SAML SSO", "SCIM provisioning"]) == "SAML SSO & SCIM provisioning"
    assert family_label(["Audit logs", "audit log"]) == "Audit logs"


def test_parents_are_named_as_families() -> None:
    rng = np.random.default_rng(0)
    needs = [["audit log export", "export the audit log", "audit log export to siem"],
             ["compliance report for soc2", "soc2 compliance report", "compliance report"],
             ["dark mode", "please add dark mode", "dark mode for the app"]]
    centres = np.eye(3, 16, dtype=np.float32)
    texts, X, need_of = [], [], []
    for k, need in enumerate(needs):
        for i in range(30):
            texts.append(need[i % len(need)])
            X.append(centres[k] + rng.normal(0, 0.01, 16))
            need_of.append(k)
    from mining.cluster import HDBSCANClusterer
    from mining.reduce import PCAReducer

    m = ThemeModel(reducer=PCAReducer(4), clusterer=HDBSCANClusterer(min_cluster_size=10),
                   merger=False, grouper=False, labeller=PhraseLabeller()
                   ).fit(np.array(X, dtype=np.float32))
    need_of = np.array(need_of)
    leaf_need = [int(np.bincount(need_of[m.labels_ == c]).argmax()) for c in m.cluster_ids_]
    m.group_parents(np.array([0 if n < 2 else 1 for n in leaf_need])).label(texts)
    assert m.parent_labels_text_[0] == "Audit log & compliance report"
    dark = int(m.cluster_ids_[np.array(leaf_need) == 2][0])
    assert m.parent_labels_text_[1] == m.labels_text_[dark] == "Dark mode"


class NoisyEncoder(WordEncoder):
    """WordEncoder plus float noise in the last digits, new on every call (another batch,
    a vector read back from the phrase cache)."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def encode(self, items):
        out = super().encode(items)
        return out + self.rng.normal(0, 1e-6, out.shape).astype(np.float32)


def test_tied_candidates_are_broken_by_text_not_float_noise() -> None:
    # "card lock" and "lock card" embed the same (a bag of words) and are used alike
    texts = ["lock card now", "card lock now", "lock card", "card lock",
             "dark mode please", "dark mode for the app", "add dark mode", "dark mode"]
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    emb = WordEncoder().encode(texts)
    seen = {PhraseLabeller(encoder=NoisyEncoder(seed)).fit(texts, labels, emb).labels_text_[0]
            for seed in range(8)}
    assert seen == {"Card lock"}


def test_the_rest_of_a_question_with_a_noun_subject_is_not_the_label() -> None:
    # "Could dark mode follow the OS?": "dark mode follow the os" is what the question leaves
    texts = ["Could dark mode follow the OS setting?", "could dark mode follow the OS",
             "Hi. Could dark mode follow the OS?", "we want dark mode please",
             "dark mode at night", "Please make dark mode follow the OS"]
    other = ["csv export please", "export to csv", "csv export fails", "the csv export"]
    labels = np.array([0] * len(texts) + [1] * len(other))
    enc = WordEncoder()
    lab = PhraseLabeller(encoder=enc).fit(texts + other, labels, enc.encode(texts + other))
    assert lab.labels_text_[0] == "Dark mode"
    from mining.phrases import _Corpus

    assert _Corpus(texts).remnant(["dark", "mode", "follow", "the", "os"])
    assert not _Corpus(["I can freeze my card", "freeze my card"]).remnant(["freeze", "my",
                                                                              "card"])


def test_a_family_is_named_by_short_phrases() -> None:
    assert family_label(["Hotel in Phoenix near Chase Field", "Uber for 6 people", "Hotel",
                         "Car rental"]) == "Hotel & car rental"
    assert family_label(["Hotel in Phoenix near Chase Field"]) == \
        "Hotel in Phoenix near Chase Field"  # no short one: the best as it is
    assert PhraseLabeller(n_phrases=3).for_parents().n_phrases == 6


def test_the_label_names_what_most_members_share_not_one_members_detail() -> None:
    hotels = ["find a hotel with good reviews in phoenix near chase field",
              "hotel in phoenix near chase field with good reviews",
              "find me a hotel with good reviews in boston", "a hotel with good reviews in rome",
              "find a hotel in paris with good reviews", "hotel with good reviews in lima",
              "which hotel has good reviews in oslo"]
    flights = ["status of flight dl123", "what is the status of flight dl123",
               "flight dl123 status please", "is flight ua90 on time", "status of my flight",
               "flight status for ua90 today"]
    texts = hotels + flights
    labels = np.array([0] * len(hotels) + [1] * len(flights))
    enc = WordEncoder()
    lab = PhraseLabeller(encoder=enc).fit(texts, labels, enc.encode(texts))
    hotel, flight = lab.labels_text_[0].lower(), lab.labels_text_[1].lower()
    assert "hotel" in hotel and "review" in hotel and "phoenix" not in hotel, hotel
    assert "flight" in flight and not any(c.isdigit() for c in flight), flight


def test_stems_count_word_forms_as_one() -> None:
    from mining.phrases import stem

    assert stem("reviews") == stem("review")
    assert stem("taxes") == stem("tax")
    assert stem("charged") == stem("charging") == stem("charge")
    assert stem("addresses") == stem("address") != stem("add")


def test_names_stay_within_six_words() -> None:
    from mining.phrases import family_alternatives, surface_form

    # "&" between two words of a phrase is a word more: only while the label stays short
    assert surface_form("pasta pizza", ["pasta & pizza", "pasta & pizza"]) == "Pasta & pizza"
    assert surface_form("day on my calendar alarm for", ["day on my calendar & alarm for 9"] * 2
                        ) == "Day on my calendar alarm for"
    assert len(family_label(["Day on my calendar", "Alarm for 9 tomorrow", "Set alarm",
                             "Calendar"]).split()) <= 6
    assert len(family_label(["Calendar for me", "Alarm for 9 tomorrow"]).split()) <= 6
    assert family_alternatives(["Day on my calendar", "Alarms"],
                               ["Day on my calendar & alarm for 9 tomorrow", "Set an alarm"]
                               ) == ["Alarms", "Set an alarm"]
