"""Calibrate `similar`'s "no close match" floor on CLINC150 (Settings.similar_min_similarity).

    python bench/bench_similar_floor.py [--per-intent 20] [--held-out 50] [--seed 0]

The question `similar` answers is "did other customers ask for this?". So: index the train
utterances of the PRESENT intents (like stored feedback), then embed queries of present
intents (a close match exists: a "seen" query) and of HELD-OUT intents plus CLINC's
out-of-scope requests (nothing alike is indexed: a "never seen" query). A query's score is
its best cosine to the index, as in `similar`. The floor is the cosine that best separates
the two for `similar`'s purpose: max F1 of "a close match exists", since telling a PM "no one
asked" when customers did hides demand, while a weak match is shown with its similarity. The
max-balanced-accuracy floor (stricter) is printed for comparison. Both are chosen on val.csv
queries and reported on test.csv queries, so the reported precision/recall are not fit to
the data they are measured on.
Writes bench/results/similar_floor.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mining.embed import Embedder  # noqa: E402
from mining.evaluate import load_labelled_csv  # noqa: E402

CLINC = Path(os.environ.get("TRENDMINE_CLINC150_DIR", REPO.parent / "shared/datasets/clinc150"))
OOS = "oos"


def _sample(texts: list[str], intents: list[str], keep: set[str], per: int,
            rng: random.Random) -> tuple[list[str], list[str]]:
    by: dict[str, list[str]] = {}
    for t, i in zip(texts, intents, strict=True):
        if i in keep:
            by.setdefault(i, []).append(t)
    out = [(t, i) for i, ts in sorted(by.items()) for t in rng.sample(ts, min(per, len(ts)))]
    return [t for t, _ in out], [i for _, i in out]


def _stats(scores: np.ndarray, seen: np.ndarray, floor: float) -> dict[str, float]:
    said_match = scores >= floor
    tp = int((said_match & seen).sum())
    precision = tp / max(int(said_match.sum()), 1)
    recall = tp / max(int(seen.sum()), 1)
    said_none = ~said_match
    none_precision = int((said_none & ~seen).sum()) / max(int(said_none.sum()), 1)
    none_recall = int((said_none & ~seen).sum()) / max(int((~seen).sum()), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"floor": round(floor, 3), "match_precision": round(precision, 3),
            "match_recall": round(recall, 3), "match_f1": round(f1, 3),
            "no_match_precision": round(none_precision, 3),
            "no_match_recall": round(none_recall, 3),
            "balanced_accuracy": round((recall + none_recall) / 2, 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-intent", type=int, default=20, help="indexed utterances per intent")
    ap.add_argument("--queries", type=int, default=10, help="queries per intent and split")
    ap.add_argument("--held-out", type=int, default=50, help="intents never indexed")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not (CLINC / "test.csv").is_file():
        sys.exit(f"CLINC150 not found at {CLINC} (set TRENDMINE_CLINC150_DIR)")
    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    train = load_labelled_csv(CLINC / "train.csv")
    intents = sorted(set(train[1]) - {OOS})
    held_out = set(rng.sample(intents, args.held_out))
    present = set(intents) - held_out
    index_texts, _ = _sample(*train, present, args.per_intent, rng)
    emb = Embedder(device="cpu")
    index = emb.encode(index_texts)

    def scored(split: str) -> tuple[np.ndarray, np.ndarray]:
        texts, labels = load_labelled_csv(CLINC / f"{split}.csv")
        q, qi = _sample(texts, labels, set(intents) | {OOS}, args.queries, rng)
        oos = [t for t, i in zip(texts, labels, strict=True) if i == OOS]
        q += rng.sample(oos, min(len(oos), args.queries * 20))
        qi += [OOS] * (len(q) - len(qi))
        best = (emb.encode(q) @ index.T).max(axis=1)
        return best, np.array([i in present for i in qi])

    val_scores, val_seen = scored("val")
    grid = np.round(np.arange(0.30, 0.90, 0.01), 2)
    fits = [_stats(val_scores, val_seen, float(f)) for f in grid]
    best = max(fits, key=lambda s: (s["match_f1"], s["floor"]))
    strict = max(fits, key=lambda s: (s["balanced_accuracy"], s["floor"]))
    test_scores, test_seen = scored("test")
    result = {
        "command": "python bench/bench_similar_floor.py " + " ".join(sys.argv[1:]),
        "model": emb.model, "indexed": len(index_texts), "present_intents": len(present),
        "held_out_intents": len(held_out),
        "test_queries": {"seen": int(test_seen.sum()), "never_seen": int((~test_seen).sum())},
        "chosen_on_val": best,
        "on_test": _stats(test_scores, test_seen, best["floor"]),
        "balanced_floor_on_val": strict["floor"],
        "balanced_floor_on_test": _stats(test_scores, test_seen, strict["floor"]),
        "test_median_best_cosine": {
            "seen": round(float(np.median(test_scores[test_seen])), 3),
            "never_seen": round(float(np.median(test_scores[~test_seen])), 3)},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    out = REPO / "bench" / "results" / "similar_floor.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
