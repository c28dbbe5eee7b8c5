"""The lexicon tone scorer on hand-labelled sentences (urgent? and the sign of sentiment)."""

from __future__ import annotations

import json

import pytest

from mining.sentiment import LexiconToneScorer

from .test_trends import World, cli  # noqa: F401  (the `cli` fixture)

# (text, urgent, sentiment sign: -1 negative, 0 neutral, 1 positive), labelled by hand
LABELLED = [
    ("SSO is a blocker for our renewal, we need it ASAP", 1, -1),
    ("Export to CSV is broken again and the team is frustrated", 0, -1),
    ("We will cancel our contract if the API keeps failing", 1, -1),
    ("Not urgent, but a dark mode would be nice", 0, 1),
    ("This isn't a blocker for us, just a nice-to-have", 0, 1),
    ("Love the new dashboard, thanks!", 0, 1),
    ("We can't roll out to all staff without SAML", 0, -1),
    ("Please add a Shopify integration", 0, 0),
    ("The sync isn't broken anymore, it works great", 0, 1),
    ("Critical outage in the EU region, customers are churning", 1, -1),
    ("Our legal team has a deadline for EU data residency", 1, 0),
    ("No problem with the importer so far", 0, 1),
]


@pytest.mark.parametrize("text, urgent, sign", LABELLED)
def test_hand_labelled(text, urgent, sign):
    tone = LexiconToneScorer().tone(text)
    assert tone.urgent == urgent, text
    got = 0 if abs(tone.sentiment) < 0.05 else (1 if tone.sentiment > 0 else -1)
    assert got == sign, (text, tone.sentiment)
    assert -1 < tone.sentiment < 1


def test_transform_and_parameters():
    scores = LexiconToneScorer().transform(["urgent: it is broken", "thanks"])
    assert scores.shape == (2, 2) and scores[0, 0] == 1 and scores[0, 1] < 0 < scores[1, 1]
    with pytest.raises(ValueError, match="negation_window"):
        LexiconToneScorer(negation_window=-1).fit()


def test_trends_and_theme_show_tone(settings, db, cli):  # noqa: F811
    from datetime import UTC, datetime, timedelta

    from warehouse.queries import top_trends

    w = World(db)
    w.account("acme", "enterprise", 100_000)
    hot, calm = w.theme("SSO"), w.theme("Dark mode")
    now = datetime.now(UTC)
    w.feedback("acme", now - timedelta(days=3), [hot], text="SSO is a blocker, we need it ASAP")
    w.feedback("acme", now - timedelta(days=2), [hot], text="Login is broken without SSO")
    w.feedback("acme", now - timedelta(days=2), [calm], text="Love the app, dark mode would "
               "be nice")
    rows = {r.theme_id: r for r in top_trends(db, now - timedelta(days=30))}
    assert rows[hot].urgent_share == 0.5 and rows[hot].sentiment < 0
    assert rows[calm].urgent_share == 0 and rows[calm].sentiment > 0
    out = cli("trends", "--format", "json").output
    assert {r["theme_id"]: r["urgent_share"] for r in json.loads(out)} == {hot: 0.5, calm: 0}
    shown = cli("theme", str(hot)).output
    assert "urgent 50%" in shown and "tone -" in shown
