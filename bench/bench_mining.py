"""trendmine ThemeModel vs BERTopic defaults on clinc150, plus a 100k-item scale run.

    python bench/bench_mining.py                      # everything (about 10-15 min on 2 cores)
    python bench/bench_mining.py --skip-scale         # quality only
    python bench/bench_mining.py --bertopic-scale-n 0 # no BERTopic scale run
    python bench/bench_mining.py --skip-quality --bertopic-scale-n 0 --db
                                                      # + `trendmine mine` on a real Postgres

Quality: clinc150 test.csv (5,500 requests, 150 intents + 1,000 'oos') "full", and its
in-scope part (4,500), plus val.csv as a check against over-fitting. Both methods get the
SAME all-MiniLM-L6-v2 embeddings in the same run. NMI/ARI count noise (-1) as one label.

Scale: 100,000 items with stored embeddings. clinc150 train+val+test (23,700 texts) are
embedded once; the other 76,300 items are copies of random originals plus Gaussian jitter
(sigma 0.02 per dimension, re-normalised; mean cosine to the original ~0.93, i.e. close
paraphrases). We time ThemeModel.fit (reduce + cluster + outliers + centroids, no labelling)
and peak RSS in a fresh child process (so the time includes numba's JIT compile of UMAP,
about 20-40 s here, as a fresh flow run would pay it), assign 1,000 new items to the
fitted themes, and time BERTopic on the first N items (default 20,000) under a 10-minute limit.
Writes bench/results/mining.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mining import Embedder, ThemeModel, assign_incremental  # noqa: E402
from mining.evaluate import evaluate, load_labelled_csv, run_bertopic  # noqa: E402

CLINC = Path(os.environ.get("TRENDMINE_CLINC150_DIR", REPO.parent / "shared/datasets/clinc150"))
CACHE = Path(os.environ.get("TRENDMINE_BENCH_CACHE", Path.home() / ".cache/trendmine-bench"))
OUT = REPO / "bench/results/mining.json"


def embeddings(split: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    texts, y = load_labelled_csv(CLINC / f"{split}.csv")
    path = CACHE / f"clinc150_{split}_minilm.npy"
    if path.is_file():
        emb = np.load(path)
    else:
        CACHE.mkdir(parents=True, exist_ok=True)
        emb = Embedder().encode(texts)
        np.save(path, emb)
    return texts, np.asarray(y), emb


def split_part(split: str, part: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(texts, intents, embeddings) of a clinc150 split, "full" or "in-scope" (no oos)."""
    texts, y, emb = embeddings(split)
    keep = np.ones(len(y), bool) if part == "full" else y != "oos"
    return [t for t, k in zip(texts, keep, strict=True) if k], y[keep], emb[keep]


def scale_set(n: int = 100_000, seed: int = 0) -> np.ndarray:
    E = np.concatenate([embeddings(s)[2] for s in ("train", "val", "test")])
    rng = np.random.default_rng(seed)
    src = np.concatenate([np.arange(len(E)), rng.integers(0, len(E), max(0, n - len(E)))])[:n]
    X = E[src].copy()
    extra = np.arange(n) >= len(E)
    X[extra] += rng.normal(scale=0.02, size=(int(extra.sum()), E.shape[1])).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run_quality() -> list[dict]:
    rows = []
    # Compile numba (UMAP, pynndescent) once before timing, for both methods alike.
    t = time.perf_counter()
    # 5,000 items: UMAP switches to NN-descent above 4,096, which compiles separately.
    ThemeModel().fit(embeddings("train")[2][:5000])
    print(f"warm-up (numba JIT) {time.perf_counter() - t:.1f} s", flush=True)
    for split, part in (("test", "full"), ("test", "in-scope"), ("val", "full")):
        texts_k, y_k, emb_k = split_part(split, part)
        for method in ("trendmine", "bertopic"):
            t = time.perf_counter()
            if method == "trendmine":
                pred = ThemeModel().fit(emb_k).labels_
            else:
                pred = run_bertopic(emb_k, texts_k)
            secs = time.perf_counter() - t
            row = {
                "dataset": f"clinc150 {split} {part}",
                "method": method,
                **evaluate(y_k, pred),
                "fit_seconds": round(secs, 1),
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def _domains() -> dict[str, str]:
    """intent -> its CLINC150 domain ('oos' stays 'oos')."""
    by = json.loads((CLINC / "domains.json").read_text())
    return {i: d for d, intents in by.items() for i in intents} | {"oos": "oos"}


def theme_configs() -> dict[str, Any]:
    """before: the flat model of issue 12's start (keyword labels, no leaf merging, no
    parents, outlier threshold 0.45); after: today's defaults (phrase labels ranked with
    the default model, leaf merging, parents, threshold 0.40)."""
    from mining import CTfidfLabeller, PhraseLabeller

    enc = Embedder()
    return {
        "before": lambda: ThemeModel(labeller=CTfidfLabeller(), merger=False, grouper=False,
                                     outlier_threshold=0.45),
        "after": lambda: ThemeModel(labeller=PhraseLabeller(encoder=enc)),
        "encoder": enc,
    }


def run_themes() -> list[dict]:
    """Leaves, parents and labels before/after on clinc150 (issue 12's measures): NMI, ARI,
    noise, leaf and parent counts, parents against the 10 domains, label accuracy (the
    label's nearest intent name is the theme's majority intent, size-weighted), labels
    found as a phrase in a member text, labels of 2-6 words. Label accuracy is reported
    over all themes and over the themes whose majority has a name: a theme made mostly of
    out-of-scope ('oos') requests has no intent name to hit."""
    from mining.evaluate import label_quality

    configs = theme_configs()
    dom = _domains()
    rows = []
    for split, part in (("test", "full"), ("test", "in-scope"), ("val", "full")):
        texts_k, y_k, emb_k = split_part(split, part)
        groups = [i % 50 for i in range(len(texts_k))]
        for name in ("before", "after"):
            t = time.perf_counter()
            model = configs[name]().fit(emb_k, texts=texts_k, groups=groups)
            secs = time.perf_counter() - t
            yd = np.array([dom[v] for v in y_k])
            leaf = label_quality(model.labels_text_, model.labels_, y_k, texts_k,
                                 configs["encoder"], unnamed=("oos",))
            parent = label_quality(model.parent_labels_text_, model.parent_labels(), yd,
                                   texts_k, configs["encoder"], unnamed=("oos",))
            row = {"dataset": f"clinc150 {split} {part}", "config": name,
                   **evaluate(y_k, model.labels_),
                   "n_parents": int(model.parent_ids_.size),
                   "parent_domain_nmi": evaluate(yd, model.parent_labels())["nmi"],
                   "label_accuracy": leaf["name_accuracy"],
                   "label_accuracy_nameable": leaf["name_accuracy_nameable"],
                   "nameable_share": leaf["nameable_share"],
                   "label_in_text": leaf["in_text_share"], "label_2_6_words": leaf["short_share"],
                   "parent_label_domain_accuracy": parent["name_accuracy"],
                   "parent_label_domain_accuracy_nameable": parent["name_accuracy_nameable"],
                   "parent_label_in_text": parent["in_text_share"],
                   "fit_and_label_seconds": round(secs, 1)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def run_label_ceiling() -> list[dict]:
    """Leaf labels against the best their candidate pools allow (mining.evaluate's
    label_pool_ceiling) on clinc150 train (tuning), val and test: is a missed name a ranking
    miss (a better candidate was in the pool) or a pool miss (no candidate names it)?
    Each split twice: on the themes mined ("mined"), and with the same labeller on the
    true intents as themes ("intents": a perfect clustering), which tells the labeller's
    share of a miss from the clustering's (mixed themes)."""
    from mining import PhraseLabeller
    from mining.evaluate import label_pool_ceiling

    configs = theme_configs()
    rows = []
    for split, part in (("train", "full"), ("val", "full"), ("test", "full"),
                        ("test", "in-scope")):
        texts_k, y_k, emb_k = split_part(split, part)
        groups = [i % 50 for i in range(len(texts_k))]
        model = configs["after"]().fit(emb_k, texts=texts_k, groups=groups)
        intents = np.unique(y_k, return_inverse=True)[1]
        gold = PhraseLabeller(encoder=configs["encoder"]).fit(texts_k, intents, emb_k, groups)
        for themes, labels, candidates in (("mined", model.labels_, model.labeller_.candidates_),
                                           ("intents", intents, gold.candidates_)):
            row = {"dataset": f"clinc150 {split} {part}", "themes": themes,
                   **label_pool_ceiling(candidates, labels, y_k, configs["encoder"],
                                        unnamed=("oos",))}
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def run_label_seeds(seeds: int) -> list[dict]:
    """Leaf label accuracy (nameable themes) over `seeds` clusterings of each clinc150 split
    (ThemeModel random_state 0..seeds-1): one clustering moves it by a theme or two, so a
    held-out figure is read as a mean and its spread."""
    from mining import PhraseLabeller
    from mining.evaluate import label_quality

    enc = theme_configs()["encoder"]
    rows = []
    for split, part in (("val", "full"), ("test", "full"), ("test", "in-scope")):
        texts_k, y_k, emb_k = split_part(split, part)
        accs = []
        for seed in range(seeds):
            model = ThemeModel(labeller=PhraseLabeller(encoder=enc), random_state=seed).fit(
                emb_k, texts=texts_k, groups=[i % 50 for i in range(len(texts_k))])
            accs.append(label_quality(model.labels_text_, model.labels_, y_k, texts_k, enc,
                                      unnamed=("oos",))["name_accuracy_nameable"])
        row = {"dataset": f"clinc150 {split} {part}", "label_acc": accs,
               "mean": float(np.mean(accs)), "sd": float(np.std(accs, ddof=1)) if seeds > 1
               else 0.0}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def themes_table(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    tab = Table(title="themes before/after (issue 12), same all-MiniLM-L6-v2 embeddings")
    for col in ("dataset", "config", "NMI", "ARI", "noise %", "leaves", "parents",
                "parent~domain NMI", "label acc (nameable)", "in text", "2-6 words",
                "parent label acc (nameable)"):
        tab.add_column(col)
    for r in rows:
        tab.add_row(r["dataset"], r["config"], f"{r['nmi']:.3f}", f"{r['ari']:.3f}",
                    f"{100 * r['noise_share']:.1f}", str(r["n_themes"]), str(r["n_parents"]),
                    f"{r['parent_domain_nmi']:.3f}",
                    f"{r['label_accuracy']:.2f} ({r['label_accuracy_nameable']:.2f})",
                    f"{r['label_in_text']:.2f}", f"{r['label_2_6_words']:.2f}",
                    f"{r['parent_label_domain_accuracy']:.2f} "
                    f"({r['parent_label_domain_accuracy_nameable']:.2f})")
    Console().print(tab)


def scale_texts(n: int, seed: int = 0) -> list[str]:
    """The texts behind scale_set(n): each jittered copy carries its original's text."""
    texts = [t for s in ("train", "val", "test") for t in load_labelled_csv(CLINC / f"{s}.csv")[0]]
    rng = np.random.default_rng(seed)
    extra = rng.integers(0, len(texts), max(0, n - len(texts)))
    src = np.concatenate([np.arange(len(texts)), extra])
    return [texts[i] for i in src[:n]]


def run_scale(n: int) -> dict:
    """ThemeModel.fit + labels on n stored embeddings, per stage, in this (fresh) process."""
    X = scale_set(n)
    texts = scale_texts(n)
    groups = [f"acct{i % 2000}" for i in range(n)]
    base = peak_rss_mb()
    stages: dict[str, float] = {}
    started: dict[str, float] = {}

    def tick(stage: str, done: int, total: int) -> None:
        if done == 0:
            started[stage] = time.perf_counter()
        else:
            stages[stage] = round(time.perf_counter() - started[stage], 1)

    t = time.perf_counter()
    model = ThemeModel().fit(X, progress=tick)
    fit_s = time.perf_counter() - t
    model.label(texts, groups, progress=tick)
    total_s = time.perf_counter() - t
    new = scale_set(n + 1000, seed=1)[-1000:]  # 1,000 unseen jittered items
    t = time.perf_counter()
    assign_incremental(new, model.centroids_, model.cluster_ids_, threshold=0.55)
    assign_s = time.perf_counter() - t
    return {
        "n_items": n,
        "fit_seconds": round(fit_s, 1),
        "fit_and_label_seconds": round(total_s, 1),
        "stage_seconds": stages,
        "n_themes": model.n_themes_,
        "noise_share": round(model.noise_share_, 4),
        "peak_rss_mb": round(peak_rss_mb()),
        "rss_before_fit_mb": round(base),
        "assign_1000_seconds": round(assign_s, 3),
    }


def run_db(n: int) -> dict:
    """`warehouse.mine.mine` against a real (embedded) Postgres holding n items whose
    embeddings are already stored: a full re-mine, then 1,000 new items (embeddings stored,
    so embedding is excluded) attached in incremental mode."""
    import tempfile
    from datetime import UTC, datetime, timedelta

    import psycopg
    from pgvector.psycopg import register_vector

    from foundation.config import Settings
    from infra.embedded import EmbeddedPostgres, free_port
    from infra.stack import migrate_database
    from mining import text_hash
    from warehouse.mine import mine

    X = scale_set(n + 1000)
    texts = scale_texts(n + 1000)
    now = datetime(2025, 6, 2, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        pg = EmbeddedPostgres(Path(tmp), free_port())
        pg.start()
        try:
            settings = Settings(database_url=f"{pg.server_url()}/postgres",
                                kafka_bootstrap="127.0.0.1:1", data_dir=Path(tmp))
            migrate_database(settings)

            def load(lo: int, hi: int) -> None:
                with psycopg.connect(settings.dsn(), autocommit=True) as conn:
                    register_vector(conn)
                    with conn.transaction(), conn.cursor() as cur:
                        with cur.copy("COPY trendmine.feedback (feedback_id, source, source_id, "
                                      "account_id, text, text_hash, created_at) FROM STDIN") as cp:
                            for i in range(lo, hi):
                                cp.write_row((i + 1, "support_tickets", f"b:{i}", f"acct{i % 2000}",
                                              texts[i], text_hash(texts[i]),
                                              now - timedelta(minutes=i % 100_000)))
                        with cur.copy("COPY trendmine.feedback_snippet (feedback_id, ord, text, "
                                      "text_hash) FROM STDIN") as cp:
                            for i in range(lo, hi):
                                cp.write_row((i + 1, 0, texts[i], text_hash(texts[i])))
                    # a later transaction: embedded_at > last_ingested_at, so nothing re-splits
                    with conn.transaction(), conn.cursor() as cur, cur.copy(
                        "COPY trendmine.feedback_embedding (feedback_id, ord, model, text_hash, "
                        "embedding) FROM STDIN"
                    ) as cp:
                        for i in range(lo, hi):
                            cp.write_row((i + 1, 0, "all-MiniLM-L6-v2", text_hash(texts[i]), X[i]))

            load(0, n)
            t = time.perf_counter()
            full = mine(settings, now=now, mode="full")
            full_s = time.perf_counter() - t
            load(n, n + 1000)
            t = time.perf_counter()
            inc = mine(settings, now=now, mode="incremental")
            inc_s = time.perf_counter() - t
        finally:
            pg.stop()
    return {
        "n_items": n,
        "full_remine_seconds": round(full_s, 1),
        "full_stage_seconds": full["stage_seconds"],
        "themes": full["themes"],
        "noise_share": full.get("noise_share"),
        "incremental_1000_seconds": round(inc_s, 2),
        "incremental_stage_seconds": inc["stage_seconds"],
        "incremental_assigned": inc["assigned"],
        "incremental_unassigned": inc["unassigned"],
        "peak_rss_mb": round(peak_rss_mb()),
    }


def run_bertopic_scale(n: int) -> dict:
    X = scale_set(max(n, 23_700))[:n]
    texts = [f"item {i}" for i in range(n)]  # texts only feed BERTopic's c-TF-IDF labels
    t = time.perf_counter()
    pred = run_bertopic(X, texts)
    return {
        "n_items": n,
        "fit_seconds": round(time.perf_counter() - t, 1),
        "n_themes": len(set(pred.tolist()) - {-1}),
        "noise_share": round(float(np.mean(pred < 0)), 4),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def child(part: str, n: int, timeout: int) -> dict:
    """Run one part in a fresh process: clean peak memory, hard time limit."""
    cmd = [sys.executable, __file__, "--child", part, "--n", str(n)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return {"n_items": n, "error": f"did not finish within {timeout} s"}
    except subprocess.CalledProcessError as exc:
        return {"n_items": n, "error": exc.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows: list[dict], scale: dict | None, bt_scale: dict | None,
          db: dict | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    tab = Table(title="trendmine vs BERTopic defaults (same all-MiniLM-L6-v2 embeddings)")
    for col in ("dataset", "method", "NMI", "ARI", "noise %", "themes", "fit s"):
        tab.add_column(col)
    for r in rows:
        tab.add_row(
            r["dataset"],
            r["method"],
            f"{r['nmi']:.3f}",
            f"{r['ari']:.3f}",
            f"{100 * r['noise_share']:.1f}",
            str(r["n_themes"]),
            str(r["fit_seconds"]),
        )
    console = Console()
    console.print(tab)
    if scale:
        console.print(f"scale, trendmine: {scale}")
    if bt_scale:
        console.print(f"scale, BERTopic:  {bt_scale}")
    if db:
        console.print(f"trendmine mine on Postgres: {db}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-scale", action="store_true")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--themes", action="store_true",
                    help="only the leaves/parents/labels before-after table (issue 12)")
    ap.add_argument("--label-ceiling", action="store_true",
                    help="only leaf labels against the best their candidate pools allow")
    ap.add_argument("--label-seeds", type=int, default=0, metavar="N",
                    help="only leaf label accuracy over N clusterings (random_state 0..N-1)")
    ap.add_argument("--scale-n", type=int, default=100_000)
    ap.add_argument("--bertopic-scale-n", type=int, default=20_000)
    ap.add_argument("--db", action="store_true",
                    help="also time `trendmine mine` (full + incremental) on a real Postgres")
    ap.add_argument("--child", choices=("scale", "bertopic-scale", "db"), help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "scale":
        print(json.dumps(run_scale(args.n)))
        return
    if args.child == "bertopic-scale":
        print(json.dumps(run_bertopic_scale(args.n)))
        return
    if args.child == "db":
        print(json.dumps(run_db(args.n)))
        return
    if not (CLINC / "test.csv").is_file():
        sys.exit(f"clinc150 not found at {CLINC}; set TRENDMINE_CLINC150_DIR")
    results = json.loads(OUT.read_text()) if OUT.is_file() else {}
    if args.themes:
        results["themes"] = run_themes()
        results["themes_command"] = "python " + " ".join(sys.argv)
        OUT.write_text(json.dumps(results, indent=2))
        themes_table(results["themes"])
        return
    if args.label_ceiling or args.label_seeds:
        if args.label_ceiling:
            results["label_ceiling"] = run_label_ceiling()
            results["label_ceiling_command"] = "python " + " ".join(sys.argv)
        if args.label_seeds:
            results["label_seeds"] = run_label_seeds(args.label_seeds)
            results["label_seeds_command"] = "python " + " ".join(sys.argv)
        OUT.write_text(json.dumps(results, indent=2))
        return
    if not args.skip_quality:
        results["quality"] = run_quality()
    if not args.skip_scale:
        for s in ("train", "val", "test"):
            embeddings(s)  # embed once, outside the timed children
        results["scale"] = child("scale", args.scale_n, timeout=900)
        if args.db:
            results["db"] = child("db", args.scale_n, timeout=1200)
        if args.bertopic_scale_n:
            results["bertopic_scale"] = child("bertopic-scale", args.bertopic_scale_n, 600)
    results["command"] = "python " + " ".join(sys.argv)
    results["cpu_count"] = os.cpu_count()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    table(results.get("quality", []), results.get("scale"), results.get("bertopic_scale"),
          results.get("db"))
    print(f"wrote {OUT.relative_to(REPO)}; command: {results['command']}")


if __name__ == "__main__":
    main()
