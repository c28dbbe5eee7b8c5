"""The embedding stage on a GPU (TRENDMINE_EMBEDDING_DEVICE) against the CPU, same texts, same run.

    python bench/bench_gpu.py [--device cuda] [--texts FILE] [--cpu-n 2000] [--out DIR]

Checks what tests/test_embed_scale.py checks where a GPU exists (the device gives the CPU's
vectors, atol 1e-4), then times `Embedder.encode` on the CPU (all its cores) and on the
device. `--texts`: one text per line (default: CLINC150 train from ../shared). Writes
gpu.json to `--out` (default bench/results). Exits 2 when the device is not available.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from mining.embed import Embedder  # noqa: E402

CLINC = Path(os.environ.get("TRENDMINE_CLINC150_DIR", REPO.parent / "shared/datasets/clinc150"))


def load_texts(path: str | None) -> list[str]:
    if path:
        return [t for t in Path(path).read_text().splitlines() if t.strip()]
    from mining.evaluate import load_labelled_csv

    return load_labelled_csv(CLINC / "train.csv")[0]


def rate(embedder: Embedder, texts: list[str]) -> tuple[float, np.ndarray]:
    """texts/s of one encode call (after a warm-up call)."""
    embedder.encode(texts[:256])
    if embedder.device and embedder.device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
    t = time.perf_counter()
    out = embedder.encode(texts)
    return len(texts) / (time.perf_counter() - t), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--texts")
    ap.add_argument("--cpu-n", type=int, default=2000, help="texts timed on the CPU")
    ap.add_argument("--out", default=str(REPO / "bench/results"))
    args = ap.parse_args()
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"no CUDA device here (torch {torch.__version__}); nothing to measure")
        sys.exit(2)
    texts = load_texts(args.texts)
    cpu = Embedder(device="cpu")
    dev = Embedder(device=args.device)
    sample = texts[:512]
    a, b = cpu.encode(sample), dev.encode(sample)
    diff = float(np.abs(a - b).max())
    same = bool(np.allclose(a, b, atol=1e-4))
    cpu_rate, _ = rate(cpu, texts[: args.cpu_n])
    rows = {"device": args.device, "gpu": torch.cuda.get_device_name(0)
            if args.device.startswith("cuda") else None,
            "cpu_threads": torch.get_num_threads(), "n_texts": len(texts),
            "mean_words": round(float(np.mean([len(t.split()) for t in texts])), 1),
            "max_abs_diff_vs_cpu": diff, "same_vectors_atol_1e-4": same,
            "cpu_texts_per_s": round(cpu_rate, 1)}
    for bs in (128, 512):
        dev.batch_size = bs
        r, _ = rate(dev, texts)
        rows[f"device_texts_per_s_batch_{bs}"] = round(r, 1)
        rows[f"device_seconds_all_batch_{bs}"] = round(len(texts) / r, 2)
    rows["speedup_vs_cpu"] = round(rows["device_texts_per_s_batch_128"] / cpu_rate, 1)
    print(json.dumps(rows, indent=2))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "gpu.json").write_text(json.dumps(rows, indent=2) + "\n")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
