"""Label phrases remember their vectors in Postgres, so a re-mine embeds only new ones.

The phrase labeller ranks a few thousand candidate phrases per full run by embedding them;
from one run to the next nearly all of them are the same. `StoredPhraseEncoder` is a
TextEncoder (mining.contracts) that reads known phrases from `trendmine.phrase_embedding`,
encodes the rest and stores them. A handful of new phrases go through the light numpy path
of the bundled model (no torch to load); many go through the model itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from foundation.config import Settings
from mining import Embedder
from mining.contracts import TextEncoder
from mining.embed import LightEncoder
from schemas.names import PHRASE_EMBEDDING_TABLE
from warehouse.vectors import RawVectorLoader, decode_vectors

# Up to this many new phrases, the numpy path beats loading torch (~10 s) for the model:
# measured idle on 2 cores, numpy ~136 phrases/s, sentence-transformers ~600/s once loaded.
LIGHT_MAX_PHRASES = 1500


class PhraseEncoder:
    """Label phrases: a few through the light numpy path (no torch to load, same vectors),
    many, or any once the model is loaded anyway, through the snippets' embedder."""

    def __init__(self, embedder: Embedder, light: TextEncoder | None,
                 light_max: int = LIGHT_MAX_PHRASES) -> None:
        self.embedder = embedder
        self.light = light
        self.light_max = light_max

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self.light is not None and not self.embedder.loaded and len(texts) <= self.light_max:
            return self.light.encode(texts)
        return self.embedder.encode(texts)


def phrase_encoder_for(settings: Settings, embedder: Embedder) -> PhraseEncoder:
    """The encoder for label phrases: the numpy path is offered when the model allows it on
    the CPU, else only the snippets' embedder is used."""
    light = (LightEncoder(embedder.model, normalize=embedder.normalize)
             if settings.embedding_device in (None, "", "cpu")
             and LightEncoder.supports(embedder.model) else None)
    return PhraseEncoder(embedder, light)


class StoredPhraseEncoder:
    """`encode(phrases)` from the phrase table where known, else from `encoder` (stored).

    `conn`: an autocommit connection with pgvector registered. `encoded_`: how many
    phrases it had to encode so far (0 on a re-mine of unchanged data)."""

    def __init__(self, conn, model_id: str, encoder: TextEncoder) -> None:
        self.conn = conn
        self.model_id = model_id
        self.encoder = encoder
        self.encoded_ = 0
        self._seen: dict[str, np.ndarray] = {}  # this run's phrases: leaves, then parents

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        vectors = self._seen
        vectors.update(self._stored([t for t in dict.fromkeys(texts) if t not in vectors]))
        new = [t for t in dict.fromkeys(texts) if t not in vectors]
        self.encoded_ += len(new)
        if new:
            fresh = np.asarray(self.encoder.encode(new), dtype=np.float32)
            vectors.update(zip(new, fresh, strict=True))
            with self.conn.transaction(), self.conn.cursor() as cur:
                # two runs at once may both add a phrase: the first one's vector stays
                cur.executemany(
                    f"INSERT INTO {PHRASE_EMBEDDING_TABLE} (model, phrase, embedding) "
                    "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                    [(self.model_id, p, v) for p, v in zip(new, fresh, strict=True)])
        dim = next(iter(vectors.values())).shape[0] if vectors else 0
        return np.stack([vectors[t] for t in texts]) if texts else np.zeros((0, dim), np.float32)

    def _stored(self, phrases: list[str]) -> dict[str, np.ndarray]:
        """Vectors of the phrases the table knows, read in binary (warehouse.vectors)."""
        if not phrases:
            return {}
        with self.conn.cursor(binary=True) as cur:
            cur.adapters.register_loader("vector", RawVectorLoader)
            found = cur.execute(
                f"SELECT phrase, embedding FROM {PHRASE_EMBEDDING_TABLE} "
                "WHERE model = %s AND phrase = ANY(%s)", (self.model_id, phrases)).fetchall()
        return dict(zip([p for p, _ in found], decode_vectors([v for _, v in found]),
                        strict=True))
