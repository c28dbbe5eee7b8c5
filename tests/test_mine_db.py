"""`trendmine mine` against the real Postgres: stable theme ids, full vs incremental runs.

CLINC150 requests (40 intents + some out-of-scope) are stored as feedback rows, mined once
per module, and each test works on a copy of that mined database (CREATE DATABASE ...
TEMPLATE), so the embedding and the first clustering are paid once.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg
import pytest
from psycopg import sql
from pydantic import SecretStr

from foundation.config import Settings
from mining.evaluate import load_labelled_csv
from mining.snippets import split_snippets
from tests.conftest import CLINC150
from warehouse.mine import mine

NOW = datetime(2025, 6, 2, tzinfo=UTC)
N_INTENTS = 40
HELD_OUT_INTENTS = 6  # never in the base: what incremental mode must NOT attach


def _dataset() -> dict[str, list[tuple[str, str]]]:
    if not (CLINC150 / "test.csv").is_file():
        pytest.skip(f"clinc150 not found at {CLINC150} (set TRENDMINE_CLINC150_DIR)")
    texts, intents = load_labelled_csv(CLINC150 / "test.csv")
    names = sorted({i for i in intents if i != "oos"})[: N_INTENTS + HELD_OUT_INTENTS]
    base_intents, far_intents = set(names[:N_INTENTS]), set(names[N_INTENTS:])
    rng = np.random.default_rng(0)
    rows = [(t, i) for t, i in zip(texts, intents, strict=True)
            if i in base_intents or i in far_intents or i == "oos"]
    assert all(split_snippets(t) == [t] for t, _ in rows)  # one snippet per record
    order = rng.permutation(len(rows))
    base, extra, far = [], [], []
    oos = 0
    for k in order:
        intent = rows[k][1]
        if intent in far_intents:
            far.append(rows[k])
        elif intent == "oos":
            oos += 1
            if oos <= 120:
                base.append(rows[k])
        elif len(extra) < 120 and rng.random() < 0.1:
            extra.append(rows[k])
        else:
            base.append(rows[k])
    return {"base": base, "extra": extra, "far": far}


def _insert(conn: psycopg.Connection, items: list[tuple[str, str]], tag: str) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO trendmine.feedback (source, source_id, account_id, text, text_hash, "
            "metadata, created_at) VALUES ('support_tickets', %s, %s, %s, %s, %s, %s)",
            [(f"{tag}:{k}", f"acct{k % 97}", text, f"{tag}{k}",
              psycopg.types.json.Jsonb({"intent": intent}),
              NOW - timedelta(days=1 + k % 60, minutes=k))
             for k, (text, intent) in enumerate(items)])


def _assignments(settings: Settings) -> dict[str, int]:
    """source_id -> theme_id of every assigned record (one snippet each)."""
    with psycopg.connect(settings.dsn()) as conn:
        return dict(conn.execute(
            "SELECT f.source_id, ft.theme_id FROM trendmine.feedback_theme ft "
            "JOIN trendmine.feedback f USING (feedback_id)").fetchall())


def _clone(services: dict[str, str], template: Settings, tmp_path: Path) -> Settings:
    name = f"tm_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{services['server_url']}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template.dsn().rsplit("/", 1)[1])))
    url = SecretStr(f"{services['server_url']}/{name}")
    return template.model_copy(update={"database_url": url,
                                       "data_dir": tmp_path / "data"})


@pytest.fixture(scope="module")
def data() -> dict[str, list[tuple[str, str]]]:
    return _dataset()


@pytest.fixture(scope="module")
def mined(services, tmp_path_factory, data) -> tuple[Settings, dict]:
    """A database holding the base items, mined once (full run)."""
    from tests.conftest import make_settings

    settings = make_settings(services, tmp_path_factory.mktemp("mined"))
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        _insert(conn, data["base"], "base")
    counts = mine(settings, now=NOW)
    return settings, counts


def test_first_run_is_full_and_assigns_almost_everything(mined, data):
    _, counts = mined
    assert counts["mode"] == "full" and counts["mode_reason"] == "no themes yet"
    assert counts["snippets"] == len(data["base"])
    assert counts["births"] == counts["themes"] > 0.5 * N_INTENTS
    assert counts["unassigned"] <= 0.10 * counts["snippets"]
    for stage in ("split", "embed", "reduce", "cluster", "outliers", "label", "match", "write"):
        assert stage in counts["stage_seconds"], stage


def test_rerun_on_the_same_data_changes_no_theme_id(services, mined, tmp_path):
    settings = _clone(services, mined[0], tmp_path)
    before = _assignments(settings)
    counts = mine(settings, now=NOW, mode="full")
    assert counts["mode"] == "full" and counts["embedded"] == 0
    assert (counts["births"], counts["merged"], counts["retired"]) == (0, 0, 0)
    # the label phrases' vectors were stored by the first run: none is embedded again
    assert mined[1]["label_phrases_embedded"] > 0 and counts["label_phrases_embedded"] == 0
    # nothing new: the first run's UMAP layout is reused, and the themes come out the same
    assert mined[1]["layout"] == "fitted: no stored layout"
    assert counts["layout"] == "reused (0 snippets new to it)"
    assert _assignments(settings) == before
    # auto mode right after a full run: nothing pending, nothing changes
    counts = mine(settings, now=NOW)
    assert counts["mode"] == "incremental" and counts["snippets"] == 0
    assert _assignments(settings) == before


def _taxonomy(settings: Settings) -> dict[int, tuple[str, int | None, str]]:
    """active theme_id -> (level, parent_theme_id, label)."""
    with psycopg.connect(settings.dsn()) as conn:
        return {r[0]: r[1:] for r in conn.execute(
            "SELECT theme_id, level, parent_theme_id, label FROM trends.themes "
            "WHERE status = 'active'").fetchall()}


def test_two_levels_with_stable_parents_and_phrase_labels(services, mined, tmp_path):
    from warehouse.queries import top_trends

    settings = _clone(services, mined[0], tmp_path)
    before = _taxonomy(settings)
    leaves = {t: v for t, v in before.items() if v[0] == "leaf"}
    parents = {t for t, v in before.items() if v[0] == "parent"}
    assert 2 <= len(parents) < len(leaves) == mined[1]["themes"]
    assert mined[1]["parents"] == len(parents)
    assert all(v[1] in parents for v in leaves.values())  # every leaf has an active parent
    assert all(v[1] is None for t, v in before.items() if t in parents)
    # phrase labels: 1-6 words, mostly several, never led by a generic word
    labels = [v[2] for v in before.values()]
    assert all(1 <= len(lb.split()) <= 6 for lb in labels), labels
    assert sum(len(lb.split()) >= 2 for lb in labels) >= 0.8 * len(labels), labels
    assert not any(lb.split()[0].lower() in {"need", "want", "just", "please"} for lb in labels)
    mine(settings, now=NOW, mode="full")
    assert _taxonomy(settings) == before  # same data: same leaves, parents and labels
    with psycopg.connect(settings.dsn()) as conn:
        rows = top_trends(conn, NOW - timedelta(days=90), level="parent", limit=100, now=NOW)
        leaf_rows = top_trends(conn, NOW - timedelta(days=90), limit=100, now=NOW)
    assert {r.theme_id for r in rows} <= parents and len(rows) >= 2
    assert {r.theme_id for r in leaf_rows} <= set(leaves)
    # a record is counted once under its parent: parent mentions sum to the leaf mentions
    assert sum(r.mentions for r in rows) == sum(r.mentions for r in leaf_rows)


def test_ten_percent_more_items_keep_ninety_percent_of_old_ids(services, mined, data,
                                                               tmp_path):
    settings = _clone(services, mined[0], tmp_path)
    before = _assignments(settings)
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        _insert(conn, data["extra"], "extra")
    assert len(data["extra"]) >= 0.09 * len(data["base"])
    counts = mine(settings, now=NOW, mode="full")
    after = _assignments(settings)
    kept = sum(after.get(sid) == tid for sid, tid in before.items())
    assert kept >= 0.90 * len(before), (kept, len(before), counts)


def test_a_new_topic_gets_a_new_layout_and_its_own_theme(services, mined, data, tmp_path):
    # held-out intents fit no theme: reusing the old layout would drop them among their
    # nearest old items, so the full run fits UMAP again and they get themes of their own
    settings = _clone(services, mined[0], tmp_path)
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        _insert(conn, data["far"], "far")
    counts = mine(settings, now=NOW, mode="full")
    assert counts["layout"].startswith("fitted: ") and "fit no theme are alike" in counts["layout"]
    assert counts["births"] >= 1
    after = _assignments(settings)
    far = {sid: after.get(sid) for sid in (f"far:{k}" for k in range(len(data["far"])))}
    old_ids = set(_assignments(mined[0]).values())
    assert sum(t is not None and t not in old_ids for t in far.values()) >= 0.5 * len(far)
    # the layout it fitted is stored: the same data again reuses it
    again = mine(settings, now=NOW, mode="full")
    assert again["layout"].startswith("reused") and again["births"] == 0
    off = settings.model_copy(update={"layout_reuse": False})
    assert mine(off, now=NOW, mode="full")["layout"] == "fitted: reuse off (layout_reuse)"


def test_incremental_attaches_close_items_and_leaves_far_ones(services, mined, data,
                                                             tmp_path):
    settings = _clone(services, mined[0], tmp_path)
    before = _assignments(settings)
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        intent_of = dict(conn.execute(
            "SELECT source_id, metadata->>'intent' FROM trendmine.feedback").fetchall())
        _insert(conn, data["extra"], "extra")
        _insert(conn, data["far"], "far")
    votes: dict[str, Counter] = {}
    for sid, tid in before.items():
        votes.setdefault(intent_of[sid], Counter())[tid] += 1
    # an intent may span two themes: any theme holding >= 20% of its base items is home
    home = {intent: {t for t, k in c.items() if k >= 0.2 * c.total()}
            for intent, c in votes.items()}

    counts = mine(settings, now=NOW, mode="incremental")
    assert counts["mode"] == "incremental" and counts["births"] == 0
    assert counts["snippets"] == len(data["extra"]) + len(data["far"])
    after = _assignments(settings)
    assert {sid: after[sid] for sid in before} == before  # old assignments untouched
    close = [(sid, i) for k, (_, i) in enumerate(data["extra"]) if (sid := f"extra:{k}")]
    attached = [sid for sid, _ in close if sid in after]
    right = [sid for sid, intent in close if intent != "oos" and after.get(sid) in home[intent]]
    in_scope = sum(intent != "oos" for _, intent in close)
    assert len(attached) >= 0.8 * len(close), (len(attached), len(close))
    assert len(right) >= 0.75 * in_scope, (len(right), in_scope)
    far = [f"far:{k}" for k in range(len(data["far"]))]
    # held-out CLINC intents sit close to some base ones (banking next to banking): most,
    # not all, stay unassigned at the default threshold
    assert sum(sid in after for sid in far) <= 0.35 * len(far)
    with psycopg.connect(settings.dsn()) as conn:
        methods = dict(conn.execute(
            "SELECT method, count(*) FROM trendmine.feedback_theme GROUP BY 1").fetchall())
    assert methods["incremental"] == counts["assigned"] == len(after) - len(before)


def test_auto_mode_reclusters_once_the_pool_is_big(services, mined, data, tmp_path):
    settings = _clone(services, mined[0], tmp_path)
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        _insert(conn, data["far"], "far")
    pool = len(data["far"])
    small = settings.model_copy(update={"recluster_pool_share": 0.99,
                                        "recluster_pool_size": pool + 1})
    counts = mine(small, now=NOW)  # below both thresholds: attach what fits, keep the rest
    assert counts["mode"] == "incremental" and counts["unassigned"] > 0
    big = settings.model_copy(update={"recluster_pool_size": counts["unassigned"]})
    counts = mine(big, now=NOW)
    assert counts["mode"] == "full" and "unassigned" in counts["mode_reason"]
    assert counts["births"] >= 1  # the held-out intents form themes of their own
