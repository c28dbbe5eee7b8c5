"""Calibrate `similar`'s floor on CLINC150 (Settings.similar_min_similarity), for precision.

    python bench/bench_similar_floor.py [--per-intent 20] [--held-out 50] [--precision 0.8]

The question `similar` answers is "who else asked for this?", and its totals count every
stored record at or above the floor as an ask. So the floor is chosen for the PRECISION of
those counts: index the train utterances of the PRESENT intents (like stored feedback), then
embed queries of present intents and of HELD-OUT intents plus CLINC's out-of-scope requests
(nothing alike is indexed). Every (query, indexed record) pair at or above a floor is a
counted ask; it is right when both are the same intent. The floor is the lowest one whose
counted asks are right at least `--precision` of the time on val.csv queries; its precision
and recall (share of same-intent pairs counted) are reported on test.csv queries, so they are
not fit to the data they are measured on. The older per-query view (does any close match
exist: max F1 and max balanced accuracy of "a close match exists") is printed beside it.
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


def _pair_stats(sims: np.ndarray, same: np.ndarray, floor: float) -> dict[str, float]:
    """Counted asks at a floor: pairs at or above it, the share of them that are the same
    intent, and the share of same-intent pairs counted."""
    counted = sims >= floor
    right = int((counted & same).sum())
    return {"floor": round(floor, 3), "counted_precision": round(right / max(int(counted.sum()),
                                                                             1), 3),
            "counted_recall": round(right / max(int(same.sum()), 1), 3),
            "counted_per_query": round(float(counted.sum()) / len(sims), 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-intent", type=int, default=20, help="indexed utterances per intent")
    ap.add_argument("--queries", type=int, default=10, help="queries per intent and split")
    ap.add_argument("--held-out", type=int, default=50, help="intents never indexed")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--precision", type=float, default=0.8,
                    help="the share of counted asks that must be right")
    args = ap.parse_args()
    if not (CLINC / "test.csv").is_file():
        sys.exit(f"CLINC150 not found at {CLINC} (set TRENDMINE_CLINC150_DIR)")
    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    train = load_labelled_csv(CLINC / "train.csv")
    intents = sorted(set(train[1]) - {OOS})
    held_out = set(rng.sample(intents, args.held_out))
    present = set(intents) - held_out
    index_texts, index_intents = _sample(*train, present, args.per_intent, rng)
    index_labels = np.array(index_intents)
    emb = Embedder(device="cpu")
    index = emb.encode(index_texts)

    pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def scored(split: str) -> tuple[np.ndarray, np.ndarray]:
        texts, labels = load_labelled_csv(CLINC / f"{split}.csv")
        q, qi = _sample(texts, labels, set(intents) | {OOS}, args.queries, rng)
        oos = [t for t, i in zip(texts, labels, strict=True) if i == OOS]
        q += rng.sample(oos, min(len(oos), args.queries * 20))
        qi += [OOS] * (len(q) - len(qi))
        sims = emb.encode(q) @ index.T
        pairs[split] = (sims, np.array(qi)[:, None] == index_labels[None, :])
        return sims.max(axis=1), np.array([i in present for i in qi])

    val_scores, val_seen = scored("val")
    grid = np.round(np.arange(0.30, 0.90, 0.01), 2)
    fits = [_stats(val_scores, val_seen, float(f)) for f in grid]
    best = max(fits, key=lambda s: (s["match_f1"], s["floor"]))
    strict = max(fits, key=lambda s: (s["balanced_accuracy"], s["floor"]))
    test_scores, test_seen = scored("test")
    by_pairs = [_pair_stats(*pairs["val"], float(f)) for f in grid]
    precise = next((p for p in by_pairs if p["counted_precision"] >= args.precision),
                   by_pairs[-1])
    result = {
        "precision_target": args.precision,
        "precision_floor_on_val": precise,
        "precision_floor_on_test": _pair_stats(*pairs["test"], precise["floor"]),
        "counted_asks_on_test": [_pair_stats(*pairs["test"], f)
                                 for f in (0.52, 0.55, 0.6, 0.63, 0.65, 0.7)],
        "command": "python bench/bench_similar_floor.py " + " ".join(sys.argv[1:]),
        "model": emb.model, "indexed": len(index_texts), "present_intents": len(present),
        "held_out_intents": len(held_out),
        "test_queries": {"seen": int(test_seen.sum()), "never_seen": int((~test_seen).sum())},
        "max_f1_floor_on_val": best,
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
