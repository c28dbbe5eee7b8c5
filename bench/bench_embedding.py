"""Embedder.encode throughput vs a bare SentenceTransformer.encode, same texts, same run.

    python bench/bench_embedding.py [--n 3000] [--rounds 2]

Runs are interleaved (bare, trendmine, bare, trendmine, ...) so machine noise hits both.
Writes bench/results/embedding.json.
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

from mining.embed import Embedder, _resolve_model  # noqa: E402
from mining.evaluate import load_labelled_csv  # noqa: E402

CLINC = Path(os.environ.get("TRENDMINE_CLINC150_DIR", REPO.parent / "shared/datasets/clinc150"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128)
    args = ap.parse_args()
    from sentence_transformers import SentenceTransformer

    texts, _ = load_labelled_csv(CLINC / "train.csv")
    texts = texts[: args.n]
    bare = SentenceTransformer(_resolve_model("all-MiniLM-L6-v2"), device="cpu")
    ours = Embedder(batch_size=args.batch_size, device="cpu")
    bare.encode(texts[:64]), ours.encode(texts[:64])  # warm-up: load, first-call costs

    rates: dict[str, list[float]] = {"bare": [], "trendmine": []}
    for _ in range(args.rounds):
        for name in ("bare", "trendmine"):
            t = time.perf_counter()
            if name == "bare":
                bare.encode(texts, batch_size=args.batch_size, normalize_embeddings=True)
            else:
                ours.encode(texts)
            rates[name].append(len(texts) / (time.perf_counter() - t))
    bare_rate = sum(rates["bare"]) / len(rates["bare"])
    our_rate = sum(rates["trendmine"]) / len(rates["trendmine"])
    result = {
        "n_texts": len(texts),
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "rates_texts_per_s": rates,
        "bare_mean": round(bare_rate, 1),
        "trendmine_mean": round(our_rate, 1),
        "ratio": round(our_rate / bare_rate, 3),
        "torch_threads": __import__("torch").get_num_threads(),
    }
    out = REPO / "bench/results/embedding.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"bare SentenceTransformer.encode: {bare_rate:8.1f} texts/s  {rates['bare']}")
    print(f"trendmine Embedder.encode:       {our_rate:8.1f} texts/s  {rates['trendmine']}")
    print(f"ratio {result['ratio']:.3f} (target >= 0.90); wrote {out.relative_to(REPO)}")
    print("command: python bench/bench_embedding.py --n", args.n, "--rounds", args.rounds)


if __name__ == "__main__":
    main()
