"""`similar` answers by account: grouping, totals, links, dates, the no-close-match floor and
the export formats, on records embedded with the real bundled model."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from pgvector.psycopg import register_vector

from mining.embed import Embedder
from warehouse.similar import group_by_account, nearest_records

from .test_trends import World, cli  # noqa: F401  (the `cli` fixture)

NOW = datetime.now(UTC)
SSO = [
    ("acme", 40, "We need SAML single sign-on with Okta before we can roll out to all staff."),
    ("acme", 5, "Single sign-on via SAML is still a blocker for our security team. "
     "Okta SSO is required by our IT policy and every employee must log in through it; "
     "without it procurement will not sign the renewal this quarter."),
    ("bolt", 12, "Can users log in with their Okta account (SSO)?"),
    (None, 8, "Please add SSO login through Okta or SAML"),
]
OTHER = [("cide", 3, "Export the monthly invoice list to CSV"),
         ("cide", 2, "Dark mode for the dashboard would be lovely")]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(device="cpu")


def _world(db, embedder: Embedder) -> None:
    w = World(db)
    w.account("acme", "enterprise", 250_000, name="Acme [bold]Corp[/bold]")
    w.account("bolt", "smb", 12_000)
    w.account("cide", "mid_market", 60_000)
    w.opportunity("o1", "acme", 80_000)
    w.opportunity("o2", "acme", 20_000)
    w.opportunity("o3", "bolt", 5_000, stage="won")
    sso = w.theme("SSO")
    register_vector(db)
    rows = SSO + OTHER
    vecs = embedder.encode([t for _, _, t in rows])
    for (account, days, text), vec in zip(rows, vecs, strict=True):
        fid = w.feedback(account, NOW - timedelta(days=days), [sso], text=text)
        db.execute("UPDATE trendmine.feedback SET url = %s WHERE feedback_id = %s",
                   (f"https://support.example.com/tickets/{fid}", fid))
        db.execute("INSERT INTO trendmine.feedback_embedding (feedback_id, ord, model, "
                   "text_hash, embedding) VALUES (%s, 0, %s, 'h', %s)",
                   (fid, embedder.model_id, np.asarray(vec, dtype=np.float32)))


def test_similar_groups_by_account_with_totals(settings, db, embedder, cli):  # noqa: F811
    _world(db, embedder)
    q = embedder.encode(["SSO login with Okta / SAML"])[0]
    answer = group_by_account(nearest_records(db, q, embedder.model_id, 20),
                              settings.similar_min_similarity)
    assert answer.close_match
    names = [a.account_id for a in answer.accounts]
    assert set(names) == {"acme", "bolt", None} and names[-1] is None  # anonymous last
    acme = next(a for a in answer.accounts if a.account_id == "acme")
    assert acme.mentions == 2 and acme.open_deals == 2 and acme.open_pipeline == 100_000
    assert (NOW - acme.first).days == 40 and (NOW - acme.last).days == 5
    assert answer.totals == {"accounts": 2, "arr": 262_000, "open_pipeline": 100_000,
                             "open_deals": 2, "records": 4,
                             "segments": {"enterprise": 1, "smb": 1}}

    r = cli("similar", "SSO login with Okta / SAML")
    assert r.exit_code == 0, r.output
    assert "2 accounts, ARR 262k, open pipeline 100k in 2 deals" in r.output
    assert "Acme [bold]Corp[/bold]" in r.output  # stored markup printed, not interpreted
    assert "https://support.example.com/tickets/" in r.output
    assert "…" in r.output and "--full" in r.output  # the long text is shortened
    full = cli("similar", "SSO login with Okta / SAML", "--full")
    assert "sign the renewal this quarter." in full.output

    data = json.loads(cli("similar", "SSO login with Okta / SAML", "--format", "json").stdout)
    assert data["close_match"] and data["totals"]["accounts"] == 2
    assert {a["account_id"] for a in data["accounts"]} == {"acme", "bolt", None}
    rows = list(csv.DictReader(io.StringIO(
        cli("similar", "SSO login with Okta / SAML", "--format", "csv").stdout)))
    assert len(rows) == 4 and {"account_name", "similarity", "url", "created_at"} <= set(rows[0])


def test_unrelated_request_gets_no_close_match(settings, db, embedder, cli):  # noqa: F811
    _world(db, embedder)
    r = cli("similar", "HIPAA compliance and a signed BAA for patient health records")
    assert r.exit_code == 0, r.output
    assert "no close match" in r.output
    data = json.loads(cli("similar", "HIPAA compliance and a signed BAA for patient health "
                          "records", "--format", "json").stdout)
    assert not data["close_match"] and data["accounts"] == []
    assert data["best_similarity"] < data["floor"]
    # a lower floor, asked for explicitly, shows the weak neighbours
    low = cli("similar", "HIPAA compliance", "--min-similarity", "-1", "--format", "json")
    assert json.loads(low.stdout)["close_match"]
