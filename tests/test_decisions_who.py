"""Product decisions show who: who decided (TRENDMINE_USER), who was or will be told (by
account name), and they follow their theme through merges and splits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from foundation.config import get_settings
from warehouse import curation
from warehouse.loop import (
    decide,
    notify_new_requesters,
    pending_count,
    publish_pending,
    theme_decisions,
)

from .test_trends import World

T = datetime(2024, 3, 6, 12, tzinfo=UTC)


def _embed(db, fid: int, vec: list[float]) -> None:
    db.execute("UPDATE trendmine.themes SET model = 'toy' WHERE model IS NULL")
    db.execute("INSERT INTO trendmine.feedback_embedding (feedback_id, ord, model, text_hash, "
               "embedding) SELECT feedback_id, ord, 'toy', text_hash, %s::float4[]::vector "
               "FROM trendmine.feedback_snippet WHERE feedback_id = %s", (vec, fid))


@pytest.fixture
def world(db):
    w = World(db)
    for acct, name in (("a1", "Acme Corp"), ("a2", "Globex"), ("a3", "Initech"),
                       ("a4", "Umbrella")):
        w.account(acct, "enterprise", 100_000, name=name)
    keep, gone = w.theme("Bulk export"), w.theme("CSV export")
    w.feedback("a1", T, [gone], text="we need csv export")
    w.feedback("a2", T, [keep], text="bulk export please")
    return w, keep, gone


def test_a_decision_records_trendmine_user_and_names_whom_it_tells(settings, db, world,
                                                                   monkeypatch):
    _, _, gone = world
    monkeypatch.setenv("TRENDMINE_USER", "dana")
    d = decide(db, settings, gone, "planned", "Q3")
    views = theme_decisions(db, gone)
    assert [(v.decision_id, v.decided_by, v.in_force) for v in views] == [
        (d.decision_id, "dana", True)]
    assert [(t.display, t.notified_at) for t in views[0].told] == [("Acme Corp", None)]
    assert decide(db, settings, gone, "planned", who="lee").changed is False


def test_a_merged_themes_decision_shows_on_the_survivor_and_tells_its_requesters(
        settings, db, world):
    _, keep, gone = world
    d = decide(db, settings, gone, "shipped", "Live now", who="dana")
    curation.merge(db, keep, [gone], who="pm")
    views = theme_decisions(db, keep)
    assert [(v.decision_id, v.decided_on, v.decision) for v in views] == [
        (d.decision_id, gone, "shipped")]
    # the survivor's own requesters hear the decision on the next loop run, once
    assert notify_new_requesters(db) == 1
    assert notify_new_requesters(db) == 0
    assert sorted(t.display for t in theme_decisions(db, keep)[0].told) == [
        "Acme Corp", "Globex"]


def test_a_split_themes_decision_is_carried_to_each_part_without_telling_twice(
        settings, db, world):
    w, _, _ = world
    sso = w.theme("SSO")
    for i, acct in enumerate(("a1", "a2", "a3", "a4")):
        for j in range(2):
            fid = w.feedback(acct, T, [sso], text=f"sso okta login {i} {j}" if i < 2
                             else f"saml azure login {i} {j}")
            _embed(db, fid, [1.0, 0.0, 0.1 * j] if i < 2 else [0.0, 1.0, 0.1 * j])
    d = decide(db, settings, sso, "declined", "Not this year", who="dana")
    assert publish_pending(db, settings) == 4
    parts = curation.split(db, sso, 2, who="pm")
    for part in parts:
        views = theme_decisions(db, part.theme_id)
        assert [(v.carried_from, v.decision, v.decided_by) for v in views] == [
            (d.decision_id, "declined", "dana")]
        assert all(t.notified_at is not None for t in views[0].told)
    assert notify_new_requesters(db) == 0 and pending_count(db) == 0  # nobody hears it twice


def test_cli_status_and_theme_show_name_the_accounts(settings, db, world, monkeypatch):
    from trendmine.cli import app

    _, _, gone = world
    for k, v in (("TRENDMINE_DATABASE_URL", settings.dsn()),
                 ("TRENDMINE_KAFKA_BOOTSTRAP", settings.bootstrap()),
                 ("TRENDMINE_TOPIC_PREFIX", settings.topic_prefix), ("TRENDMINE_USER", "dana"),
                 ("COLUMNS", "100")):
        monkeypatch.setenv(k, v)
    get_settings(fresh=True)
    try:
        r = CliRunner().invoke(app, ["theme", "status", str(gone), "planned", "--note", "Q3"])
        assert r.exit_code == 0, r.output
        assert "to tell 1 account(s): Acme Corp" in r.output, r.output
        r = CliRunner().invoke(app, ["theme", "show", str(gone), "--since", "2024-01-01"])
        assert r.exit_code == 0, r.output
        text = " ".join(r.output.split())
        assert "decision: planned (in force) by dana" in text, text
        assert "told (1): Acme Corp" in text, text
    finally:
        get_settings(fresh=True)
