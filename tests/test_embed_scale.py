"""Embedding beyond one process: each distinct text once, a Dask cluster through Prefect's
DaskTaskRunner writing the same vectors as one process, a GPU device, and the light numpy
path `similar` uses for one query (same vectors as sentence-transformers, without torch)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector

from foundation.config import Settings
from mining.embed import Embedder, LightEncoder, embed_query
from warehouse.mine import embed_missing, embedder_for, pending_embeddings, sync_snippets

from .conftest import REPO

NOW = datetime.now(UTC)
TEXTS = [
    "We need SAML single sign-on with Okta before renewal.",
    "Please add an EU data region; our DPO will not sign otherwise.",
    "The Shopify app keeps losing the order sync after an hour.",
    "Export the monthly invoice list to CSV",
    "Dark mode for the dashboard would be lovely",
    "Bulk edit of tags across projects, please!",
    "Can we get audit logs streamed to Splunk?",
    "Mobile app crashes when uploading a photo on Android 14.",
]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(device="cpu")


def _store(db: psycopg.Connection, texts: list[str]) -> None:
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO trendmine.feedback (source, source_id, account_id, text, text_hash, "
            "created_at) VALUES ('support_tickets', %s, %s, %s, %s, %s)",
            [(f"t:{k}", f"acct{k % 7}", t, f"h{k}", NOW - timedelta(days=1 + k % 30))
             for k, t in enumerate(texts)])


def _vectors(settings: Settings) -> dict[tuple[int, int], np.ndarray]:
    with psycopg.connect(settings.dsn()) as conn:
        register_vector(conn)
        return {(fid, o): v.to_numpy() for fid, o, v in conn.execute(
            "SELECT feedback_id, ord, embedding FROM trendmine.feedback_embedding "
            "WHERE model = %s", (embedder_for(settings).model_id,))}


class CountingEmbedder(Embedder):
    """The real model; records what it was asked to encode."""

    def __init__(self) -> None:
        super().__init__(device="cpu")
        self.seen: list[str] = []

    def encode(self, texts, show_progress: bool = False) -> np.ndarray:
        self.seen += list(texts)
        return super().encode(texts, show_progress)


def test_a_text_said_many_times_is_embedded_once(settings, db, embedder):
    repeated = TEXTS[:3] * 4 + TEXTS[3:]  # 3 texts 4 times each, 5 once: 17 records
    _store(db, repeated)
    register_vector(db)
    sync_snippets(db, NOW - timedelta(days=180))
    counting = CountingEmbedder()
    counting._st = embedder.st_model  # the model already loaded by the module fixture
    assert embed_missing(db, counting, chunk=5) == len(repeated)
    assert sorted(counting.seen) == sorted(set(repeated))  # each distinct text once
    vecs = _vectors(settings)
    assert len(vecs) == len(repeated)
    by_text = dict(db.execute("SELECT feedback_id, text FROM trendmine.feedback").fetchall())
    want = dict(zip(TEXTS, embedder.encode(TEXTS), strict=True))
    for (fid, _), vec in vecs.items():  # every copy got its own text's vector
        np.testing.assert_allclose(vec, want[by_text[fid]], atol=1e-5)
    assert embed_missing(db, counting) == 0  # nothing left


def test_two_dask_workers_write_the_vectors_one_process_would(settings, db, embedder,
                                                                prefect_api):
    from flows.pipeline import embed_on_dask

    cases = [f"{t} (case {k})" for k in range(6) for t in TEXTS]
    texts = cases + cases[:8]  # 56 records, 48 distinct texts
    _store(db, texts)
    counts = embed_on_dask(settings, workers=2, batch=7)  # 48 distinct texts: 7 batches
    assert counts == {"in": len(texts), "out": len(texts), "distinct": 48, "batches": 7}
    assert pending_embeddings(settings) == []
    got = _vectors(settings)
    assert len(got) == len(texts)
    with psycopg.connect(settings.dsn()) as conn:
        order = conn.execute("SELECT feedback_id, ord, text FROM trendmine.feedback_snippet "
                             "ORDER BY feedback_id, ord").fetchall()
    one = embedder.encode([t for _, _, t in order])  # one process, one call
    dask = np.stack([got[(fid, o)] for fid, o, _ in order])
    np.testing.assert_allclose(dask, one, atol=1e-5)


def test_the_device_and_workers_settings_reach_the_embedder(monkeypatch):
    monkeypatch.setenv("TRENDMINE_EMBEDDING_DEVICE", "cuda:1")
    monkeypatch.setenv("TRENDMINE_EMBEDDING_WORKERS", "2")
    s = Settings()
    assert embedder_for(s).device == "cuda:1" and s.embedding_workers == 2
    for name, default in (("embedding_device", "cpu"), ("embedding_workers", 0)):
        assert Settings.model_fields[name].default == default


def test_embedding_on_a_gpu_gives_the_cpu_vectors(embedder):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here")
    gpu = Embedder(device="cuda")
    assert str(gpu.st_model.device).startswith("cuda")
    np.testing.assert_allclose(gpu.encode(TEXTS), embedder.encode(TEXTS), atol=1e-4)


def test_light_encoder_gives_the_sentence_transformers_vectors(embedder):
    assert LightEncoder.supports("all-MiniLM-L6-v2")
    texts = [*TEXTS, "", "Ünïcödé naïve café — 東京 ✓", " ".join(["long"] * 400)]  # truncated
    np.testing.assert_allclose(LightEncoder().encode(texts), embedder.encode(texts),
                               atol=1e-5)
    np.testing.assert_allclose(embed_query(TEXTS[0]), embedder.encode(TEXTS[:1])[0],
                               atol=1e-5)


def test_light_encoder_declines_what_it_cannot_compute(tmp_path):
    assert not LightEncoder.supports(str(tmp_path))  # not a model directory
    assert not LightEncoder.supports("no-such-model-anywhere")


def test_the_query_path_imports_neither_torch_nor_the_clustering_stack():
    code = ("import sys; from mining.embed import embed_query; embed_query('SSO please'); "
            "heavy = {'torch', 'sentence_transformers', 'transformers', 'sklearn', 'umap', "
            "'hdbscan'} & set(sys.modules); assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)


def test_the_mine_flow_embeds_on_dask_when_workers_are_set(services, tmp_path,
                                                           prefect_api):
    from flows.pipeline import mine_flow
    from flows.runtime import running_with

    from .conftest import make_settings

    s = make_settings(services, tmp_path, embedding_workers=2)
    with psycopg.connect(s.dsn(), autocommit=True) as conn:
        _store(conn, TEXTS)  # 8 records: embedded, too few to cluster
    with running_with(s):
        counts = mine_flow()
    assert counts["embed"] == {"in": 8, "out": 8, "distinct": 8, "batches": 1}
    assert counts["embedded"] == 0  # nothing left for the mining process to embed
    assert len(_vectors(s)) == 8
