"""Mining at scale: time and peak memory of a full re-clustering at 100k, 300k and 1M items.

    python bench/bench_scale.py                          # ThemeModel.fit at 100k, 300k, 1M
    python bench/bench_scale.py --sizes 100000 --db      # + `trendmine mine --full` on Postgres
    python bench/bench_scale.py --sizes 100000 --db-only --db-sizes 100000 300000

Vectors are random but clustered, like sentence embeddings (no model, no dataset needed):
400 topics under 20 domains (a topic sits at cosine ~0.5 to its domain), topic sizes
Zipf-like (the largest ~60x the smallest), each item at cosine ~0.75 to its topic centre
(384 dimensions, sigma 0.045 per dimension), plus 5% background items drawn uniformly.
With clinc150 at hand (`../shared/datasets/clinc150`), each item's text is a request of
the intent its topic stands for, so labelling sees real phrases. Each size runs in a fresh
child process (numba's on-disk cache warm, as after the first run on
a machine), so peak RSS is that run's own. `fit` times ThemeModel.fit (reduce, cluster, merge,
outliers; no labels) on vectors in memory; `db` times `warehouse.mine.mine(mode="full")`
against an embedded Postgres holding the items with their embeddings already stored
(reading, fitting, matching, labelling and writing; the COPY that loads the table is not
timed), twice: the first mine (every label phrase embedded) and the re-mine (`seconds`:
the same items again, label phrase vectors read from the phrase table).
Writes bench/results/scale.json and prints a table.
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

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
OUT = REPO / "bench/results/scale.json"
DIM, N_TOPICS, N_DOMAINS, NOISE_SHARE = 384, 400, 20, 0.05


def _unit(A: np.ndarray) -> np.ndarray:
    return (A / np.linalg.norm(A, axis=1, keepdims=True)).astype(np.float32)


def clustered_set(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n x 384 unit vectors, topic per item, -1 = background), deterministic per seed."""
    rng = np.random.default_rng(seed)
    domains = _unit(rng.normal(size=(N_DOMAINS, DIM)))
    topics = _unit(domains[np.arange(N_TOPICS) % N_DOMAINS]
                   + 1.7 * _unit(rng.normal(size=(N_TOPICS, DIM))))
    p = 1.0 / np.arange(1, N_TOPICS + 1) ** 0.7
    y = rng.choice(N_TOPICS, size=n, p=p / p.sum())
    y[rng.random(n) < NOISE_SHARE] = -1
    X = np.empty((n, DIM), dtype=np.float32)
    for a in range(0, n, 100_000):  # in chunks: bounded temporary memory at 1M
        yc = y[a : a + 100_000]
        noise = rng.normal(scale=0.045, size=(yc.size, DIM)).astype(np.float32)
        base = np.where((yc >= 0)[:, None], topics[np.maximum(yc, 0)], 0.0)
        X[a : a + yc.size] = _unit(base + np.where((yc >= 0)[:, None], noise, noise * 20))
    return X, y


CLINC = Path(os.environ.get("TRENDMINE_CLINC150_DIR", REPO.parent / "shared/datasets/clinc150"))


def clustered_texts(y: np.ndarray, seed: int = 0) -> list[str]:
    """A text per item that fits its topic: with clinc150 at hand, a request of the intent
    the topic stands for (topic t -> intent t mod 150; background items: out-of-scope
    requests), so labelling sees realistic phrases; else 6 of the topic's own 12 made-up
    words plus 2 shared ones."""
    rng = np.random.default_rng(seed)
    if (CLINC / "train.csv").is_file():
        from mining.evaluate import load_labelled_csv

        texts, intents = load_labelled_csv(CLINC / "train.csv")
        by: dict[str, list[str]] = {}
        for t, i in zip(texts, intents, strict=True):
            by.setdefault(i, []).append(t)
        pools = [by["oos"]] + [by[i] for i in sorted(set(by) - {"oos"})]
        pick = rng.integers(0, 1 << 30, size=y.size).tolist()
        pool_of = [0 if t < 0 else 1 + t % (len(pools) - 1) for t in y.tolist()]
        return [pools[p][j % len(pools[p])] for p, j in zip(pool_of, pick, strict=True)]
    vocab = np.array([f"w{i}" for i in range(6000)])
    own = rng.integers(0, vocab.size, size=(N_TOPICS + 1, 12))
    picks = rng.integers(0, 12, size=(y.size, 6))
    common = rng.integers(0, vocab.size, size=(y.size, 2))
    words = np.concatenate([vocab[own[y + 1][np.arange(y.size)[:, None], picks]],
                            vocab[common]], axis=1)
    return [" ".join(row) for row in words.tolist()]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run_fit(n: int) -> dict:
    from mining import ThemeModel
    from mining.evaluate import evaluate

    X, y = clustered_set(n)
    base = peak_rss_mb()
    stages: dict[str, float] = {}
    started: dict[str, float] = {}

    def tick(stage: str, done: int, total: int) -> None:
        if done == 0:
            started[stage] = time.perf_counter()
        else:
            stages[stage] = round(time.perf_counter() - started[stage], 1)

    t, cpu = time.perf_counter(), time.process_time()
    model = ThemeModel().fit(X, progress=tick)
    fit_s, cpu_s = time.perf_counter() - t, time.process_time() - cpu
    q = evaluate(y, model.labels_)
    return {"part": "fit", "n_items": n, "seconds": round(fit_s, 1),
            "cpu_seconds": round(cpu_s, 1), "stage_seconds": stages,
            "themes": model.n_themes_, "noise_share": round(model.noise_share_, 4),
            "nmi_vs_planted": round(q["nmi"], 3), "peak_rss_mb": round(peak_rss_mb()),
            "rss_before_mb": round(base)}


def run_db(n: int) -> dict:
    """A full re-mine of n stored items (embeddings stored) on an embedded Postgres."""
    import tempfile
    from datetime import UTC, datetime

    import psycopg
    from pgvector.psycopg import register_vector

    from foundation.config import Settings
    from infra.embedded import EmbeddedPostgres, free_port
    from infra.stack import migrate_database
    from warehouse.mine import mine

    n_new = n // 50  # the "next day": 2% new items of the same topics, for the third mine
    X, y = clustered_set(n + n_new)
    texts = clustered_texts(y)
    now = datetime(2025, 6, 2, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        pg = EmbeddedPostgres(Path(tmp), free_port())
        pg.start()
        try:
            settings = Settings(database_url=f"{pg.server_url()}/postgres",
                                kafka_bootstrap="127.0.0.1:1", data_dir=Path(tmp))
            migrate_database(settings)
            t = time.perf_counter()
            with psycopg.connect(settings.dsn(), autocommit=True) as conn:
                register_vector(conn)
                _load(conn, settings, X, texts, range(n), now)
                conn.execute("ANALYZE")
            load_s = time.perf_counter() - t
            t = time.perf_counter()
            first = mine(settings, now=now, mode="full")  # every label phrase is new here
            first_s = time.perf_counter() - t
            # the re-mine: same items, label phrase vectors and the UMAP layout stored
            t, cpu = time.perf_counter(), time.process_time()
            full = mine(settings, now=now, mode="full")
            full_s, cpu_s = time.perf_counter() - t, time.process_time() - cpu
            # the next day: 2% new items of known topics (the layout is reused if they fit)
            with psycopg.connect(settings.dsn(), autocommit=True) as conn:
                register_vector(conn)
                _load(conn, settings, X, texts, range(n, n + n_new), now)
            before = _theme_of(settings)
            t = time.perf_counter()
            day2 = mine(settings, now=now, mode="full")
            day2_s = time.perf_counter() - t
            kept_reused = _kept(before, _theme_of(settings))
            # the same with a UMAP fit, as without a stored layout
            t = time.perf_counter()
            refit = mine(settings.model_copy(update={"layout_reuse": False}), now=now,
                         mode="full")
            refit_s = time.perf_counter() - t
            kept_refit = _kept(before, _theme_of(settings))
        finally:
            pg.stop()
    return {"part": "db", "n_items": n, "seconds": round(full_s, 1),
            "cpu_seconds_client": round(cpu_s, 1),
            "first_mine_seconds": round(first_s, 1),
            "first_mine_stage_seconds": first["stage_seconds"],
            "label_phrases_embedded": [first.get("label_phrases_embedded"),
                                       full.get("label_phrases_embedded")],
            "stage_seconds": full["stage_seconds"], "themes": full["themes"],
            "layout": full.get("layout"),
            "plus_2pct_seconds": round(day2_s, 1), "plus_2pct_layout": day2.get("layout"),
            "plus_2pct_stage_seconds": day2["stage_seconds"], "plus_2pct_births": day2["births"],
            "plus_2pct_ids_kept": kept_reused,
            "refit_seconds": round(refit_s, 1), "refit_stage_seconds": refit["stage_seconds"],
            "refit_ids_kept": kept_refit,
            "noise_share": full.get("noise_share"), "load_seconds": round(load_s, 1),
            "peak_rss_mb": round(peak_rss_mb())}


def _theme_of(settings) -> dict[tuple[int, int], int]:
    import psycopg

    with psycopg.connect(settings.dsn()) as conn:
        return {(f, o): t for f, o, t in conn.execute(
            "SELECT feedback_id, ord, theme_id FROM trendmine.feedback_theme")}


def _kept(before: dict, after: dict) -> float:
    """Share of the items assigned before that keep their theme id."""
    return round(sum(after.get(k) == t for k, t in before.items()) / max(len(before), 1), 4)


def _load(conn, settings, X: np.ndarray, texts: list[str], items: range, now) -> None:
    """COPY items (feedback, snippet, then embedding in a later transaction, so that
    embedded_at > last_ingested_at and nothing re-splits)."""
    from datetime import timedelta

    from mining import text_hash

    with conn.transaction(), conn.cursor() as cur:
        with cur.copy("COPY trendmine.feedback (feedback_id, source, source_id, "
                      "account_id, text, text_hash, created_at) FROM STDIN") as cp:
            for i in items:
                cp.write_row((i + 1, "support_tickets", f"b:{i}", f"acct{i % 2000}",
                              texts[i], text_hash(texts[i]), now - timedelta(minutes=i % 40_000)))
        with cur.copy("COPY trendmine.feedback_snippet (feedback_id, ord, text, "
                      "text_hash) FROM STDIN") as cp:
            for i in items:
                cp.write_row((i + 1, 0, texts[i], text_hash(texts[i])))
    with conn.transaction(), conn.cursor() as cur, cur.copy(
        "COPY trendmine.feedback_embedding (feedback_id, ord, model, text_hash, "
        "embedding) FROM STDIN (FORMAT BINARY)"
    ) as cp:
        cp.set_types(["bigint", "integer", "text", "text", "vector"])
        for i in items:
            cp.write_row((i + 1, 0, settings.embedding_model, text_hash(texts[i]), X[i]))


def child(part: str, n: int, timeout: int) -> dict:
    """One part in a fresh process: its own peak memory, a hard time limit."""
    cmd = [sys.executable, __file__, "--child", part, "--n", str(n)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return {"part": part, "n_items": n, "error": f"did not finish within {timeout} s"}
    except subprocess.CalledProcessError as exc:
        return {"part": part, "n_items": n, "error": exc.stderr.strip().splitlines()[-3:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows: list[dict], load: str) -> None:
    from rich.console import Console
    from rich.table import Table

    tab = Table(title=f"mining at scale (clustered synthetic vectors; load average {load})")
    for col in ("run", "items", "seconds", "CPU s", "stages (s)", "themes", "noise %",
                "peak RSS MB"):
        tab.add_column(col)
    for r in rows:
        if "error" in r:
            tab.add_row(r["part"], f"{r['n_items']:,}", str(r["error"]), "", "", "", "", "")
            continue
        stages = ", ".join(f"{k} {v:.1f}" for k, v in r["stage_seconds"].items()
                           if isinstance(v, float | int) and v >= 0.1)
        cpu = r.get("cpu_seconds", r.get("cpu_seconds_client", ""))
        run = (f"db re-mine (first mine {r['first_mine_seconds']:.1f} s)"
               if "first_mine_seconds" in r else r["part"])
        tab.add_row(run, f"{r['n_items']:,}", f"{r['seconds']:.1f}", str(cpu), stages,
                    str(r["themes"]), f"{100 * (r['noise_share'] or 0):.1f}",
                    str(r["peak_rss_mb"]))
    Console().print(tab)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    ap.add_argument("--db", action="store_true", help="also a full re-mine on Postgres")
    ap.add_argument("--db-only", action="store_true", help="only the Postgres re-mines")
    ap.add_argument("--db-sizes", type=int, nargs="+", default=[100_000])
    ap.add_argument("--timeout", type=int, default=900, help="seconds per child run")
    ap.add_argument("--child", choices=("fit", "db"), help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps((run_fit if args.child == "fit" else run_db)(args.n)))
        return
    child("fit", 2_000, args.timeout)  # fills numba's disk cache outside the timed runs
    rows = []
    for n in [] if args.db_only else args.sizes:
        rows.append(child("fit", n, args.timeout))
        print(json.dumps(rows[-1]), flush=True)
    for n in args.db_sizes if (args.db or args.db_only) else []:
        rows.append(child("db", n, args.timeout))
        print(json.dumps(rows[-1]), flush=True)
    load = " ".join(f"{v:.1f}" for v in os.getloadavg())
    for r in rows:
        r["load_average_after"], r["command"] = load, "python " + " ".join(sys.argv)
    # Merge with earlier runs (one row per part and size), so sizes can be run apart.
    old = json.loads(OUT.read_text())["rows"] if OUT.is_file() else []
    new = {(r["part"], r["n_items"]) for r in rows}
    merged = [r for r in old if (r["part"], r["n_items"]) not in new] + rows
    merged.sort(key=lambda r: (r["part"] != "fit", r["n_items"]))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"rows": merged, "cpu_count": os.cpu_count()}, indent=2))
    table(merged, load)


if __name__ == "__main__":
    main()
