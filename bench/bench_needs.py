"""One need, one theme; parents that are need families: before/after on labelled sets.

    python bench/bench_needs.py                  # all sets, before and after (~10-20 min, 2 cores)
    python bench/bench_needs.py --no-bertopic    # without BERTopic's fit-time rows
    python bench/bench_needs.py --sets demo,subsets

Sets (same all-MiniLM-L6-v2 embeddings for every method):
- CLINC150 test full (5,500: 150 intents x 30 + 1,000 out-of-scope), test in-scope
  (4,500), val full (3,100: 20 per intent + 100 oos);
- three random CLINC150 subsets ("subsets", seeds 0-2, reported one by one and as a mean):
  7 of the 10 domains, 10 intents of each, 75-150 requests per intent from train+val+test
  (about 7,800 items): fewer needs, more items per need, sizes 2x apart, the shape of a
  product's feedback; the methods must find the count themselves at every scale;
- the demo world's truth (`bench/demo_set.py`, seed 7, 8,000 records: 4,609 one-need
  tickets and idea posts over 25 needs + off-topic), with its need families
  (`demo_set.FAMILIES`) as the parent truth.

Per set and config: NMI and ARI over all items (noise counted as one group), noise share,
leaves (and x the true count), parents, parent NMI and purity against the families
(CLINC150's 10 domains, the demo world's families; noise and off-topic items left out of
purity), the largest parent's share of the items, and fit seconds. "before" is the
previous default (HDBSCAN leaf selection, leaf merging at cosine 0.8, about
1.5 x sqrt(leaves) parents); "after" is today's ThemeModel default. Writes
bench/results/needs.json.
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
from demo_set import FAMILIES, labelled_rows  # noqa: E402

from mining import Embedder, ThemeModel  # noqa: E402
from mining.cluster import HDBSCANClusterer  # noqa: E402
from mining.evaluate import evaluate, run_bertopic  # noqa: E402
from mining.hierarchy import AgglomerativeGrouper, SimilarLeafMerger  # noqa: E402

OUT = REPO / "bench/results/needs.json"


class SqrtGrouper:
    """The previous parent rule: average linkage cut into 1.5 x sqrt(leaves) (1..40)."""

    def fit(self, centroids: np.ndarray, sizes: np.ndarray) -> SqrtGrouper:
        want = int(max(1, min(40, round(1.5 * np.sqrt(max(len(sizes), 1))))))
        g = AgglomerativeGrouper(n_parents=want, linkage="average").fit(centroids, sizes)
        self.parent_of_, self.n_parents_ = g.parent_of_, g.n_parents_
        return self


CONFIGS = {
    "before": lambda: ThemeModel(clusterer=HDBSCANClusterer(), merger=SimilarLeafMerger(),
                                 grouper=SqrtGrouper()),
    "after": lambda: ThemeModel(),
}


def purity(truth: np.ndarray, pred: np.ndarray, skip: tuple[str, ...] = ("oos", "noise")
           ) -> float:
    """Share of items whose group's majority truth is theirs (noise and off-topic out)."""
    keep = (pred >= 0) & ~np.isin(truth, skip)
    t, p = truth[keep], pred[keep]
    hit = 0
    for g in np.unique(p):
        hit += np.unique(t[p == g], return_counts=True)[1].max()
    return float(hit / max(keep.sum(), 1))


def clinc_subset(seed: int, n_domains: int = 7, per_domain: int = 10
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(intents, embeddings) of a random subset: `per_domain` intents from each of
    `n_domains` domains, 75-150 requests each, from train+val+test."""
    dom = _domains()
    parts = [embeddings(s) for s in ("train", "val", "test")]
    y = np.concatenate([p[1] for p in parts])
    E = np.concatenate([p[2] for p in parts])
    rng = np.random.default_rng(seed)
    picked = rng.choice(sorted(set(dom.values()) - {"oos"}), n_domains, replace=False)
    idx: list[int] = []
    for d in sorted(picked):
        for intent in rng.choice(sorted(i for i, v in dom.items() if v == d), per_domain,
                                 replace=False):
            pool = np.flatnonzero(y == intent)
            idx += list(rng.choice(pool, int(rng.integers(75, 151)), replace=False))
    keep = np.sort(np.array(idx))
    return y[keep], E[keep]


def demo_set() -> tuple[list[str], np.ndarray, np.ndarray]:
    rows = labelled_rows()
    texts = [t for t, _ in rows]
    y = np.array([label for _, label in rows])
    path = CACHE / "demo_set_seed7_8000_minilm.npy"
    if path.is_file() and np.load(path, mmap_mode="r").shape[0] == len(texts):
        emb = np.load(path)
    else:
        CACHE.mkdir(parents=True, exist_ok=True)
        emb = Embedder().encode(texts)
        np.save(path, emb)
    return texts, y, emb


def sets(which: set[str]) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, list | None]]:
    """(name, truth, families, embeddings, texts) per set."""
    dom = _domains()
    out = []
    for split, part in (("test", "full"), ("test", "in-scope"), ("val", "full")):
        if "clinc" in which:
            texts, y, emb = split_part(split, part)
            out.append((f"clinc150 {split} {part}", y, np.array([dom[v] for v in y]), emb,
                        texts))
    if "subsets" in which:
        for seed in range(3):
            y, emb = clinc_subset(seed)
            out.append((f"clinc150 subset seed {seed}", y, np.array([dom[v] for v in y]), emb,
                        None))
    if "demo" in which:
        texts, y, emb = demo_set()
        out.append(("demo world seed 7", y, np.array([FAMILIES[v] for v in y]), emb, texts))
    return out


def measure(name: str, config: str, y: np.ndarray, fam: np.ndarray, emb: np.ndarray) -> dict:
    t = time.perf_counter()
    model = CONFIGS[config]().fit(emb)
    secs = time.perf_counter() - t
    true_needs = int(np.unique(y[~np.isin(y, ("oos", "noise"))]).size)
    parents = model.parent_labels()
    sizes = np.bincount(parents[parents >= 0])
    row = {"dataset": name, "config": config, **evaluate(y, model.labels_),
           "true_needs": true_needs,
           "leaves_per_need": round(model.n_themes_ / true_needs, 2),
           "n_parents": int(model.parent_ids_.size),
           "true_families": int(np.unique(fam[~np.isin(fam, ("oos", "noise"))]).size),
           "parent_nmi": evaluate(fam, parents)["nmi"],
           "parent_purity": purity(fam, parents),
           "top_parent_share": float(sizes.max() / max(len(y), 1)) if sizes.size else 0.0,
           "fit_seconds": round(secs, 1)}
    print(json.dumps(row), flush=True)
    return row


def bertopic_row(name: str, y: np.ndarray, emb: np.ndarray, texts: list) -> dict:
    t = time.perf_counter()
    pred = run_bertopic(emb, texts)
    row = {"dataset": name, "config": "bertopic", **evaluate(y, pred),
           "fit_seconds": round(time.perf_counter() - t, 1)}
    print(json.dumps(row), flush=True)
    return row


def subset_means(rows: list[dict]) -> list[dict]:
    out = []
    for config in ("before", "after"):
        sub = [r for r in rows if r["config"] == config and "subset" in r["dataset"]]
        if sub:
            keys = ("nmi", "ari", "noise_share", "n_themes", "leaves_per_need", "n_parents",
                    "parent_nmi", "parent_purity", "top_parent_share", "fit_seconds")
            out.append({"dataset": "clinc150 subsets (mean of 3)", "config": config,
                        **{k: float(np.mean([r[k] for r in sub])) for k in keys}})
    return out


def table(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    tab = Table(title="one need, one theme: before/after (same all-MiniLM-L6-v2 embeddings)")
    for col in ("dataset", "config", "NMI", "ARI", "noise %", "leaves (x needs)", "parents",
                "parent NMI", "parent purity", "top parent %", "fit s"):
        tab.add_column(col)
    for r in rows:
        has_parents = "n_parents" in r
        tab.add_row(r["dataset"], r["config"], f"{r['nmi']:.3f}", f"{r['ari']:.3f}",
                    f"{100 * r['noise_share']:.1f}",
                    f"{r['n_themes']:.0f}" + (f" ({r['leaves_per_need']:.2f}x)"
                                              if has_parents else ""),
                    f"{r['n_parents']:.0f}" if has_parents else "-",
                    f"{r['parent_nmi']:.3f}" if has_parents else "-",
                    f"{r['parent_purity']:.3f}" if has_parents else "-",
                    f"{100 * r['top_parent_share']:.0f}" if has_parents else "-",
                    f"{r['fit_seconds']:.1f}")
    Console().print(tab)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="clinc,subsets,demo",
                    help="comma-separated: clinc, subsets, demo")
    ap.add_argument("--no-bertopic", action="store_true")
    args = ap.parse_args()
    which = set(args.sets.split(","))
    # Compile numba (UMAP) before timing anything.
    ThemeModel().fit(embeddings("val")[2][:2000])
    rows = []
    for name, y, fam, emb, texts in sets(which):
        for config in CONFIGS:
            rows.append(measure(name, config, y, fam, emb))
        if not args.no_bertopic and texts is not None and name in (
                "clinc150 test full", "demo world seed 7"):
            rows.append(bertopic_row(name, y, emb, texts))
    rows += subset_means(rows)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"rows": rows, "command": "python " + " ".join(sys.argv),
                               "cpu_count": os.cpu_count()}, indent=2))
    table(rows)
    print(f"wrote {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
