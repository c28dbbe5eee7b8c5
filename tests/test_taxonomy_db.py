"""A seeded taxonomy against a real Postgres: import a YAML file, mine, re-import, re-mine.

12 CLINC150 intents (300 requests); 9 are seeded by name + 3 examples from the *train* split,
3 are left for mining to discover. Two full mining runs in all (about a minute each).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import yaml

from foundation.config import Settings
from mining.evaluate import load_labelled_csv
from tests.conftest import CLINC150
from tests.test_mine_db import _insert
from warehouse import taxonomy
from warehouse.mine import mine

NOW = datetime(2025, 6, 2, tzinfo=UTC)
INTENTS = ['expiration_date', 'find_phone', 'flight_status', 'flip_coin', 'food_last',
           'freeze_account', 'fun_fact', 'gas', 'gas_type', 'goodbye', 'greeting', 'how_busy']
UNSEEDED = ['flip_coin', 'fun_fact', 'how_busy']
SEEDED = [i for i in INTENTS if i not in UNSEEDED]


def _name(intent: str) -> str:
    return intent.replace("_", " ").capitalize()


@pytest.fixture(scope="module")
def data() -> dict:
    if not (CLINC150 / "test.csv").is_file():
        pytest.skip(f"clinc150 not found at {CLINC150} (set TRENDMINE_CLINC150_DIR)")
    texts, intents = load_labelled_csv(CLINC150 / "test.csv")
    rows = [(t, i) for t, i in zip(texts, intents, strict=True) if i in INTENTS]
    train, train_y = load_labelled_csv(CLINC150 / "train.csv")
    examples = {i: [t for t, y in zip(train, train_y, strict=True) if y == i][:3]
                for i in SEEDED}
    return {"base": [r for k, r in enumerate(rows) if k % 6],
            "extra": [r for k, r in enumerate(rows) if not k % 6], "examples": examples}


def _yaml(data: dict) -> str:
    return yaml.safe_dump([{"name": _name(i), "examples": data["examples"][i],
                            **({"parent": "Travel"} if i == "flight_status" else {})}
                           for i in SEEDED], sort_keys=False)


def _placement(conn: psycopg.Connection) -> list[tuple[str, int, str, str]]:
    """(intent, theme id, theme origin, theme label) per assigned record."""
    return conn.execute(
        "SELECT f.metadata->>'intent', t.theme_id, t.origin, t.label "
        "FROM trendmine.feedback_theme ft JOIN trendmine.feedback f USING (feedback_id) "
        "JOIN trends.themes t USING (theme_id)").fetchall()


def _check_mined(conn: psycopg.Connection, seed_ids: dict[str, int], theme_of: dict[str, int],
                 total: int) -> None:
    """Most seeded records in their seed's theme (named by the PM, origin seeded), few
    unseeded ones swallowed, and the unseeded intents found as discovered themes.
    `seed_ids`: {seed name: theme id}; `theme_of`: {seeded intent: theme id}."""
    placed = _placement(conn)
    by_intent: dict[str, Counter] = {}
    for intent, tid, _, _ in placed:
        by_intent.setdefault(intent, Counter())[tid] += 1
    seeded_right = sum(by_intent.get(i, Counter())[theme_of[i]] for i in SEEDED)
    seeded_total = total * len(SEEDED) // len(INTENTS)
    where = {i: {origin_label(conn, t): n for t, n in c.most_common(3)}
             for i, c in by_intent.items()}
    assert seeded_right >= 0.75 * seeded_total, str(where)
    swallowed = sum(1 for intent, tid, _, _ in placed
                    if intent in UNSEEDED and tid in seed_ids.values())
    assert swallowed <= 0.25 * total * len(UNSEEDED) / len(INTENTS)
    origin = {tid: (o, label) for _, tid, o, label in placed}
    for name, tid in seed_ids.items():
        if tid in origin:
            assert origin[tid] == ("seeded", name)
    found = [i for i in UNSEEDED
             if (c := by_intent.get(i)) and origin[c.most_common(1)[0][0]][0] == "discovered"]
    assert len(found) >= 2


def origin_label(conn: psycopg.Connection, tid: int) -> str:
    return "{} {}".format(*conn.execute("SELECT origin, label FROM trends.themes "
                                        "WHERE theme_id = %s", (tid,)).fetchone())


def _seed_ids(conn: psycopg.Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT name, theme_id FROM trends.taxonomy_seeds WHERE active"
                             ).fetchall())


def test_seeded_taxonomy_survives_reimport_and_remine(settings: Settings, data, tmp_path: Path):
    path = tmp_path / "roadmap.yaml"
    path.write_text(_yaml(data))
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        _insert(conn, data["base"], "base")
        first = taxonomy.import_seeds(conn, taxonomy.parse_file(path), path.name, "pm@x.io")
        assert len(first.added) == 9 and not first.changed and not first.removed
        seed_ids = _seed_ids(conn)
        assert set(seed_ids) == {_name(i) for i in SEEDED}
        # seeded themes exist, with the PM's names, before any mining run
        rows = conn.execute("SELECT label, origin FROM trends.themes WHERE theme_id = ANY(%s)",
                            (list(seed_ids.values()),)).fetchall()
        assert {o for _, o in rows} == {"seeded"} and {lab for lab, _ in rows} == set(seed_ids)

    mine(settings, now=NOW, mode="full")
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        theme_of = {i: seed_ids[_name(i)] for i in SEEDED}  # ids stay, names may change
        _check_mined(conn, seed_ids, theme_of, len(data["base"]))
        parent = conn.execute(
            "SELECT parent_label, origin FROM trends.themes t WHERE theme_id = %s",
            (seed_ids["Flight status"],)).fetchone()
        assert parent[0] == "Travel"

        # the same file again: nothing changes, but the import is audited
        again = taxonomy.import_seeds(conn, taxonomy.parse_file(path), path.name)
        assert (len(again.added), len(again.changed), len(again.unchanged)) == (0, 0, 9)
        assert _seed_ids(conn) == seed_ids

        # export, rename one seed by its id, re-import: the id stays, the name follows
        exported = taxonomy.export_text(conn)
        specs = taxonomy.parse_text(exported, "export.yaml")
        assert sum(s.origin == "discovered" for s in specs) >= 2
        edited = exported.replace("name: Gas\n", "name: Fuel prices\n")
        path.write_text(edited)
        renamed = taxonomy.import_seeds(conn, taxonomy.parse_file(path), path.name, "lead@x.io")
        assert renamed.changed == ["Fuel prices"] and not renamed.added and not renamed.removed
        assert renamed.discovered == sum(s.origin == "discovered" for s in specs)
        seed_ids["Fuel prices"] = seed_ids.pop("Gas")
        assert _seed_ids(conn) == seed_ids
        audit = conn.execute("SELECT imported_by, added, changed, unchanged FROM "
                             "trends.taxonomy_imports ORDER BY import_id").fetchall()
        assert audit[0][:2] == ("pm@x.io", 9) and audit[1][1:] == (0, 0, 9)
        assert audit[2] == ("lead@x.io", 0, 1, 8)
        _insert(conn, data["extra"], "extra")

    counts = mine(settings, now=NOW)  # new data; a changed taxonomy makes it a full run
    assert counts["mode"] == "full" and "taxonomy" in counts["mode_reason"]
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        _check_mined(conn, seed_ids, theme_of, len(data["base"]) + len(data["extra"]))
        assert conn.execute("SELECT label FROM trends.themes WHERE theme_id = %s",
                            (seed_ids["Fuel prices"],)).fetchone()[0] == "Fuel prices"


def test_cli_import_list_export(settings: Settings, tmp_path: Path, monkeypatch):
    """The commands on an unmined database: seeds show at once, with who imported them."""
    from typer.testing import CliRunner

    from foundation.config import get_settings
    from foundation.errors import TrendmineError
    from trendmine.cli import app

    monkeypatch.setenv("TRENDMINE_DATABASE_URL", settings.dsn())
    monkeypatch.setenv("TRENDMINE_USER", "pm@x.io")
    get_settings(fresh=True)
    try:
        path = tmp_path / "roadmap.yaml"
        path.write_text("- name: Audit log\n  examples: [We need an audit trail]\n"
                        "  parent: Security\n- name: SSO\n  examples: [Okta login please]\n")
        runner = CliRunner()
        r = runner.invoke(app, ["taxonomy", "import", str(path)])
        assert r.exit_code == 0 and "2 added" in r.output, r.output
        r = runner.invoke(app, ["taxonomy", "import", str(path), "--by", "lead@x.io"])
        assert r.exit_code == 0 and "0 added, 0 changed, 2 unchanged" in r.output, r.output
        r = runner.invoke(app, ["taxonomy", "list"])
        assert r.exit_code == 0 and "Audit log" in r.output and "seeded" in r.output, r.output
        out = tmp_path / "export.yaml"
        r = runner.invoke(app, ["taxonomy", "export", str(out)])
        assert r.exit_code == 0, r.output
        exported = yaml.safe_load(out.read_text())
        assert [(e["name"], e.get("parent")) for e in exported] == [
            ("Audit log", "Security"), ("SSO", None)] and all("id" in e for e in exported)
        with psycopg.connect(settings.dsn()) as conn:
            assert conn.execute("SELECT imported_by FROM trends.taxonomy_imports ORDER BY "
                                "import_id").fetchall() == [("pm@x.io",), ("lead@x.io",)]
        path.write_text("- name: Audit log\n  exmples: [x]\n")
        r = runner.invoke(app, ["taxonomy", "import", str(path)])
        assert isinstance(r.exception, TrendmineError)
        assert "roadmap.yaml, line 2: unknown key 'exmples'" in str(r.exception)
    finally:
        get_settings(fresh=True)
