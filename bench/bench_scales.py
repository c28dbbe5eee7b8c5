"""The automatic theme count across scales: 25 to 100 requests per need.

    python bench/bench_scales.py                   # the whole grid, today's default
    python bench/bench_scales.py --configs default,fixed_silhouette

The count of themes a model chooses must follow the needs, not the number of requests
per need. Grid (same all-MiniLM-L6-v2 embeddings, UMAP layouts cached per set in
~/.cache/trendmine-bench/layouts, since the layout does not depend on the count rule):
- random CLINC150 subsets of 60-80 intents drawn from all 10 domains, with 25, 40, 60 and
  100 requests per intent on average (each intent's size drawn uniformly within 1.5x,
  from train+val+test), seeds 0-2;
- CLINC150 test in-scope (150 intents x 30) and test full (+ 1,000 out-of-scope).

Per set and config: NMI, ARI (noise one group), noise share, leaves and leaves / true
intents, parents, parent NMI and purity against CLINC150's domains (bench_needs.purity),
fit seconds (the cached layout's UMAP time left out: the same for every config). A mean
per scale. Writes bench/results/needs_scales.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_mining import CACHE, _domains, embeddings, split_part  # noqa: E402
from bench_needs import purity  # noqa: E402

from mining import ThemeModel  # noqa: E402
from mining._validate import l2_normalize  # noqa: E402
from mining.cluster import WardClusterer  # noqa: E402
from mining.evaluate import evaluate  # noqa: E402
from mining.model import canonical_order  # noqa: E402
from mining.reduce import UMAPReducer  # noqa: E402

OUT = REPO / "bench/results/needs_scales.json"
LAYOUTS = CACHE / "layouts"
SCALES = (25, 40, 60, 100)
SEEDS = (0, 1, 2)


def scale_subset(per_intent: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(intents, embeddings): 60-80 random in-scope intents, each with a size drawn
    uniformly from [per_intent / 1.22, per_intent x 1.22] (1.5x apart)."""
    parts = [embeddings(s) for s in ("train", "val", "test")]
    y = np.concatenate([p[1] for p in parts])
    E = np.concatenate([p[2] for p in parts])
    rng = np.random.default_rng(1000 * per_intent + seed)
    intents = sorted(set(y.tolist()) - {"oos"})
    picked = rng.choice(intents, int(rng.integers(60, 81)), replace=False)
    lo, hi = round(per_intent / 1.22), round(per_intent * 1.22)
    idx: list[int] = []
    for intent in sorted(picked):
        pool = np.flatnonzero(y == intent)
        idx += list(rng.choice(pool, min(pool.size, int(rng.integers(lo, hi + 1))),
                               replace=False))
    keep = np.sort(np.array(idx))
    return y[keep], E[keep]


def grid(which: set[str]) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """(name, scale group, intents, embeddings) per set."""
    out = []
    for per in SCALES:
        if str(per) in which or "subsets" in which:
            for seed in SEEDS:
                y, E = scale_subset(per, seed)
                out.append((f"{per}/intent seed {seed}", f"{per}/intent", y, E))
    if "clinc" in which:
        for part in ("in-scope", "full"):
            _, y, E = split_part("test", part)
            out.append((f"clinc150 test {part}", f"test {part}", y, E))
    return out


class CachedLayout:
    """A Reducer that returns a UMAP layout computed once per set (on disk): the same
    layout `ThemeModel` would compute (UMAPReducer(42) over the canonically ordered unit
    embeddings)."""

    def __init__(self, name: str, X: np.ndarray) -> None:
        Xu = l2_normalize(X)
        path = LAYOUTS / f"{name.replace(' ', '_').replace('/', '-')}_{len(X)}.npy"
        if path.is_file():
            self.layout = np.load(path)
            self.seconds = float("nan")
        else:
            t = time.perf_counter()
            self.layout = UMAPReducer(random_state=42).fit_transform(Xu[canonical_order(Xu)])
            self.seconds = time.perf_counter() - t
            LAYOUTS.mkdir(parents=True, exist_ok=True)
            np.save(path, self.layout)

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        if X.shape[0] != self.layout.shape[0]:
            raise ValueError("cached layout: wrong set")
        return self.layout


CONFIGS = {
    # the highest mean silhouette over 40 counts, no smoothing
    "highest silhouette": lambda: WardClusterer(n_candidates=40, smooth_window=0.0,
                                                tolerance=0.0, statistic="mean"),
    "default": lambda: None,
    "tolerance 0.01": lambda: WardClusterer(tolerance=0.01),
    "mean tolerance 0.005": lambda: WardClusterer(statistic="mean", tolerance=0.005),
}


def measure(name: str, group: str, config: str, y: np.ndarray, E: np.ndarray) -> dict:
    dom = _domains()
    fam = np.array([dom[v] for v in y])
    reducer = CachedLayout(name, E)
    t = time.perf_counter()
    model = ThemeModel(reducer=reducer, clusterer=CONFIGS[config]()).fit(E)
    secs = time.perf_counter() - t
    true = int(np.unique(y[y != "oos"]).size)
    parents = model.parent_labels()
    row = {"dataset": name, "scale": group, "config": config, **evaluate(y, model.labels_),
           "true_needs": true, "leaves_per_need": round(model.n_themes_ / true, 3),
           "n_parents": int(model.parent_ids_.size),
           "parent_nmi": evaluate(fam, parents)["nmi"],
           "parent_purity": purity(fam, parents),
           "fit_seconds_after_layout": round(secs, 1)}
    print(json.dumps(row), flush=True)
    return row


KEYS = ("nmi", "ari", "noise_share", "n_themes", "leaves_per_need", "n_parents",
        "parent_nmi", "parent_purity", "fit_seconds_after_layout")


def means(rows: list[dict]) -> list[dict]:
    out = []
    for config in dict.fromkeys(r["config"] for r in rows):
        for group in dict.fromkeys(r["scale"] for r in rows):
            sub = [r for r in rows if r["config"] == config and r["scale"] == group]
            if len(sub) > 1:
                out.append({"dataset": f"{group} (mean of {len(sub)})", "scale": group,
                            "config": config,
                            **{k: float(np.mean([r[k] for r in sub])) for k in KEYS}})
    return out


def table(rows: list[dict]) -> None:
    print("| set | config | NMI | ARI | noise % | leaves (x needs) | parents | parent NMI "
          "| parent purity |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['dataset']} | {r['config']} | {r['nmi']:.3f} | {r['ari']:.3f} | "
              f"{100 * r['noise_share']:.1f} | {r['n_themes']:.0f} "
              f"({r['leaves_per_need']:.2f}x) | {r['n_parents']:.0f} | "
              f"{r['parent_nmi']:.3f} | {r['parent_purity']:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="subsets,clinc",
                    help="comma-separated: subsets (all scales), 25, 40, 60, 100, clinc")
    ap.add_argument("--configs", default="highest silhouette,default")
    args = ap.parse_args()
    configs = args.configs.split(",")
    rows = []
    for name, group, y, E in grid(set(args.sets.split(","))):
        for config in configs:
            rows.append(measure(name, group, config, y, E))
    summary = means(rows)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"rows": rows, "means": summary,
                               "command": "python " + " ".join(sys.argv),
                               "cpu_count": os.cpu_count()}, indent=2))
    table([*rows, *summary])
    print(f"wrote {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
