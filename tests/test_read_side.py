"""Read side: the BI role's privileges, the data dictionary, nearest records, --since."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
import pytest

from foundation.errors import TrendmineError
from warehouse import datadict
from warehouse.bi import create_bi_role, role_url
from warehouse.queries import parse_since
from warehouse.similar import index_missing, search_records, unindexed

from .conftest import REPO
from .test_trends import T0, World


@pytest.fixture
def bi_conn(settings, db):
    name = f"bi_{uuid.uuid4().hex[:10]}"
    create_bi_role(db, name, "s3cret-pw")
    create_bi_role(db, name, "s3cret-pw")  # idempotent
    url = role_url(settings.dsn(), name, "s3cret-pw", show_password=True)
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn
    db.execute(f'DROP OWNED BY "{name}"')
    db.execute(f'DROP ROLE "{name}"')


def test_bi_role_reads_trends_views_only(settings, db, bi_conn):
    w = World(db)
    w.account("acme", "enterprise", 1000)
    t = w.theme("SSO")
    w.feedback("acme", T0, [t])
    for view in ("feedback", "themes", "theme_trends", "emerging_themes", "accounts"):
        bi_conn.execute(f"SELECT * FROM trends.{view} LIMIT 1").fetchall()
    assert bi_conn.execute("SELECT count(*) FROM trends.feedback").fetchone()[0] == 1
    denied = [
        "SELECT * FROM trendmine.feedback",
        "SELECT * FROM trendmine.accounts",
        "INSERT INTO trendmine.themes (label) VALUES ('x')",
        "UPDATE trendmine.feedback SET text = 'x'",
        "DELETE FROM trendmine.feedback",
        "DELETE FROM trends.themes",
        "UPDATE trends.feedback SET text = 'x'",
        "CREATE TABLE public.bi_owned (x int)",
        "CREATE TABLE trends.bi_owned (x int)",
        "CREATE TEMP TABLE bi_tmp (x int)",
    ]
    for stmt in denied:
        with pytest.raises(psycopg.Error):
            bi_conn.execute(stmt)
    # read-only by default is only a default: the missing privileges must hold without it
    bi_conn.execute("SET default_transaction_read_only = off")
    for stmt in ("CREATE TEMP TABLE bi_tmp (x int)", "CREATE TABLE public.bi_owned (x int)",
                 "DELETE FROM trends.themes", "SELECT * FROM trendmine.feedback"):
        with pytest.raises(psycopg.Error):
            bi_conn.execute(stmt)
    assert db.execute("SELECT count(*) FROM trendmine.feedback").fetchone()[0] == 1
    assert bi_conn.execute("SHOW statement_timeout").fetchone()[0] == "2min"
    limit = db.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user")
    assert limit.fetchone()[0] == -1  # trendmine's own role keeps its limits...
    name = bi_conn.info.user
    assert db.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = %s",
                      (name,)).fetchone()[0] == 10  # ...the BI role gets one
    db.execute("CREATE TEMP TABLE owner_tmp (x int)")  # trendmine's writers still can


def test_role_url_masks_the_password():
    url = role_url("postgresql://postgres@127.0.0.1:5432/trendmine", "trendmine_bi", "pw")
    assert url == "postgresql://trendmine_bi:***@127.0.0.1:5432/trendmine"


@pytest.mark.parametrize("admin", [
    "postgresql://admin:adm1n-pw@db.example:5433/trendmine?password=adm1n-pw&sslmode=require",
    "host=db.example port=5433 dbname=trendmine user=admin password=adm1n-pw sslmode=require",
])
def test_role_url_keeps_nothing_of_the_admin_credentials(admin):
    url = role_url(admin, "trendmine_bi", "bi-pw", show_password=True)
    assert url == "postgresql://trendmine_bi:bi-pw@db.example:5433/trendmine?sslmode=require"
    assert "adm1n" not in role_url(admin, "trendmine_bi", "bi-pw")


def test_bad_role_name_is_refused(db):
    with pytest.raises(TrendmineError, match="role name"):
        create_bi_role(db, 'x"; DROP TABLE y; --', "pw")


def test_data_dictionary_is_up_to_date(db):
    text = datadict.render(db)
    assert "`trends.theme_trends`" in text and "| `weighted_score` |" in text
    committed = (REPO / "docs" / "data-dictionary.md").read_text()
    assert committed == text, (
        "docs/data-dictionary.md drifted: run `python -m warehouse.datadict --out "
        "docs/data-dictionary.md` against a migrated database")


def test_similar_returns_closest_feedback_with_account_and_theme(db):
    w = World(db)
    w.account("acme", "enterprise", 100_000)
    w.opportunity("o1", "acme", 5_000)
    sso, export = w.theme("SSO"), w.theme("Export")
    near = w.feedback("acme", T0, [sso], text="saml single sign on please")
    far = w.feedback(None, T0, [export], text="csv export")
    rng = np.random.default_rng(0)
    q = rng.normal(size=8).astype(np.float32)
    q /= np.linalg.norm(q)
    vectors = {"saml single sign on please": q + 0.05 * rng.normal(size=8), "csv export": -q}

    def encode(texts: list[str]) -> np.ndarray:  # a stand-in model: known vectors per text
        out = np.array([vectors[t] for t in texts], dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    assert unindexed(db, "m") == 2
    assert index_missing(db, encode, "m") == 2 and unindexed(db, "m") == 0
    rows = search_records(db, "saml single sign on", q, "m", floor=0.5)
    assert [r.feedback_id for r in rows] == [near, far]
    top = rows[0]
    assert top.similarity > 0.9 and top.theme_id == sso and top.word_rank == 1
    assert rows[1].word_rank is None  # no shared word
    assert (top.account_name, top.segment, top.arr, top.open_deals) == (
        "Acme", "enterprise", 100_000.0, 1)
    assert unindexed(db, "other-model") == 2  # another model's vectors are made on demand


def test_parse_since():
    now = datetime(2024, 5, 1, tzinfo=UTC)
    assert parse_since("90d", now) == now - timedelta(days=90)
    assert parse_since("2w", now) == now - timedelta(weeks=2)
    assert parse_since("2024-01-31", now) == datetime(2024, 1, 31, tzinfo=UTC)
    with pytest.raises(TrendmineError, match="since"):
        parse_since("abc", now)
