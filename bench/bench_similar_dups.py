"""Duplicate retrieval on long, templated reports: `similar` vs MiniLM cosine vs TF-IDF.

    python bench/bench_similar_dups.py [--seed 0] [--fills 2] [--sample]

The set is built here from the demo world's request catalog (demoworld/data/themes.yaml):
an underlying request is one theme's ask with its slots filled ("We need SAML single sign-on
with {idp}" with Okta and with Azure AD are two requests). Each request is reported twice,
by two accounts, as a long bug-report-style text: "Steps to reproduce / Actual results /
Expected results" or a description-and-environment form or an e-mail, with generic UI steps,
a user-agent line and build id, a signature with phone numbers, and often a quoted earlier
thread about ANOTHER request. The second report of a pair states the request with dropped
words and typos, around other context sentences of the theme. So the duplicates share the
request, not the template, while every other report of the theme shares their context and all
reports share the template: what a templated long-text search must see through.

For every pair, the first report is the query; it is a hit when the other report's account is
among the top 10 accounts returned (the query's own record left out). Measured in one run:
- `similar` as shipped: the real index and query (warehouse/similar.py) on an embedded
  Postgres, ranked by the fused meaning + word ranks ("fused"); "as listed": the accounts
  `similar` lists, those counted (at or above Settings.similar_min_similarity) first, then
  the nearby ones below the floor; "counted": only accounts above the floor;
- MiniLM cosine on whole raw texts (the same bundled model);
- TF-IDF cosine on whole raw texts (scikit-learn, English stop words, sublinear tf).
Writes bench/results/similar_dups.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from demoworld.catalog import THEMES  # noqa: E402
from demoworld.resources import load  # noqa: E402
from demoworld.texts import Slots, add_typos, fill  # noqa: E402

TOP = 10
_TEXTS, _PEOPLE = load("texts.yaml"), load("people.yaml")
_STEPS = (
    "Log in as an admin", "Log in with a standard user", "Open the Settings page",
    "Go to the Dashboard", "Open the Reports tab", "Click the gear icon in the top right",
    "Select any record in the list", "Refresh the page", "Open the Admin console",
    "Switch to the Integrations tab", "Click Save", "Wait a few seconds",
    "Open the same page in a second tab", "Sign out and sign back in",
)
_ACTUAL = (
    "It does not work the way we need.", "There is no option for this anywhere.",
    "Nothing happens.", "We have to work around it by hand.", "The page just reloads.",
)
_AGENTS = ("Maya from Support", "Tom (Brightwave Support)", "the Brightwave team")
_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.{v} Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
)


def _person(rng: random.Random) -> tuple[str, str, str, str]:
    first, last = rng.choice(_PEOPLE["first_names"]), rng.choice(_PEOPLE["last_names"])
    c = _PEOPLE["company"]
    company = (f"{rng.choice(c['prefixes'])}{rng.choice(c['stems'])} "
               f"{rng.choice(c['industries'])} {rng.choice(c['legal_forms']['EMEA'])}").strip()
    phone = f"+{rng.randint(1, 61)} {rng.randint(10, 99)} {rng.randint(1000, 9999)} " \
            f"{rng.randint(1000, 9999)}"
    return f"{first} {last}", rng.choice(_PEOPLE["contact_titles"]), company, phone


def _signature(rng: random.Random) -> str:
    name, title, company, phone = _person(rng)
    lines = [rng.choice(("Thanks,", "Best regards,", "Cheers,", "Many thanks,", "Regards,")),
             name, f"{title} | {company}"]
    if rng.random() < 0.7:
        lines.append(f"{rng.choice(_TEXTS['tickets']['phone_labels'])}: {phone}")
    if rng.random() < 0.4:
        lines.append(f"{name.split()[0].lower()}.{name.split()[1].lower()}@"
                     f"{company.split()[0].lower()}.example")
    return "\n".join(lines)


def _environment(rng: random.Random) -> str:
    return (f"Reproducible: {rng.choice(('Always', 'Sometimes', 'Every time'))}\n"
            f"User-Agent: {rng.choice(_UA).format(v=rng.randint(100, 125))}\n"
            f"Build ID: 2026{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
            f"{rng.randint(0, 999999):06d}")


def _quoted(rng: random.Random, other_ask: str) -> str:
    when = f"{rng.choice(('Mon', 'Tue', 'Wed', 'Thu', 'Fri'))}, {rng.randint(1, 28)} " \
           f"{rng.choice(('Oct', 'Nov', 'Dec'))} 2026"
    reply = fill(rng.choice(_TEXTS["tickets"]["agent_replies"]),
                 Slots(rng, agent="Maya", first="Maya"))
    body = [reply, f"You wrote earlier: {other_ask}"]
    return f"On {when}, {rng.choice(_AGENTS)} wrote:\n" + "\n".join(f"> {x}" for x in body)


def _perturb(rng: random.Random, text: str) -> str:
    """The same request, typed by someone else: some words dropped, some typos."""
    words = text.split()
    kept = [w for w in words if rng.random() > 0.15] or words
    return add_typos(rng, " ".join(kept), rate=0.06)


def report(rng: random.Random, theme, ask: str, other_ask: str, second: bool) -> str:
    """One long templated report around `ask`."""
    slots = Slots(rng)
    request = _perturb(rng, ask) if second else ask
    context = fill(rng.choice(theme.contexts), slots)
    topic = fill(rng.choice(theme.topics), slots)
    subject = fill(rng.choice(_TEXTS["tickets"]["subjects"]), Slots(rng, topic=topic))
    steps = "\n".join(f"{i}. {s}" for i, s in enumerate(rng.sample(_STEPS, rng.randint(3, 5)),
                                                         start=1))
    form = rng.randrange(3)
    if form == 0:
        body = (f"Summary: {subject}\n\nSteps to reproduce:\n{steps}\n\nActual results:\n"
                f"{rng.choice(_ACTUAL)} {context}\n\nExpected results:\n{request}\n\n"
                f"{_environment(rng)}")
    elif form == 1:
        body = (f"Description:\n{context} {request}\n\nSteps to reproduce:\n{steps}\n\n"
                f"Environment:\n{_environment(rng)}\nBrowser: Chrome\nOS: Windows 11")
    else:
        greeting = fill(rng.choice([g for g in _TEXTS["tickets"]["greetings"] if g]),
                        Slots(rng, agent="team", first="team"))
        body = (f"{greeting}\n\n{rng.choice(_ACTUAL)} {request} {context}\n\n"
                f"What I did:\n{steps}\n\n{_environment(rng)}")
    parts = [body, _signature(rng)]
    if rng.random() < 0.6:
        parts.append(_quoted(rng, other_ask))
    return "\n\n".join(parts)


def build_set(seed: int, fills: int) -> tuple[list[dict], list[tuple[int, int]]]:
    """Reports (text, account, request) and the duplicate pairs (query index, dup index)."""
    rng = random.Random(seed)
    requests = []
    for theme in THEMES:
        for template in theme.asks:
            seen = set()
            for _ in range(fills if "{" in template else 1):
                ask = fill(template, Slots(rng))
                if ask not in seen:
                    seen.add(ask)
                    requests.append((theme, ask))
    reports, pairs = [], []
    for r, (theme, ask) in enumerate(requests):
        other = requests[rng.randrange(len(requests))][1]
        for second in (False, True):
            reports.append({"text": report(rng, theme, ask, other, second),
                            "account": f"acct{len(reports):05d}", "request": r,
                            "theme": theme.key})
        pairs.append((len(reports) - 2, len(reports) - 1))
    return reports, pairs


def _hits(ranked: list[list[int]], pairs: list[tuple[int, int]], reports: list[dict]) -> float:
    """Share of queries whose duplicate's account is among the first TOP accounts."""
    hit = 0
    for (q, dup), order in zip(pairs, ranked, strict=True):
        accounts: list[str] = []
        for i in order:
            a = reports[i]["account"]
            if i != q and a not in accounts:
                accounts.append(a)
            if len(accounts) == TOP:
                break
        hit += reports[dup]["account"] in accounts
    return hit / len(pairs)


def _cosine_rank(matrix: np.ndarray, pairs: list[tuple[int, int]]) -> list[list[int]]:
    out = []
    for q, _ in pairs:
        s = matrix @ matrix[q]
        out.append([int(i) for i in np.argsort(-s, kind="stable")[:TOP + 1]])
    return out


def _baselines(reports: list[dict], pairs: list[tuple[int, int]], embedder) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [r["text"] for r in reports]
    t0 = time.perf_counter()
    dense = embedder.encode(texts)
    minilm = _hits(_cosine_rank(dense, pairs), pairs, reports)
    t1 = time.perf_counter()
    tfidf = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(texts)
    ranks = []
    for q, _ in pairs:
        s = (tfidf @ tfidf[q].T).toarray().ravel()
        ranks.append([int(i) for i in np.argsort(-s, kind="stable")[:TOP + 1]])
    return {"minilm_whole_text": round(minilm, 3), "minilm_seconds": round(t1 - t0, 1),
            "tfidf_whole_text": round(_hits(ranks, pairs, reports), 3)}


def _similar(reports: list[dict], pairs: list[tuple[int, int]], embedder, floor: float
             ) -> dict:
    """The shipped index and query on an embedded Postgres."""
    import psycopg
    from psycopg import sql

    from foundation.config import Settings
    from infra.embedded import EmbeddedPostgres, free_port
    from infra.stack import migrate_database
    from warehouse.similar import (
        group_by_account,
        index_missing,
        listing,
        request_text,
        search_records,
    )

    with tempfile.TemporaryDirectory() as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg", free_port())
        pg.start()
        try:
            name = f"bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(f"{pg.server_url()}/postgres", autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            settings = Settings(database_url=f"{pg.server_url()}/{name}",
                                data_dir=Path(tmp) / "data")
            migrate_database(settings)
            with psycopg.connect(settings.dsn(), autocommit=True) as conn:
                ids = _load(conn, reports)
                t0 = time.perf_counter()
                index_missing(conn, embedder.encode, embedder.model_id)
                t1 = time.perf_counter()
                by_id = {fid: i for i, fid in enumerate(ids)}
                queries = embedder.encode([request_text(reports[q]["text"])
                                           for q, _ in pairs])
                fused, listed, scored = [], [], []
                for (q, _), vec in zip(pairs, queries, strict=True):
                    # a low floor here, so the sweep below sees every record above 0.4
                    rows = [r for r in search_records(conn, reports[q]["text"], vec,
                                                      embedder.model_id, _SWEEP[0])
                            if by_id[r.feedback_id] != q]
                    fused.append([by_id[r.feedback_id] for r in rows])
                    # as `similar` lists them: accounts above the floor, then those below it
                    listed.append([by_id[a.records[0].feedback_id] for a in listing(
                        group_by_account(rows, floor), TOP)])
                    scored.append([(by_id[r.feedback_id], r.similarity) for r in rows])
                t2 = time.perf_counter()
        finally:
            pg.stop()
    return {"similar_fused": round(_hits(fused, pairs, reports), 3),
            "similar_as_listed": round(_hits(listed, pairs, reports), 3),
            "similar_counted_with_floor": round(_hits(
                [[i for i, s in rows if s >= floor] for rows in scored], pairs, reports), 3),
            "floor": floor, "floor_sweep": _sweep(scored, pairs, reports),
            "index_seconds": round(t1 - t0, 1),
            "query_ms_mean": round((t2 - t1) / len(pairs) * 1000, 1)}


_SWEEP = (0.4, 0.45, 0.5, 0.52, 0.55, 0.6, 0.63, 0.65, 0.7)


def _sweep(scored: list[list[tuple[int, float]]], pairs: list[tuple[int, int]],
           reports: list[dict]) -> list[dict]:
    """Per floor: how many duplicates stay above it, and of the records counted as asks,
    the share about the same request (precision) and about the same theme."""
    out = []
    for f in _SWEEP:
        kept = dup = same_request = same_theme = 0
        for (q, d), rows in zip(pairs, scored, strict=True):
            above = [i for i, s in rows if s >= f]
            kept += len(above)
            dup += d in above
            same_request += sum(reports[i]["request"] == reports[q]["request"] for i in above)
            same_theme += sum(reports[i]["theme"] == reports[q]["theme"] for i in above)
        out.append({"floor": f, "duplicate_recall": round(dup / len(pairs), 3),
                    "counted_per_query": round(kept / len(pairs), 2),
                    "precision_same_request": round(same_request / max(kept, 1), 3),
                    "precision_same_theme": round(same_theme / max(kept, 1), 3)})
    return out


def _load(conn, reports: list[dict]) -> list[int]:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    ids = []
    for i, r in enumerate(reports):
        conn.execute("INSERT INTO trendmine.accounts (account_id, name, segment, arr, "
                     "updated_at) VALUES (%s, %s, 'smb', 1000, now())",
                     (r["account"], r["account"]))
        ids.append(conn.execute(
            "INSERT INTO trendmine.feedback (source, source_id, account_id, text, text_hash, "
            "created_at) VALUES ('support_tickets', %s, %s, %s, %s, %s) RETURNING feedback_id",
            (f"t{i}", r["account"], r["text"], f"h{i}",
             now - timedelta(days=3 * i))).fetchone()[0])
    return ids


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fills", type=int, default=2,
                    help="slot fills per ask with slots (each fill is its own request)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "similar_dups.json")
    ap.add_argument("--sample", action="store_true", help="print one duplicate pair and exit")
    args = ap.parse_args()
    if args.sample:
        reports, pairs = build_set(args.seed, args.fills)
        print(reports[pairs[0][0]]["text"], "\n\n=====\n\n", reports[pairs[0][1]]["text"])
        return
    from foundation.config import Settings
    from mining.embed import Embedder

    t0 = time.perf_counter()
    reports, pairs = build_set(args.seed, args.fills)
    embedder = Embedder(device=os.environ.get("TRENDMINE_EMBEDDING_DEVICE", "cpu"))
    floor = Settings.model_fields["similar_min_similarity"].default
    result = {
        "command": "python bench/bench_similar_dups.py " + " ".join(sys.argv[1:]),
        "reports": len(reports), "queries": len(pairs),
        "mean_report_words": round(float(np.mean([len(r["text"].split())
                                                  for r in reports])), 1),
        "metric": f"duplicate's account among the top {TOP} accounts",
        **_similar(reports, pairs, embedder, floor),
        **_baselines(reports, pairs, embedder),
    }
    result["seconds"] = round(time.perf_counter() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
