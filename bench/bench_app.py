"""Benchmark: how fast each web app page answers on the demo data (target: under 300 ms).

    python bench/bench_app.py [--data-dir DIR] [--repeat 10] [--out bench/results/app.json]

Without --data-dir it runs `trendmine demo` (8,000 records, mined) into a temporary data dir
on free ports first; with it, it reuses a data dir where `trendmine demo` already ran (the
stack is started with `trendmine up`, and left running). Then `trendmine app serve` runs in
a subprocess and every page is fetched over loopback HTTP as a signed-in editor: one warm-up
request (it indexes the records for "who else asked" once, as the CLI's first `similar`
does), then --repeat timed requests; the median and the slowest are reported per page, and
beside them the median of the page's app.pages function called in-process: the query
layer's share, the CLI's cost for the same answer.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.embedded import free_port

REPO = Path(__file__).resolve().parents[1]
TARGET_MS = 300
PASSWORD = "bench passphrase for the app"
EMAIL = "bench@example.com"


def _trendmine(env: dict[str, str], *args: str, timeout: int = 1800, **kw) -> str:
    out = subprocess.run([sys.executable, "-m", "trendmine", *args], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=timeout, **kw)
    if out.returncode:
        raise SystemExit(f"trendmine {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def _pages(env: dict[str, str]) -> dict[str, tuple[str, str, dict[str, str], int | None]]:
    """name -> (URL path, app.pages function, its query, theme id) for the demo's top theme
    and top parent theme."""
    top = _trendmine(env, "trends", "--format", "csv", "--limit", "1").splitlines()[1]
    parent = _trendmine(env, "trends", "--format", "csv", "--limit", "1", "--level",
                        "parent").splitlines()
    tid = int(top.split(",", 1)[0])
    pages = {
        "themes": ("themes", {}, None),
        "themes (parent level)": ("themes", {"level": "parent"}, None),
        "themes (segment, rank by ARR, 180d)": (
            "themes", {"segment": "enterprise", "rank_by": "arr", "since": "180d"}, None),
        "themes (source, by month)": ("themes", {"source": "support_tickets",
                                                 "period": "month"}, None),
        "themes CSV": ("themes", {"format": "csv"}, None),
        "theme": ("theme", {}, tid),
        "theme CSV": ("theme", {"format": "csv"}, tid),
        "emerging": ("emerging", {}, None),
        "who else asked": ("similar", {"q": "we need single sign-on with okta"}, None),
        "deals": ("deals", {}, None),
        "deals waiting on a theme": ("deals", {"theme": str(tid)}, None),
        "win/loss": ("winloss", {}, None),
        "revenue debt": ("fit", {}, None),
    }
    if len(parent) > 1:
        pages["theme (parent)"] = ("theme", {}, int(parent[1].split(",", 1)[0]))
    out = {}
    for name, (fn, query, theme_id) in pages.items():
        path = f"/themes/{theme_id}" if fn == "theme" else f"/{fn}"
        out[name] = (path + (f"?{urlencode(query)}" if query else ""), fn, query, theme_id)
    return out


def _query_ms(env: dict[str, str], pages: dict, repeat: int) -> dict[str, float]:
    """Median time of each page's app.pages function in this process: the query layer's
    share of the page (the rest is HTTP, the session check and the template)."""
    os.environ.update(env)
    from app import pages as app_pages
    from foundation.config import get_settings
    from foundation.db import connection

    settings = get_settings(fresh=True)
    out = {}
    for name, (_, fn, query, theme_id) in pages.items():
        call = getattr(app_pages, fn)
        times = []
        for _ in range(repeat + 1):
            # a connection per call, as the server and the CLI open one: on one reused
            # connection psycopg prepares the statements, and Postgres' generic plan for
            # top_trends' query is many times slower than its custom plans
            with connection(settings, autocommit=True) as conn:
                t0 = time.perf_counter()
                page = call(*((conn, settings, theme_id, query) if theme_id
                              else (conn, settings, query)))
                if "format" in query:
                    page.records()
                times.append((time.perf_counter() - t0) * 1000)
        out[name] = round(statistics.median(times[1:]), 1)
    return out


def _serve(env: dict[str, str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "trendmine", "app", "serve", "--port",
                             str(port)], env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
            return proc
        except httpx.TransportError:
            time.sleep(0.3)
    proc.terminate()
    raise SystemExit("trendmine app serve did not answer within 60 s")


def _login(client: httpx.Client) -> None:
    html = client.get("/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
    r = client.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf": token})
    if r.status_code != 303:
        raise SystemExit(f"login failed: {r.status_code}")


def _time(client: httpx.Client, path: str, repeat: int) -> dict[str, float]:
    first = time.perf_counter()
    r = client.get(path)
    warm = (time.perf_counter() - first) * 1000
    if r.status_code != 200:
        raise SystemExit(f"{path}: HTTP {r.status_code}: {r.text[:300]}")
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        client.get(path).raise_for_status()
        times.append((time.perf_counter() - t0) * 1000)
    return {"first_ms": round(warm, 1), "median_ms": round(statistics.median(times), 1),
            "max_ms": round(max(times), 1), "bytes": len(r.content)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, help="A data dir where `trendmine demo` ran.")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--out", type=Path, default=REPO / "bench/results/app.json")
    args = ap.parse_args()
    tmp = None if args.data_dir else tempfile.TemporaryDirectory()
    data_dir = args.data_dir or Path(tmp.name)
    env = {**os.environ, "TRENDMINE_DATA_DIR": str(data_dir)}
    for var in ("TRENDMINE_DATABASE_URL", "TRENDMINE_KAFKA_BOOTSTRAP"):
        env.pop(var, None)
    if tmp is not None:  # free ports: other stacks on this machine keep theirs
        env.update(TRENDMINE_PG_PORT=str(free_port()), TRENDMINE_KAFKA_PORT=str(free_port()),
                   TRENDMINE_PREFECT_PORT=str(free_port()))
        t0 = time.perf_counter()
        _trendmine(env, "demo", "--out", str(data_dir / "report.html"))
        print(f"trendmine demo: {time.perf_counter() - t0:.0f}s")
    else:
        _trendmine(env, "up")
    server = None
    try:
        pw = data_dir / "bench-app-password"
        pw.write_text(PASSWORD)
        _trendmine(env, "app", "user", "add", EMAIL, "--role", "editor", "--password-file",
                   str(pw))
        pages = _pages(env)
        port = free_port()
        server = _serve(env, port)
        results = {}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300) as client:
            _login(client)
            for name, (path, *_) in pages.items():
                results[name] = {"path": path, **_time(client, path, args.repeat)}
        for name, ms in _query_ms(env, pages, args.repeat).items():
            r = results[name]
            r["query_layer_median_ms"] = ms
            flag = "" if r["median_ms"] < TARGET_MS else "  OVER TARGET"
            print(f"{name:38s} median {r['median_ms']:6.0f} ms (query layer {ms:6.0f}) "
                  f"max {r['max_ms']:6.0f}  first {r['first_ms']:8.0f}{flag}")
        worst = max(r["median_ms"] for r in results.values())
        args.out.write_text(json.dumps({
            "command": "python bench/bench_app.py" + (f" --data-dir {args.data_dir}"
                                                      if args.data_dir else ""),
            "data": "trendmine demo (default world: 8,000 records, 240 accounts, 16 weeks)",
            "repeat": args.repeat, "target_ms": TARGET_MS,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared)",
            "load_average_1m": round(os.getloadavg()[0], 2),
            "slowest_median_ms": worst, "all_under_target": worst < TARGET_MS,
            "pages": results}, indent=2) + "\n")
        print(f"slowest median: {worst:.0f} ms (target {TARGET_MS} ms); wrote {args.out}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        if tmp is not None:
            _trendmine(env, "down", timeout=120)
            tmp.cleanup()


if __name__ == "__main__":
    main()
