"""Curation decisions survive a re-mine with new data (real Postgres, CLINC150 subset).

A few hundred requests of 12 intents are mined once per module; each test works on a copy
of that database (CREATE DATABASE ... TEMPLATE), takes one decision, adds new requests of
the same intents and re-mines in full, then checks that the decision still holds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from foundation.config import Settings
from mining.evaluate import load_labelled_csv
from tests.conftest import CLINC150
from tests.test_mine_db import _assignments, _clone, _insert
from warehouse import curation
from warehouse.mine import mine

NOW = datetime(2025, 6, 2, tzinfo=UTC)
N_INTENTS = 12


@pytest.fixture(scope="module")
def data() -> dict[str, list[tuple[str, str]]]:
    if not (CLINC150 / "test.csv").is_file():
        pytest.skip(f"clinc150 not found at {CLINC150} (set TRENDMINE_CLINC150_DIR)")
    texts, intents = load_labelled_csv(CLINC150 / "test.csv")
    names = sorted({i for i in intents if i != "oos"})[40 : 40 + N_INTENTS]
    rows = [(t, i) for t, i in zip(texts, intents, strict=True) if i in names]
    base = [r for k, r in enumerate(rows) if k % 6]   # 300 requests
    extra = [r for k, r in enumerate(rows) if not k % 6]  # 60 new ones, same intents
    return {"base": base, "extra": extra}


@pytest.fixture(scope="module")
def mined(services, tmp_path_factory, data) -> Settings:
    from tests.conftest import make_settings

    settings = make_settings(services, tmp_path_factory.mktemp("curated"))
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        _insert(conn, data["base"], "base")
    mine(settings, now=NOW)
    return settings


def _remine(settings: Settings, data) -> dict:
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        _insert(conn, data["extra"], "extra")
    return mine(settings, now=NOW, mode="full")


def _leaves(conn: psycopg.Connection) -> list[tuple[int, int, int]]:
    """(theme_id, size, parent_theme_id) of active leaves, largest first."""
    return conn.execute(
        "SELECT theme_id, size, parent_theme_id FROM trends.themes WHERE status = 'active' "
        "AND level = 'leaf' ORDER BY size DESC, theme_id").fetchall()


def _theme(conn: psycopg.Connection, tid: int) -> dict:
    cur = conn.execute("SELECT * FROM trends.themes WHERE theme_id = %s", (tid,))
    return dict(zip([c.name for c in cur.description], cur.fetchone(), strict=True))


def test_rename_is_kept_and_shown_in_lineage(services, mined, data, tmp_path):
    settings = _clone(services, mined, tmp_path)
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        tid = _leaves(conn)[0][0]
        curation.rename(conn, tid, "  Cancel my   card ", who="pm@example.com")
        assert _theme(conn, tid)["label"] == "Cancel my card"
    _remine(settings, data)
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        t = _theme(conn, tid)
        assert t["status"] == "active" and t["label"] == "Cancel my card"
        from datetime import UTC, datetime

        from warehouse.queries import theme_detail

        events = theme_detail(conn, tid, datetime(2000, 1, 1, tzinfo=UTC))["lineage"]
        assert [e["detail"]["by"] for e in events if e["event"] == "rename"] == ["pm@example.com"]


def test_hidden_stays_hidden_and_out_of_the_trend_list(services, mined, data, tmp_path):
    from warehouse.queries import top_trends

    settings = _clone(services, mined, tmp_path)
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        tid = _leaves(conn)[1][0]
        curation.hide(conn, tid, who="pm")
    _remine(settings, data)
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        assert _theme(conn, tid)["visibility"] == "hidden"
        listed = {r.theme_id for r in top_trends(conn, NOW - timedelta(days=90), limit=100,
                                                 now=NOW)}
        assert tid not in listed and listed


def test_merged_stays_merged(services, mined, data, tmp_path):
    settings = _clone(services, mined, tmp_path)
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        (keep, *_), (gone, *_) = _leaves(conn)[:2]
        curation.merge(conn, keep, [gone], who="pm")
    before = _assignments(settings)
    moved = [sid for sid, t in before.items() if t == keep]
    _remine(settings, data)
    after = _assignments(settings)
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        g = _theme(conn, gone)
        assert g["status"] == "merged" and g["merged_into"] == keep
        assert _theme(conn, keep)["status"] == "active"
    # the two needs stay one theme: (almost) all their records are still in `keep`
    assert sum(after.get(sid) == keep for sid in moved) >= 0.9 * len(moved)


def test_split_is_not_undone(services, mined, data, tmp_path):
    settings = _clone(services, mined, tmp_path)
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        tid, size, parent = _leaves(conn)[0]
        subs = curation.split(conn, tid, 2, who="pm")
        assert len(subs) == 2 and sum(s.size for s in subs) == size
        assert all(s.label for s in subs)
        assert _theme(conn, subs[0].theme_id)["parent_theme_id"] == parent
    before = _assignments(settings)
    _remine(settings, data)
    after = _assignments(settings)
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        assert _theme(conn, tid)["status"] != "active"
        for s in subs:
            assert _theme(conn, s.theme_id)["status"] == "active", s
    # Undoing the split would put a sub-theme's records back with its sibling: none may go
    # there. A record may move to an unrelated theme (the new run re-clusters; a small piece
    # split off by k-means is mostly its edge), but the pieces together keep >= 80%.
    ids = {s.theme_id for s in subs}
    members = {sid: t for sid, t in before.items() if t in ids}
    assert not [sid for sid, t in members.items() if after.get(sid) in ids - {t}]
    assert sum(after.get(sid) == t for sid, t in members.items()) >= 0.8 * len(members)


def test_move_keeps_the_new_parent(services, mined, data, tmp_path):
    settings = _clone(services, mined, tmp_path)
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        tid, _, parent = _leaves(conn)[0]
        other = conn.execute(
            "SELECT theme_id FROM trends.themes WHERE level = 'parent' AND status = 'active' "
            "AND theme_id <> %s ORDER BY theme_id LIMIT 1", (parent,)).fetchone()[0]
        curation.move(conn, tid, other, who="pm")
        with pytest.raises(Exception, match="parent"):
            curation.move(conn, tid, tid)  # a leaf is no parent
    _remine(settings, data)
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        assert _theme(conn, tid)["parent_theme_id"] == other


def test_cli_theme_subcommands(services, mined, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from foundation.config import get_settings
    from trendmine.cli import app

    settings = _clone(services, mined, tmp_path)
    monkeypatch.setenv("TRENDMINE_DATABASE_URL", settings.dsn())
    get_settings(fresh=True)
    try:
        with psycopg.connect(settings.dsn(), autocommit=True) as conn:
            (a, *_), (b, *_) = _leaves(conn)[:2]
        runner = CliRunner()
        r = runner.invoke(app, ["theme", "rename", str(a), "Card replacement", "--by", "ana"])
        assert r.exit_code == 0 and "Card replacement" in r.output, r.output
        r = runner.invoke(app, ["theme", "split", str(b), "--into", "2"])
        assert r.exit_code == 0 and f"theme {b} split" in r.output, r.output
        r = runner.invoke(app, ["theme", "hide", str(a)])
        assert r.exit_code == 0, r.output
        r = runner.invoke(app, ["theme", "move", str(a), "--parent", str(a)])
        assert r.exit_code != 0  # a leaf is no parent: one readable error
        r = runner.invoke(app, ["theme", str(a)])  # `theme ID` still shows it, with lineage
        assert r.exit_code == 0 and "rename" in r.output and "by ana" in r.output, r.output
        with psycopg.connect(settings.dsn(), autocommit=True) as conn:
            [phrases] = conn.execute("SELECT phrases FROM trendmine.themes WHERE theme_id = %s",
                                     (a,)).fetchone()
        # renamed: the mined names are offered as alternatives, the new label is not
        assert phrases and "also named in its members' words" in r.output, r.output
        assert all(p in " ".join(r.output.split()) for p in phrases), (phrases, r.output)
    finally:
        get_settings(fresh=True)


# --- incremental runs (`mine --incremental`): new data is attached, decisions hold --------


def _attach_extra(settings: Settings, data) -> dict:
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        _insert(conn, data["extra"], "extra")
    counts = mine(settings, now=NOW, mode="incremental")
    assert counts["mode"] == "incremental" and counts["assigned"] > 0, counts
    return counts


def _intent_of(settings: Settings) -> dict[str, str]:
    with psycopg.connect(settings.dsn()) as conn:
        return dict(conn.execute(
            "SELECT source_id, metadata->>'intent' FROM trendmine.feedback").fetchall())


def _majority(assigned: dict[str, int], intent_of: dict[str, str], tid: int) -> str:
    from collections import Counter

    return Counter(intent_of[s] for s, t in assigned.items() if t == tid).most_common(1)[0][0]


def test_incremental_keeps_a_rename(services, mined, data, tmp_path):
    settings = _clone(services, mined, tmp_path)
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        tid, size, _ = _leaves(conn)[0]
        curation.rename(conn, tid, "Card replacement", who="pm")
    _attach_extra(settings, data)
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        t = _theme(conn, tid)
    assert t["label"] == "Card replacement" and t["status"] == "active"
    assert t["size"] > size  # it did take new records, under its curated name


def test_incremental_keeps_hidden_hidden(services, mined, data, tmp_path):
    from warehouse.queries import top_trends

    settings = _clone(services, mined, tmp_path)
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        tid = _leaves(conn)[1][0]
        curation.hide(conn, tid, who="pm")
    _attach_extra(settings, data)
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        assert _theme(conn, tid)["visibility"] == "hidden"
        listed = {r.theme_id for r in top_trends(conn, NOW - timedelta(days=90), limit=100,
                                                 now=NOW)}
    assert tid not in listed and listed


def test_incremental_lands_new_records_of_a_merged_theme_in_the_survivor(services, mined,
                                                                         data, tmp_path):
    settings = _clone(services, mined, tmp_path)
    intent_of = _intent_of(settings)
    before = _assignments(settings)
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        (keep, *_), (gone, *_) = _leaves(conn)[:2]
        gone_intent = _majority(before, intent_of, gone)
        curation.merge(conn, keep, [gone], who="pm")
    _attach_extra(settings, data)
    after = _assignments(settings)
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        assert _theme(conn, gone)["status"] == "merged"
        assert _theme(conn, keep)["size"] == sum(t == keep for t in after.values())
    assert gone not in set(after.values())
    new = [f"extra:{k}" for k, (_, i) in enumerate(data["extra"]) if i == gone_intent]
    landed = [after.get(s) for s in new if s in after]
    assert landed and sum(t == keep for t in landed) >= 0.8 * len(new), (landed, len(new))


def test_incremental_does_not_undo_a_split(services, mined, data, tmp_path):
    settings = _clone(services, mined, tmp_path)
    intent_of = _intent_of(settings)
    before = _assignments(settings)
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        tid = _leaves(conn)[0][0]
        intent = _majority(before, intent_of, tid)
        subs = curation.split(conn, tid, 2, who="pm")
    _attach_extra(settings, data)
    after = _assignments(settings)
    children = {s.theme_id for s in subs}
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        assert _theme(conn, tid)["status"] == "retired"
        assert all(_theme(conn, c)["status"] == "active" for c in children)
    assert tid not in set(after.values())
    new = [f"extra:{k}" for k, (_, i) in enumerate(data["extra"]) if i == intent]
    assert sum(after.get(s) in children for s in new) >= 0.8 * len(new)


def test_incremental_keeps_a_move_and_counts_parents(services, mined, data, tmp_path):
    settings = _clone(services, mined, tmp_path)
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        tid, _, parent = _leaves(conn)[0]
        other = conn.execute(
            "SELECT theme_id FROM trends.themes WHERE level = 'parent' AND status = 'active' "
            "AND theme_id <> %s ORDER BY theme_id LIMIT 1", (parent,)).fetchone()[0]
        curation.move(conn, tid, other, who="pm")
    _attach_extra(settings, data)
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        assert _theme(conn, tid)["parent_theme_id"] == other
        # each parent counts the records of its leaves (each once), new records included
        rows = conn.execute(
            """SELECT p.theme_id, p.n_feedback, count(DISTINCT ft.feedback_id)
               FROM trendmine.themes p JOIN trendmine.themes l ON l.parent_theme_id = p.theme_id
               JOIN trendmine.feedback_theme ft ON ft.theme_id = l.theme_id
               WHERE p.level = 'parent' AND p.status = 'active' GROUP BY 1, 2""").fetchall()
    assert rows and all(n == want for _, n, want in rows), rows


# --- a parent follows its leaves at once: emptied by a merge or move, quiet once hidden ---


def _parents(conn: psycopg.Connection) -> dict[int, list[int]]:
    """Active parent id -> its active leaves, largest first."""
    out: dict[int, list[int]] = {}
    for pid, tid in conn.execute(
            "SELECT p.theme_id, l.theme_id FROM trendmine.themes p JOIN trendmine.themes l "
            "ON l.parent_theme_id = p.theme_id AND l.status = 'active' "
            "WHERE p.level = 'parent' AND p.status = 'active' ORDER BY l.size DESC, 2"):
        out.setdefault(pid, []).append(tid)
    return out


def _listed_parents(conn: psycopg.Connection) -> dict[int, int]:
    from warehouse.queries import top_trends

    return {r.theme_id: r.mentions for r in top_trends(
        conn, NOW - timedelta(days=90), limit=100, now=NOW, level="parent")}


def test_a_parent_emptied_by_merge_and_move_shows_zero_and_leaves_the_lists(
        services, mined, tmp_path):
    settings = _clone(services, mined, tmp_path)
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        parents = _parents(conn)
        assert len(parents) >= 3, parents
        # the two parents with the fewest leaves: one emptied by a merge, one by moves
        (gone, leaves), (moved, moved_leaves), (keep_parent, keep_leaves) = sorted(
            parents.items(), key=lambda kv: (len(kv[1]), kv[0]))[:3]
        assert _listed_parents(conn).get(gone, 0) > 0
        curation.merge(conn, keep_leaves[0], leaves, who="pm")
        for leaf in moved_leaves:
            curation.move(conn, leaf, keep_parent, who="pm")
        listed = _listed_parents(conn)
        for pid in (gone, moved):
            t = _theme(conn, pid)
            assert (t["status"], t["size"], t["n_feedback"], t["n_accounts"]) == (
                "retired", 0, 0, 0), t
            assert pid not in listed
            events = conn.execute("SELECT event, detail->>'by' FROM trends.theme_lineage "
                                  "WHERE theme_id = %s", (pid,)).fetchall()
            assert ("retire", "pm") in events, events
        # the parent that took them counts them, each record once
        n = conn.execute(
            "SELECT count(DISTINCT ft.feedback_id) FROM trendmine.feedback_theme ft "
            "JOIN trendmine.themes l ON l.theme_id = ft.theme_id "
            "WHERE l.parent_theme_id = %s", (keep_parent,)).fetchone()[0]
        assert _theme(conn, keep_parent)["n_feedback"] == n == listed[keep_parent]


def test_hiding_leaves_rechecks_their_parent_at_once(services, mined, data, tmp_path):
    settings = _clone(services, mined, tmp_path)
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        parents = _parents(conn)
        vis = dict(conn.execute("SELECT theme_id, visibility FROM trendmine.themes"
                                ).fetchall())
        # a shown parent of shown leaves only (goodbye, one of the 12 intents, is chatter)
        pid, leaves = max(((p, ls) for p, ls in parents.items()
                           if {vis[t] for t in [p, *ls]} == {"shown"}),
                          key=lambda kv: (len(kv[1]), kv[0]))
        assert len(leaves) >= 2, parents
        sizes = dict(conn.execute("SELECT theme_id, size FROM trendmine.themes "
                                  "WHERE theme_id = ANY(%s)", (leaves,)).fetchall())
        # hiding a small leaf leaves the parent shown (its shown leaves hold most of it) ...
        curation.hide(conn, leaves[-1], who="pm")
        if sizes[leaves[-1]] * 2 < sum(sizes.values()):
            assert _theme(conn, pid)["visibility"] == "shown"
            assert pid in _listed_parents(conn)
        # ... hiding all of them hides it, without waiting for a mining run
        for leaf in leaves[:-1]:
            curation.hide(conn, leaf, who="pm")
        assert _theme(conn, pid)["visibility"] == "hidden"
        assert pid not in _listed_parents(conn)
        assert all(_theme(conn, p)["visibility"] == vis[p] for p in parents if p != pid)
    _remine(settings, data)  # and a full run keeps the parent of hidden leaves hidden
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        for p, ls in _parents(conn).items():
            vis = {_theme(conn, t)["visibility"] for t in ls}
            if vis == {"hidden"}:
                assert _theme(conn, p)["visibility"] == "hidden", (p, ls)
        assert {_theme(conn, t)["visibility"] for t in leaves} == {"hidden"}


def test_cli_decisions_refresh_parents_trend_rows_and_theme_show(services, mined, tmp_path,
                                                                 monkeypatch):
    from typer.testing import CliRunner

    from foundation.config import get_settings
    from trendmine.cli import app
    from warehouse.trends import rebuild_trends

    settings = _clone(services, mined, tmp_path)
    monkeypatch.setenv("TRENDMINE_DATABASE_URL", settings.dsn())
    monkeypatch.setenv("COLUMNS", "200")
    get_settings(fresh=True)
    try:
        with psycopg.connect(settings.dsn(), autocommit=True) as conn:
            rebuild_trends(conn, settings, now=NOW)
            parents = _parents(conn)
            vis = dict(conn.execute("SELECT theme_id, visibility FROM trendmine.themes"
                                    ).fetchall())
            shown = sorted((p for p, ls in parents.items()
                            if {vis[t] for t in [p, *ls]} == {"shown"}),
                           key=lambda p: (len(parents[p]), p))
            gone, hid = shown[0], shown[-1]
            keep = next(ls[0] for p, ls in parents.items() if p not in (gone, hid))

            def trend_rows(tid: int) -> int:
                return conn.execute("SELECT count(*) FROM trends.theme_trends "
                                    "WHERE theme_id = %s", (tid,)).fetchone()[0]

            assert trend_rows(gone) > 0
        runner = CliRunner()
        r = runner.invoke(app, ["theme", "merge", str(keep), *map(str, parents[gone])])
        assert r.exit_code == 0 and "trend tables rebuilt" in r.output, r.output
        for leaf in parents[hid]:
            r = runner.invoke(app, ["theme", "hide", str(leaf), "--no-refresh"])
            assert r.exit_code == 0, r.output
        assert f"its parent theme {hid} is hidden now too" in r.output, r.output
        r = runner.invoke(app, ["theme", str(hid)])
        assert r.exit_code == 0 and "hidden: left out of `trends`" in r.output, r.output
        assert f"{len(parents[hid])} sub-themes: #" in r.output, r.output
        r = runner.invoke(app, ["theme", str(parents[hid][0])])
        assert f"sub-theme of #{hid}" in r.output, r.output
        with psycopg.connect(settings.dsn(), autocommit=True) as conn:
            # the emptied parent left the views: retired, 0 records, no trend rows
            assert trend_rows(gone) == 0
            assert conn.execute("SELECT status, n_feedback FROM trends.themes WHERE theme_id "
                                "= %s", (gone,)).fetchone() == ("retired", 0)
    finally:
        get_settings(fresh=True)
