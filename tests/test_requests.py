"""A note that raises two requests feeds two themes (issue 12).

Unit level: `split_snippets` cuts a record before its second request sentence and leaves
one-request records (and every CLINC150 request) whole. Database level: records built from
the demo world's theme fragments are mined for real (Postgres, the default model); a CRM
note asking for SSO and a Salesforce integration lands in both themes, and counts once in
each theme's records.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
import pytest

from demoworld.catalog import THEME_BY_KEY
from mining.snippets import request_units, split_sentences, split_snippets
from warehouse.mine import mine

NOW = datetime(2025, 6, 2, tzinfo=UTC)
TWO = "Customer needs SSO with Okta before renewal. They also asked for a Salesforce integration."


@pytest.mark.parametrize(("text", "parts"), [
    (TWO, 2),
    ("We need SCIM provisioning for Okta. We'd also like audit logs streamed to Splunk.", 2),
    ("Mtg notes: wants SSO before renewal. Blocker for expansion. Need answer by EOQ. "
     "Also: no SFDC integration = blocker.", 2),
    # one request with its context and rep shorthand: whole
    ("Call w/ Ana + CFO. needs 2-way Salesforce sync. Escalate if no ETA by Monday. "
     "Asked for timeline.", 1),
    ("Is SAML SSO on the roadmap? We would like to connect Okta.", 1),
    ("Hi team, our export is broken. It fails every time with error 500. Thanks, Bob", 1),
])
def test_split_snippets_gives_each_request_its_own_snippet(text: str, parts: int) -> None:
    snippets = split_snippets(text)
    assert len(snippets) == parts, snippets
    assert len(request_units(split_sentences(text))) == parts
    if parts == 1:
        assert snippets == [text]
    else:  # nothing lost, order kept
        assert " ".join(snippets).split() == text.split()


def _fill(fragment: str) -> str:
    slots = {"idp": "Okta", "team": "finance", "n_users": "300", "area": "Reports",
             "exec": "CISO", "weekday": "Monday", "n_rows": "50k", "month": "March"}
    return re.sub(r"\{(\w+)\}", lambda m: slots.get(m.group(1), "two"), fragment)


def _records() -> list[tuple[str, str]]:
    """(text, theme key): each theme's asks, alone and with each context sentence."""
    out = []
    for key in ("sso_saml", "salesforce_integration", "csv_export", "mobile_app",
                "dashboard_performance", "audit_log"):
        t = THEME_BY_KEY[key]
        for ask in t.asks:
            out.append((_fill(ask), key))
            out.extend((f"{_fill(ask)} {_fill(c)}", key) for c in t.contexts)
    return out


def _small_talk() -> list[tuple[str, str]]:
    """Records that ask for nothing: season's greetings, thanks, test tickets."""
    lines = ["Happy holidays from all of us at {c}!", "Merry Christmas and a happy new year "
             "to the whole {c} team.", "Test ticket from {c}, please ignore.",
             "Thanks for the quick reply, have a great weekend! Cheers from {c}",
             "Season's greetings to everyone at {c}, enjoy the break."]
    companies = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay"]
    talk = [(line.format(c=c), "small_talk") for line in lines for c in companies]
    # sales-call logistics: a question, but about the meeting, not the product
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Monday"]
    talk += [(f"Short call with {c} to align calendars for the upcoming onsite. No product "
              f"topics were discussed. Does {d} the week after next work for you? Perfect, "
              "talk then.", "small_talk") for c, d in zip(companies, days, strict=True)]
    talk += [(f"Rescheduled the QBR with {c} to next {d}. Can you send the calendar invite "
              "and the agenda?", "small_talk") for c, d in zip(companies, days, strict=True)]
    return talk


@pytest.mark.parametrize(("text", "asking"), [
    ("Does Tuesday the week after next work for you? Perfect, talk then.", False),
    ("Works for me. I'll send the invite and an agenda.", False),
    ("Can we reschedule the QBR to Friday?", False),
    ("Test ticket, please ignore.", False),
    ("Does the API support webhooks?", True),
    ("Onsite mtg - wants fuzzy search. See you Tuesday.", True),  # a request beside logistics
    ("Please allow more than 10 custom fields, we ran out.", True),
    ("Reports that used to open instantly now spin for a long time.", True),
    ("The app freezes when we open a dashboard with more than 3 widgets.", True),
])
def test_asks_is_about_the_product_not_the_meeting(text: str, asking: bool) -> None:
    from mining.chatter import asks

    assert asks(text) is asking


def test_clinc150_small_talk_alone_asks_nothing() -> None:
    """Of CLINC150's 151 test intents only goodbye, thank_you, yes and maybe have fewer than
    15% of requests that ask (the chatter threshold): scheduling intents (meeting_schedule,
    schedule_meeting, calendar) still ask."""
    from mining.chatter import asks
    from mining.evaluate import load_labelled_csv
    from tests.conftest import CLINC150

    if not (CLINC150 / "test.csv").is_file():
        pytest.skip(f"clinc150 not found at {CLINC150} (set TRENDMINE_CLINC150_DIR)")
    texts, intents = load_labelled_csv(CLINC150 / "test.csv")
    asking: dict[str, list[bool]] = {}
    for text, intent in zip(texts, intents, strict=True):
        asking.setdefault(intent, []).append(asks(text))
    low = {k for k, v in asking.items() if np.mean(v) < 0.15}
    assert low == {"goodbye", "thank_you", "yes", "maybe"}, low


def test_separate_chatter_gives_stray_chatter_leaves_a_parent_of_their_own() -> None:
    from mining.chatter import separate_chatter

    # parent 0: two product leaves and a chatter one; parent 1: chatter only; parent 2: a
    # chatter leaf beside a bigger product leaf
    parent_of = np.array([0, 0, 0, 1, 1, 2, 2])
    chatter = np.array([False, False, True, True, True, True, False])
    assert separate_chatter(parent_of, chatter).tolist() == [0, 0, 3, 1, 1, 3, 2]
    assert separate_chatter(parent_of, np.zeros(7, bool)).tolist() == parent_of.tolist()


def test_chatter_themes_and_parents_by_what_members_ask() -> None:
    from mining.chatter import asks, chatter_parents, chatter_themes

    texts = ["Happy holidays from all of us!", "Test ticket, please ignore.",
             "We need SSO with Okta.", "Exports time out on big reports",
             "Can you add a dark mode?", "Thanks for the quick reply"]
    asking = [asks(t) for t in texts]
    assert asking == [False, False, True, True, True, False]
    labels = np.array([0, 0, 1, 1, 1, 2])
    none = np.zeros(len(texts), bool)
    assert chatter_themes(labels, none, asking=np.array(asking)) == {0, 2}
    assert chatter_themes(labels, none) == set()  # without `asking`: boilerplate only
    assert chatter_themes(labels, none, texts=texts) == {0, 2}  # asked lazily, same answer
    # the lazy path stops early but decides the same on themes of every ask share
    rng = np.random.default_rng(3)
    many = [texts[i] for i in rng.integers(0, len(texts), 600)]
    lab = rng.integers(0, 40, 600)
    lab[:20], many[:20] = 40, [texts[5]] * 20  # one theme of thanks only
    full = np.array([asks(t) for t in many])
    eager = chatter_themes(lab, np.zeros(600, bool), asking=full)
    assert 40 in eager
    for share in (0.15, 0.5, 0.7):
        assert chatter_themes(lab, np.zeros(600, bool), texts=many, min_ask_share=share) == (
            chatter_themes(lab, np.zeros(600, bool), asking=full, min_ask_share=share))
    # parents over leaves 0, 1, 2: leaf 0 and 2 under parent 5, leaf 1 under parent 6
    assert chatter_parents(np.array([5, 6, 5]), np.array([2, 3, 1]),
                           np.array([True, False, True])) == {5}


def test_a_note_with_two_requests_lands_in_both_themes(services, tmp_path):
    from tests.conftest import make_settings

    settings = make_settings(services, tmp_path)
    records = [*_records(), *_small_talk(), (TWO, "both")]
    with psycopg.connect(settings.dsn(), autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO trendmine.feedback (source, source_id, account_id, text, text_hash, "
            "created_at) VALUES ('crm_notes', %s, %s, %s, %s, %s)",
            [(f"r{k}", f"acct{k % 41}", text, f"h{k}", NOW - timedelta(days=1 + k % 50))
             for k, (text, _) in enumerate(records)])
    mine(settings, now=NOW, mode="full")
    with psycopg.connect(settings.dsn()) as conn:
        rows = conn.execute(
            "SELECT f.source_id, ft.ord, ft.theme_id FROM trendmine.feedback_theme ft "
            "JOIN trendmine.feedback f USING (feedback_id)").fetchall()
        two_id = f"r{len(records) - 1}"
        n_feedback = dict(conn.execute(
            "SELECT theme_id, n_feedback FROM trendmine.themes").fetchall())
        distinct = dict(conn.execute(
            "SELECT theme_id, count(DISTINCT feedback_id) FROM trendmine.feedback_theme "
            "GROUP BY 1").fetchall())
    key_of = {f"r{k}": key for k, (_, key) in enumerate(records)}
    votes: dict[str, Counter] = {}
    for sid, _, tid in rows:
        votes.setdefault(key_of[sid], Counter())[tid] += 1
    # a need may span two leaves: a theme is the need's when most of its records are
    majority = Counter()
    for tid in {t for _, _, t in rows}:
        majority[tid] = Counter({k: c[tid] for k, c in votes.items()}).most_common(1)[0][0]
    got = {ord_: majority[tid] for sid, ord_, tid in rows if sid == two_id}
    assert got == {0: "sso_saml", 1: "salesforce_integration"}, (got, votes)
    # a record counts once per theme, however many of its snippets the theme holds
    assert all(n_feedback[t] == distinct[t] for t in distinct)
    # small talk is chatter, and so is a parent made of it; product parents are shown
    # with their own counts
    with psycopg.connect(settings.dsn()) as conn:
        themes = {r[0]: r[1:] for r in conn.execute(
            "SELECT theme_id, level, visibility, parent_theme_id, n_feedback, n_accounts "
            "FROM trends.themes WHERE status = 'active'").fetchall()}
    talk = {t for t, key in majority.items() if key == "small_talk"}
    assert talk and all(themes[t][1] == "chatter" for t in talk), (talk, themes)
    for pid, (level, vis, _, n, accounts) in themes.items():
        if level != "parent":
            continue
        leaves = [t for t, v in themes.items() if v[2] == pid]
        assert n > 0 and accounts > 0
        assert (vis == "chatter") == all(t in talk for t in leaves), (pid, vis, leaves)
