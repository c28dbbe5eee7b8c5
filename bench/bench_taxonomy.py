"""Seeded taxonomy on clinc150: do a seed's records land in it, and are the rest left alone?

    python bench/bench_taxonomy.py     # seconds once the clusterings are cached (about 1 min
                                       # on 2 cores to cluster, again after the clustering
                                       # code changes)

Data: clinc150 in-scope test (150 intents x 30 requests), all-MiniLM-L6-v2 embeddings (cached
by bench_mining). Each seeding seeds a share of the intents the way a PM would: the name is
the intent label with underscores replaced ("credit_limit" -> "credit limit") and 3 examples
drawn from the *train* split; the other intents are held out (no seed covers them). The data
is clustered once by the default ThemeModel (as a full mining run does), then `SeedAssigner`
decides. Two set-ups, 10 random seedings each (`--seeds`):
- all 150 intents, 120 seeded (80%), 30 held out;
- a subset of 77 intents, 60 seeded, 17 held out (the shape of the target on real requests).

Three numbers per run:
- seeded recall: share of the seeded intents' records assigned to their own seed (>= 85%);
- swallowed: share of the held-out intents' records assigned to some seed (<= 10%);
- discovered: held-out intents whose records stay, for at least half, in clusters where they
  are the majority (as their own themes, >= 14 of 17).
The nearest-example baseline (each record to the seed of its nearest example, no rejection)
is printed for reference, and so are other settings of the assigner (DESIGNS). Writes
bench/results/taxonomy.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_mining import CACHE, split_part  # noqa: E402

from mining import Embedder, ThemeModel  # noqa: E402
from mining.taxonomy import SeedAssigner  # noqa: E402

OUT = REPO / "bench/results/taxonomy.json"
N_EXAMPLES = 3
# other settings of SeedAssigner, measured beside the default (`--params` sets the default)
DESIGNS = [
    ("one bar for all seeds", {"radius_weight": 0.0}),
    ("one bar for all seeds, stricter (claim_quantile 0.8)",
     {"radius_weight": 0.0, "claim_quantile": 0.8}),
    ("per-seed bar, stricter (claim_quantile 0.7, radius_weight 1.25)",
     {"claim_quantile": 0.7, "radius_weight": 1.25}),
    ("no second cluster by likeness (same_need 1)", {"same_need": 1.0}),
    ("examples only, no name (name_weight 0)", {"name_weight": 0.0}),
]


# the sources a full run's leaves depend on: a change to any re-clusters (the bench measures
# the model's default as it is now)
CLUSTERING_SOURCES = ("cluster.py", "model.py", "hierarchy.py", "reduce.py", "outliers.py",
                      "assign.py")


def clustering_version() -> str:
    digest = hashlib.sha256()
    for source in CLUSTERING_SOURCES:
        digest.update((REPO / "mining" / source).read_bytes())
    return digest.hexdigest()[:12]


def clustering(name: str, X: np.ndarray, texts: list[str]) -> np.ndarray:
    """The default ThemeModel's leaves over X (cached per version of the clustering code: the
    seeding does not change them)."""
    path = CACHE / f"taxonomy_clusters_{name}_{clustering_version()}.npy"
    if path.is_file():
        return np.load(path)
    t = time.perf_counter()
    labels = ThemeModel().fit(X, texts=texts, label=False).labels_
    print(f"clustered {name}: {len(np.unique(labels[labels >= 0]))} clusters, "
          f"{time.perf_counter() - t:.0f} s", flush=True)
    np.save(path, labels)
    return labels


def name_embeddings(intents: list[str]) -> dict[str, np.ndarray]:
    path = CACHE / "taxonomy_intent_names.npz"
    if path.is_file():
        got = dict(np.load(path))
        if set(intents) <= set(got):
            return got
    vecs = Embedder().encode([i.replace("_", " ") for i in intents])
    got = dict(zip(intents, vecs, strict=True))
    np.savez(path, **got)
    return got


def discovered(y: np.ndarray, seed_of: np.ndarray, labels: np.ndarray, held: list[str]
               ) -> int:
    """Held-out intents that at least half of whose records sit, unseeded, in clusters
    where the intent is the majority."""
    free = (seed_of < 0) & (labels >= 0)
    found = 0
    majority: dict[int, str] = {}
    for c in np.unique(labels[free]).tolist():
        vals, counts = np.unique(y[free & (labels == c)], return_counts=True)
        majority[c] = str(vals[counts.argmax()])
    for intent in held:
        mine = y == intent
        ok = free & mine & np.isin(labels, [c for c, m in majority.items() if m == intent])
        found += int(ok.sum() >= 0.5 * mine.sum())
    return found


def run_one(X: np.ndarray, y: np.ndarray, labels: np.ndarray, tr_y: np.ndarray,
            tr_X: np.ndarray, names: dict[str, np.ndarray], intents: list[str], n_seeded: int,
            rng: np.random.Generator, params: dict) -> dict:
    seeded = sorted(rng.choice(intents, size=n_seeded, replace=False).tolist())
    held = sorted(set(intents) - set(seeded))
    ex_idx, ex_seed = [], []
    for j, intent in enumerate(seeded):
        ex_idx += rng.choice(np.flatnonzero(tr_y == intent), N_EXAMPLES, replace=False).tolist()
        ex_seed += [j] * N_EXAMPLES
    E, ex_seed = tr_X[ex_idx], np.array(ex_seed)
    N = np.stack([names[i] for i in seeded])
    model = SeedAssigner(**params).fit(X, E, ex_seed, N, labels)
    truth = np.array([seeded.index(v) if v in seeded else -1 for v in y])
    is_seeded = truth >= 0
    nearest = ex_seed[(X @ E.T).argmax(axis=1)]
    return {
        "seeded_recall": float((model.seed_of_[is_seeded] == truth[is_seeded]).mean()),
        "swallowed": float((model.seed_of_[~is_seeded] >= 0).mean()),
        "discovered": discovered(y, model.seed_of_, labels, held),
        "held_out": len(held),
        "nearest_example_recall": float((nearest[is_seeded] == truth[is_seeded]).mean()),
        "threshold": round(model.threshold_, 4),
    }


def seedings(data: tuple, params: dict, n: int) -> tuple[list[dict], dict]:
    """`run_one` over seedings 0..n-1, and the mean of each number."""
    runs = [run_one(*data, np.random.default_rng(s), params) for s in range(n)]
    return runs, {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10, help="random seedings per set-up")
    ap.add_argument("--params", default="{}", help="SeedAssigner parameters as JSON")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    params = json.loads(args.params)
    texts, y, X = split_part("test", "in-scope")
    _, tr_y, tr_X = split_part("train", "in-scope")
    intents = sorted(set(y.tolist()))
    names = name_embeddings(intents)
    subset = sorted(np.random.default_rng(77).choice(intents, 77, replace=False).tolist())
    sub = np.isin(y, subset)
    setups = [("clinc150 in-scope, 120 of 150 intents seeded", intents, 120,
               np.ones(len(y), bool), "inscope"),
              ("clinc150 77-intent subset, 60 of 77 seeded", subset, 60, sub, "subset77")]
    results, designs = [], [{"design": name, "params": {**params, **extra}, "setups": {}}
                            for name, extra in DESIGNS]
    for title, its, n_seeded, keep, key in setups:
        Xs, ys = X[keep], y[keep]
        labels = clustering(key, Xs, [t for t, k in zip(texts, keep, strict=True) if k])
        n_clusters = len(np.unique(labels[labels >= 0]))

        data = (Xs, ys, labels, tr_y, tr_X, names, its, n_seeded)
        runs, mean = seedings(data, params, args.seeds)
        print(f"{title} ({n_clusters} clusters): seeded recall {mean['seeded_recall']:.1%} "
              f"(nearest example {mean['nearest_example_recall']:.1%}), swallowed "
              f"{mean['swallowed']:.1%}, discovered {mean['discovered']:.1f} of "
              f"{mean['held_out']:.0f}", flush=True)
        for s, r in enumerate(runs):
            print(f"  seeding {s}: recall {r['seeded_recall']:.1%}, swallowed "
                  f"{r['swallowed']:.1%}, discovered {r['discovered']}/{r['held_out']}, "
                  f"bar {r['threshold']:.3f}")
        results.append({"setup": title, "clusters": n_clusters, "runs": runs, "mean": mean})
        for design in designs:
            design_runs, m = seedings(data, design["params"], args.seeds)
            worst = max(r["swallowed"] for r in design_runs)
            design["setups"][title] = {**m, "worst_swallowed": worst}
            print(f"  {design['design']}: recall {m['seeded_recall']:.1%}, swallowed "
                  f"{m['swallowed']:.1%} (worst seeding {worst:.1%}), "
                  f"discovered {m['discovered']:.1f}", flush=True)
    if not args.no_write:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps({"params": params, "seedings": args.seeds,
                                   "clustering_code": clustering_version(), "results": results,
                                   "designs": designs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
