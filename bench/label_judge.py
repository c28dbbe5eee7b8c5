"""Blind judging of theme labels: would a PM keep this label as the theme's name?

    python bench/label_judge.py themes                # fit the default ThemeModel on each
                                                      # dataset, store partition + labels
    python bench/label_judge.py sheet                 # judging sheets + hidden keys
    python bench/label_judge.py score FILLED.jsonl    # kept / partial / wrong per system
    python bench/label_judge.py measure               # proxies: cut-off ends, uniqueness,
                                                      # stability over refits

Datasets: CLINC150 test (5,500 one-line requests, `oos` included) and the demo world's
support tickets and ideas (`bench/demo_set.py`, seed 7, 8,000 feedback records).

`themes` fits the default ThemeModel (the bench embedder as its text encoder) and writes
`themes_<dataset>.json`: each item's leaf, each leaf's and parent's label under the name
given by `--system` (default `current`). Run with `--system previous` on the labeller's
earlier version and the labels stay in that file as the "previous" system: the sheets put
every system on the SAME leaves, so a judge compares labels, not partitions.

`sheet` samples `--themes` leaves per dataset (default 60), and for each shows 8 sampled
member texts and ONE candidate label drawn, balanced and shuffled, from: `current` (the
labeller now in mining/, fitted on the stored partition), `previous` (stored labels) and
`bertopic` (BERTopic's own top-4-word names, fitted on the same partition). It writes
`sheet_<dataset>.md` (to read) and `sheet_<dataset>.jsonl` (to fill: `judgement` is one of
keep / partial / wrong) and `key_<dataset>.json` (row -> system, not for the judge).

keep: a PM would keep it as the theme's name. partial: on topic but cut off, too narrow,
too broad or awkward enough to rename. wrong: does not name what the members ask for.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from mining import Embedder, ThemeModel  # noqa: E402
from mining.evaluate import load_labelled_csv  # noqa: E402

OUT = REPO / "bench/results/label_judging"
CACHE = Path(os.environ.get("TRENDMINE_BENCH_CACHE", Path.home() / ".cache/trendmine-bench"))
DATASETS = ("clinc150", "demo")
SYSTEMS = ("current", "previous", "bertopic")
JUDGEMENTS = ("keep", "partial", "wrong")
N_MEMBERS = 8


def dataset(name: str) -> tuple[list[str], np.ndarray]:
    """(texts, embeddings) of a judging dataset, embeddings cached."""
    if name == "clinc150":
        from bench_mining import embeddings

        texts, _, emb = embeddings("test")
        return texts, emb
    csv_path = CACHE / "demo_set_seed7_8000.csv"
    if not csv_path.is_file():
        import subprocess

        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(REPO / "bench/demo_set.py"), "--out",
                        str(csv_path)], check=True)
    texts, _ = load_labelled_csv(csv_path)
    path = CACHE / "demo_set_seed7_8000_minilm.npy"
    if path.is_file():
        return texts, np.load(path)
    emb = Embedder().encode(texts)
    np.save(path, emb)
    return texts, emb


def fit_default(texts: list[str], emb: np.ndarray, encoder: Any,
                random_state: int = 42) -> ThemeModel:
    """The default ThemeModel, labelled with the bench encoder (as `trendmine eval`)."""
    return ThemeModel(embedder=encoder, random_state=random_state).fit(emb, texts=texts)


def _str_keys(d: dict) -> dict[str, str]:
    return {str(k): v for k, v in sorted(d.items())}


def cmd_themes(args: argparse.Namespace) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    enc = Embedder()
    for name in args.datasets:
        texts, emb = dataset(name)
        model = fit_default(texts, emb, enc)
        path = OUT / f"themes_{name}.json"
        stored = json.loads(path.read_text()) if path.is_file() else {}
        if stored and stored.get("leaf_of") != model.labels_.tolist():
            stored = {}  # another partition: the stored labels name other leaves
        stored.setdefault("dataset", name)
        stored["leaf_of"] = model.labels_.tolist()
        stored["parent_of_leaf"] = dict(zip(map(str, model.cluster_ids_.tolist()),
                                            model.parent_of_.tolist(), strict=True))
        stored.setdefault("labels", {})[args.system] = _str_keys(model.labels_text_)
        stored.setdefault("parent_labels", {})[args.system] = _str_keys(
            model.parent_labels_text_)
        path.write_text(json.dumps(stored, indent=1) + "\n")
        print(f"{name}: {model.n_themes_} leaves, {model.parent_ids_.size} parents, "
              f"noise {model.noise_share_:.3f} -> {path.relative_to(REPO)}")


def current_labels(texts: list[str], emb: np.ndarray, leaf_of: np.ndarray,
                   encoder: Any) -> dict[str, str]:
    """The labeller in mining/ on a given partition (as ThemeModel.label runs it)."""
    model = ThemeModel(embedder=encoder)
    labeller = model._parts()[2]
    labeller.fit(texts, leaf_of, emb)
    return _str_keys(labeller.labels_text_)


def bertopic_names(texts: list[str], emb: np.ndarray, leaf_of: np.ndarray) -> dict[str, str]:
    """BERTopic's default topic names (top c-TF-IDF words) for the given partition."""
    from bertopic import BERTopic
    from bertopic.cluster import BaseCluster
    from bertopic.dimensionality import BaseDimensionalityReduction

    from mining.evaluate import bertopic_labels

    model = BERTopic(umap_model=BaseDimensionalityReduction(), hdbscan_model=BaseCluster(),
                     embedding_model=None, verbose=False)
    model.fit(texts, embeddings=emb, y=leaf_of)
    names = bertopic_labels(model)
    topics = np.asarray(model.topics_)
    out = {}  # BERTopic renumbers topics by size: map back through the members
    for cid in np.unique(leaf_of[leaf_of >= 0]).tolist():
        topic = Counter(topics[leaf_of == cid].tolist()).most_common(1)[0][0]
        out[cid] = names.get(int(topic), "")
    return _str_keys(out)


def cmd_sheet(args: argparse.Namespace) -> None:
    enc = Embedder()
    for name in args.datasets:
        stored = json.loads((OUT / f"themes_{name}.json").read_text())
        texts, emb = dataset(name)
        leaf_of = np.asarray(stored["leaf_of"], dtype=np.int64)
        labels = {"current": current_labels(texts, emb, leaf_of, enc),
                  "previous": stored["labels"]["previous"],
                  "bertopic": bertopic_names(texts, emb, leaf_of)}
        rng = random.Random(f"{args.seed}-{name}")
        leaves = sorted({int(v) for v in leaf_of if v >= 0})
        picked = rng.sample(leaves, min(args.themes, len(leaves)))
        systems = [SYSTEMS[i % len(SYSTEMS)] for i in range(len(picked))]
        rng.shuffle(systems)
        rows, key = [], {}
        for n, (cid, system) in enumerate(zip(picked, systems, strict=True), start=1):
            members = np.flatnonzero(leaf_of == cid).tolist()
            shown = sorted(rng.sample(members, min(N_MEMBERS, len(members))))
            row_id = f"{name}-{n:03d}"
            rows.append({"row": row_id, "theme_size": len(members),
                         "members": [texts[i] for i in shown],
                         "label": labels[system].get(str(cid), ""), "judgement": "",
                         "note": ""})
            key[row_id] = {"system": system, "leaf": cid}
        (OUT / f"sheet_{name}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        (OUT / f"sheet_{name}.md").write_text(_markdown(name, rows))
        (OUT / f"key_{name}.json").write_text(json.dumps(key, indent=1) + "\n")
        (OUT / f"labels_{name}.json").write_text(json.dumps(labels, indent=1) + "\n")
        print(f"{name}: {len(rows)} rows -> {(OUT / f'sheet_{name}.jsonl').relative_to(REPO)}")


def _markdown(name: str, rows: list[dict]) -> str:
    out = [f"# Label judging sheet: {name}\n",
           "For each theme: read the members, then the label. Would a product manager keep the "
           "label as this theme's name? Fill `judgement` in the .jsonl file beside this one: "
           "`keep` (a good name), `partial` (on topic but cut off, too narrow/broad or "
           "awkward: would rename it) or `wrong` (does not name what the members ask for).\n"]
    for r in rows:
        out.append(f"## {r['row']} ({r['theme_size']} members)\n")
        out.extend(f"- {t}" for t in r["members"])
        out.append(f"\n**Label:** {r['label']}\n")
    return "\n".join(out) + "\n"


def read_judgements(path: Path) -> dict[str, str]:
    """row -> judgement from a filled .jsonl sheet (or lines `row: judgement`)."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            r = json.loads(line)
            out[r["row"]] = str(r.get("judgement", "")).strip().lower()
        elif ":" in line:
            row, judged = line.split(":", 1)
            out[row.strip()] = judged.strip().lower()
    return out


def cmd_score(args: argparse.Namespace) -> None:
    judged: dict[str, str] = {}
    for p in args.filled:
        judged |= read_judgements(Path(p))
    key: dict[str, dict] = {}
    for name in DATASETS:
        path = OUT / f"key_{name}.json"
        if path.is_file():
            key |= json.loads(path.read_text())
    table: dict[tuple[str, str], Counter] = {}
    for row, j in judged.items():
        if row not in key or j not in JUDGEMENTS:
            continue
        ds = row.rsplit("-", 1)[0]
        for scope in (ds, "all"):
            table.setdefault((scope, key[row]["system"]), Counter())[j] += 1
    print(f"{'dataset':10} {'system':9} {'n':>4} {'keep':>6} {'partial':>8} {'wrong':>6}")
    for (scope, system), c in sorted(table.items()):
        n = c.total()
        print(f"{scope:10} {system:9} {n:4d} {c['keep'] / n:6.0%} {c['partial'] / n:8.0%} "
              f"{c['wrong'] / n:6.0%}")


# --- automatic proxies ----------------------------------------------------------------

_QUESTION_OPEN = re.compile(r"^(how|what|where|when|why|who|which|can|could|do|does|is|are|"
                            r"will|would|should|i|please)\b", re.IGNORECASE)


def cut_off(label: str) -> bool:
    """An automatic proxy of a cut-off label: it ends on a function word, auxiliary,
    negation or a verb that needs an object, opens on question scaffolding or is a piece
    of a question ("Money have I spent")."""
    from mining.phrases import dangling_end, question_fragment

    words = re.findall(r"[\w'’&+.-]+", label.lower())
    return (not words or dangling_end(words) or question_fragment(words)
            or bool(_QUESTION_OPEN.match(label)))


def label_stats(labels: Sequence[str]) -> dict[str, float]:
    labels = list(labels)
    n = max(len(labels), 1)
    low = Counter(v.lower() for v in labels)
    return {"n": len(labels), "cut_off_share": round(sum(map(cut_off, labels)) / n, 3),
            "unique_share": round(sum(c == 1 for c in low.values()) / n, 3)}


def _matched_same(a: ThemeModel, b: ThemeModel, rows_b: np.ndarray) -> tuple[int, int]:
    """Leaves of `a` matched to a leaf of `b` (Jaccard of members >= 0.8, over the items
    both fits saw: `rows_b[i]` is a's item i in b) and how many kept their label."""
    matched = same = 0
    lb = b.labels_[rows_b]
    for cid in a.cluster_ids_.tolist():
        mine = a.labels_ == cid
        other = Counter(lb[mine].tolist()).most_common(1)[0][0]
        if other < 0:
            continue
        theirs = lb == other
        if (mine & theirs).sum() / (mine | theirs).sum() < 0.8:
            continue
        matched += 1
        same += a.labels_text_[cid] == b.labels_text_[other]
    return matched, same


def cmd_measure(args: argparse.Namespace) -> None:
    enc = Embedder()
    result: dict[str, Any] = {}
    data = {name: dataset(name) for name in DATASETS}
    for name in args.datasets:
        texts, emb = data[name]
        a = fit_default(texts, emb, enc)
        b = fit_default(texts, emb, enc)
        leaf, parent = list(a.labels_text_.values()), list(a.parent_labels_text_.values())
        row: dict[str, Any] = {"leaves": label_stats(leaf), "parents": label_stats(parent),
                               "parent_labels": sorted(parent)}
        row["refit_same_labels"] = round(
            float(np.mean([a.labels_text_[c] == b.labels_text_.get(c)
                           for c in a.labels_text_])), 3)
        row["refit_same_partition"] = bool(np.array_equal(a.labels_, b.labels_))
        # 5% unrelated items: the other dataset's texts
        other = next(d for d in DATASETS if d != name)
        o_texts, o_emb = data[other]
        pick = np.random.default_rng(0).choice(len(o_texts), len(texts) // 20, replace=False)
        c = fit_default(texts + [o_texts[i] for i in pick],
                        np.concatenate([emb, o_emb[pick]]), enc)
        matched, same = _matched_same(a, c, np.arange(len(texts)))
        row["plus5pct_matched_leaves"] = matched
        row["plus5pct_same_label_share"] = round(same / max(matched, 1), 3)
        if args.system_labels:
            stored = json.loads((OUT / f"themes_{name}.json").read_text())
            for system, labels in stored["labels"].items():
                row[f"stored_{system}"] = label_stats(labels.values())
                row[f"stored_{system}_parents"] = label_stats(
                    stored["parent_labels"][system].values())
        result[name] = row
        print(name, json.dumps(row), flush=True)
    (OUT / "measures.json").write_text(json.dumps(result, indent=1) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("themes")
    p.add_argument("--system", default="current", choices=("current", "previous"))
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    p = sub.add_parser("sheet")
    p.add_argument("--themes", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    p = sub.add_parser("score")
    p.add_argument("filled", nargs="+")
    p = sub.add_parser("measure")
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    p.add_argument("--system-labels", action="store_true",
                   help="also the proxies of every stored system's labels")
    args = ap.parse_args()
    {"themes": cmd_themes, "sheet": cmd_sheet, "score": cmd_score,
     "measure": cmd_measure}[args.cmd](args)


if __name__ == "__main__":
    main()
