"""Label phrases keep their vectors in Postgres: a re-mine reads them instead of embedding
them again, and gets the vectors it would have computed."""

from __future__ import annotations

import numpy as np
import pytest
from pgvector.psycopg import register_vector

from foundation.config import DEFAULT_MODEL
from mining.embed import LightEncoder
from warehouse.mine import embedder_for
from warehouse.phrase_cache import LIGHT_MAX_PHRASES, StoredPhraseEncoder, phrase_encoder_for

PHRASES = ["eu data residency", "charged twice", "shopify order sync", "dark mode"]


class CountingEncoder:
    """The real numpy encoder, counting the phrases it is asked to embed."""

    def __init__(self) -> None:
        self.inner, self.seen = LightEncoder(), []

    def encode(self, texts):
        self.seen.extend(texts)
        return self.inner.encode(texts)


@pytest.fixture
def conn(db):
    register_vector(db)
    return db


def test_known_phrases_are_read_not_embedded(conn):
    first = CountingEncoder()
    a = StoredPhraseEncoder(conn, DEFAULT_MODEL, first).encode(PHRASES)
    assert first.seen == PHRASES
    again = CountingEncoder()
    cache = StoredPhraseEncoder(conn, DEFAULT_MODEL, again)
    b = cache.encode([*PHRASES[::-1], "audit log export"])
    assert again.seen == ["audit log export"] and cache.encoded_ == 1
    np.testing.assert_allclose(b[:4], a[::-1], atol=1e-6)
    np.testing.assert_allclose(b[4], LightEncoder().encode(["audit log export"])[0], atol=1e-6)
    stored = conn.execute("SELECT count(*) FROM trendmine.phrase_embedding").fetchone()[0]
    assert stored == 5


def test_vectors_are_per_model(conn):
    StoredPhraseEncoder(conn, DEFAULT_MODEL, LightEncoder()).encode(PHRASES[:2])
    other = CountingEncoder()
    StoredPhraseEncoder(conn, "some/other-model", other).encode(PHRASES[:2])
    assert other.seen == PHRASES[:2]  # another model's vectors are never reused


def test_a_few_phrases_need_no_torch_many_use_the_model(settings):
    emb = embedder_for(settings)
    enc = phrase_encoder_for(settings, emb)
    assert isinstance(enc.light, LightEncoder)
    enc.encode(PHRASES)
    assert not emb.loaded  # a few phrases: the numpy path, no model loaded
    many = [f"{p} {i}" for i in range(LIGHT_MAX_PHRASES // len(PHRASES) + 1) for p in PHRASES]
    np.testing.assert_allclose(enc.encode(many)[:4], enc.light.encode(many[:4]),
                               atol=1e-5)
    assert emb.loaded  # many: the model, loaded once
    gpu = settings.model_copy(update={"embedding_device": "cuda"})
    assert phrase_encoder_for(gpu, embedder_for(gpu)).light is None
