"""`emerging` answers first, in a sentence, and each theme carries quotes."""

from __future__ import annotations

from datetime import date

from warehouse.queries import EmergingRow, emerging_headline, theme_quotes

from .test_trends import World


def _row(label: str, accounts: int, lift: float | None, pipeline: float = 0.0,
         is_new: bool = False) -> EmergingRow:
    return EmergingRow(1, 7, label, is_new, date(2024, 3, 4), 40, accounts, 1e6, pipeline,
                       {}, "", [], 9.0, 5.0, lift=lift)


def test_the_headline_says_the_conclusion_first():
    assert emerging_headline([]) == (
        "No theme is rising faster than its own history explains (each theme's recent weeks "
        "tested against its baseline weeks).")
    assert "among smb accounts" in emerging_headline([], "smb")
    one = emerging_headline([_row("EU data residency", 6, 38.8, 3_200_000)])
    assert one == ("1 theme is rising faster than its own history explains; the strongest is "
                   "EU data residency (6 accounts, 38.8x its expected mentions, open pipeline "
                   "3.2M).")
    two = emerging_headline([_row("Shopify app", 24, None, is_new=True), _row("x", 1, 2.0)])
    assert two.startswith("2 themes are rising faster than their own history explains")
    assert "(24 accounts, new: no mentions before)" in two


def test_quotes_come_from_the_theme_shortened(db):
    w = World(db)
    t = w.theme("SSO")
    db.execute("UPDATE trendmine.themes SET quotes = %s::jsonb WHERE theme_id = %s",
               ('[{"text": "' + "please add okta sso " * 20 + '"}, {"text": "b"}, {"text": "c"}]',
                t))
    quotes = theme_quotes(db, [t])[t]
    assert len(quotes) == 2 and quotes[1] == "b"
    assert quotes[0].endswith("…") and len(quotes[0]) <= 161


def test_the_headline_counts_every_flagged_theme_not_just_those_shown():
    shown = [_row("EU data residency", 6, 38.8)]
    assert emerging_headline(shown, total=35).startswith(
        "35 themes are rising faster than their own history explains; the strongest is EU")
