"""One self-contained HTML report: no chart library, no CDN, no external font; inline SVG
sparklines and CSS bars, `<details>` drill-downs linked by anchors, so it opens offline and
weighs a few hundred kB.

Every figure reads one window (report_data.ReportWindow: whole weeks up to the newest
feedback) and says so; window totals are the `trendmine trends` rows, weekly figures the
trends.theme_trends rows of those weeks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from foundation.config import Settings
from foundation.secrets import open_private
from mining.scoring import ScoreWeights
from report import charts
from report.markup import csp, esc, safe_href, table
from report.sales import sales_section
from report.summary import money
from warehouse import queries, report_data
from warehouse.accounts import unresolved_summary
from warehouse.report_data import ReportWindow, ThemeInfo
from warehouse.trends import EMERGING_GRAIN, GROWTH_PERIODS

TOP_PARENTS = 30       # parent themes listed (and drilled into)
MULTIPLES = 12         # small multiples at the top
LEAF_CARDS = 150       # leaf drill-downs at most (keeps the file small)
ACCOUNTS_SHOWN = 8
SEGMENT_TOP = 6
QUOTE_CHARS = 320
EMERGING_LIMIT = 15

_CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2937;
background:#f8fafc}
main{max-width:1280px;margin:0 auto;padding:20px 32px 60px}
h1{margin:0 0 4px;font-size:26px}
h2{margin:34px 0 6px;font-size:20px;border-bottom:2px solid #e5e7eb;padding-bottom:4px}
h3{margin:22px 0 6px;font-size:16px}
.meta,.note{color:#6b7280;font-size:13px} .note{margin:2px 0 10px}
nav{position:sticky;top:0;background:#f8fafcee;padding:6px 0;z-index:2;font-size:13px}
nav a{margin-right:14px}
a{color:#1d4ed8;text-decoration:none} a:hover{text-decoration:underline}
table{border-collapse:collapse;font-size:13px;margin:6px 0 14px;background:#fff;width:100%}
th,td{border-bottom:1px solid #e5e7eb;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f1f5f9;font-weight:600;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:12px}
.tile{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:10px 12px}
.tile h4{margin:0 0 2px;font-size:14px} .tile .fig{color:#4b5563;font-size:12px}
svg .ax{font-size:10px;fill:#6b7280} svg.spark{vertical-align:middle}
details.card{background:#fff;border:1px solid #e5e7eb;border-radius:8px;margin:8px 0;
padding:6px 12px} details.card>summary{cursor:pointer;font-weight:600;padding:4px 0}
details.card details.card{margin-left:8px;border-color:#eef2f7}
details.card:target{outline:2px solid #93c5fd}
.sub{font-weight:400;color:#6b7280;font-size:12px;margin-left:6px}
blockquote{margin:6px 0;padding:4px 10px;border-left:3px solid #93c5fd;background:#f8fafc}
blockquote cite{display:block;color:#6b7280;font-size:12px;font-style:normal}
.kw{color:#4b5563;font-size:12px} .kw span{background:#eef2ff;border-radius:4px;padding:0 5px;
margin-right:4px;display:inline-block}
.new{color:#b91c1c;font-weight:600;font-size:11px}
.seg{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:12px}
.evidence{margin:4px 0 12px 0;padding-left:18px} .evidence li{margin:4px 0}
.bars{display:grid;grid-template-columns:minmax(180px,32%) 1fr;gap:3px 10px;margin:8px 0 14px;
font-size:13px;align-items:center} .bt{display:flex;align-items:center;gap:6px}
.bb{flex:1;display:flex;height:14px;background:#f1f5f9;border-radius:3px;overflow:hidden}
.bb span{height:100%} .bv{font-size:12px;color:#4b5563;min-width:90px;white-space:nowrap}
.legend span{margin-right:12px;font-size:12px} .legend i{display:inline-block;width:10px;
height:10px;margin-right:4px;border-radius:2px}
footer{margin-top:40px;font-size:12px;color:#6b7280} footer dt{font-weight:600;color:#374151}
@media (max-width:1300px){main{padding:16px 20px 50px}}
"""

# Opens the <details> a link points into, and leaves a marker once the page has run
# (tests/test_report.py reads it from headless Chromium's DOM).
_SCRIPT = """
window.addEventListener('error',function(e){document.body.dataset.jsError=String(e.message)});
(function(){
function openHash(){var id=decodeURIComponent(location.hash.slice(1));if(!id)return;
var el=document.getElementById(id);for(var e=el;e;e=e.parentElement){if(e.tagName==='DETAILS')
e.open=true}if(el)el.scrollIntoView()}
window.addEventListener('hashchange',openHash);openHash();
var m=document.createElement('div');m.id='report-ready';m.hidden=true;
m.dataset.charts=document.querySelectorAll('.chart').length;
m.dataset.cards=document.querySelectorAll('details.card').length;document.body.appendChild(m);
})();
"""


def theme_link(theme_id: int, label: str) -> str:
    return f'<a href="#theme-{theme_id}">{esc(label)}</a>'


def _urgent(v: float | None) -> str:
    """Share of the theme's records with an urgency cue (mining.sentiment; docs/read-side.md)."""
    return "-" if v is None else f"{v:.0%}"


def _growth(v: float | None) -> str:
    return "-" if v is None else f"{v:+.0%}"


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1].rstrip() + "…"


class _Report:
    """Reads everything once, then renders the sections."""

    def __init__(self, conn: psycopg.Connection, settings: Settings, since_days: int) -> None:
        self.conn, self.settings = conn, settings
        self.weights = ScoreWeights.from_settings(settings)
        self.w: ReportWindow = report_data.report_window(conn, since_days, settings.timezone)
        self.info: dict[int, ThemeInfo] = report_data.themes(conn)
        self.leaves = report_data.figures(conn, self.w, self.weights, "leaf")
        listed = [p for p in report_data.figures(conn, self.w, self.weights, "parent")
                  if self.info.get(p.theme_id) is None
                  or self.info[p.theme_id].visibility == "shown"]
        self.n_parents = len(listed)  # said next to the list: no silent cap
        self.parents = listed[:TOP_PARENTS]
        self.leaf_by_id = {r.theme_id: r for r in self.leaves}
        self.weekly = {**report_data.weekly_mentions(conn, self.w, "parent"),
                       **report_data.weekly_mentions(conn, self.w, "leaf")}
        self.children: dict[int, list[queries.TrendRow]] = {}
        for leaf in self.leaves:
            pid = self.info[leaf.theme_id].parent_theme_id if leaf.theme_id in self.info else None
            self.children.setdefault(pid or leaf.theme_id, []).append(leaf)
        shown_parent_ids = {p.theme_id for p in self.parents}
        # sub-themes with a card: those of the listed parents, in rank order, up to the cap
        self.carded = [leaf.theme_id for p in self.parents
                       for leaf in self.children.get(p.theme_id, [])][:LEAF_CARDS]
        card_ids = sorted(shown_parent_ids | set(self.carded))
        self.quotes = {**report_data.quotes(conn, self.w, [p.theme_id for p in self.parents],
                                            level="parent"),
                       **report_data.quotes(conn, self.w, self.carded)}
        self.requesters = {
            **report_data.requesters(conn, self.w, [p.theme_id for p in self.parents], "parent"),
            **report_data.requesters(conn, self.w, self.carded)}
        self.lineage = report_data.lineage(conn, card_ids)
        self.continues = report_data.continue_counts(conn, card_ids)
        self.decided, self.issues = report_data.decisions_and_links(conn, card_ids)

    # ------------------------------------------------------------------ pieces
    def label(self, theme_id: int, fallback: str = "") -> str:
        info = self.info.get(theme_id)
        return info.label if info and info.label else fallback or f"theme {theme_id}"

    def spark(self, theme_id: int) -> str:
        values = self.weekly.get(theme_id, [0] * len(self.w.weeks))
        return charts.sparkline(values, "mentions per week: " + ", ".join(map(str, values)),
                                self.w.last_partial)

    def figure_line(self, r: queries.TrendRow) -> str:
        return (f"In the {len(self.w.weeks)}-week window: {r.mentions:,} mentions from "
                f"{r.accounts:,} accounts · ARR {money(r.arr)} · "
                f"open pipeline linked {money(r.pipeline)} · growth {_growth(r.growth)}")

    def quotes_html(self, theme_id: int) -> str:
        out = []
        for q in self.quotes.get(theme_id, []):
            who = q.account_name or q.account_id or "unknown account"
            href = safe_href(q.url)
            link = f' · <a href="{href}" rel="noopener noreferrer">source</a>' if href else ""
            out.append(f"<blockquote>“{esc(_short(q.text))}”<cite>{esc(who)} ({esc(q.segment)})"
                       f" · {q.created_at:%Y-%m-%d}{link}</cite></blockquote>")
        return "".join(out) or '<p class="note">No quotes in the window.</p>'

    def accounts_html(self, theme_id: int) -> str:
        reqs = self.requesters.get(theme_id, [])
        if not reqs:
            return '<p class="note">No known account in the window.</p>'
        shown = reqs[:ACCOUNTS_SHOWN]
        rest = reqs[ACCOUNTS_SHOWN:]
        more = (f'<p class="note">and {len(rest)} more accounts, ARR '
                f'{money(sum(r.arr for r in rest))} (<code>trendmine theme {theme_id}</code> lists '
                f"them all).</p>" if rest else "")
        return table(
            ["account", "segment", "ARR (current)", "mentions in window", "last mention",
             "open deals (account)", "open pipeline (account)"],
            [[r.name or r.account_id, r.segment, money(r.arr), r.mentions,
              f"{r.last_mention:%Y-%m-%d}", r.open_deals, money(r.open_pipeline)]
             for r in shown]) + more

    def status_html(self, theme_id: int) -> str:
        """The decision in force and the linked Jira/Linear issues (`theme link`)."""
        decision = self.decided.get(theme_id)
        issues = []
        for i in self.issues.get(theme_id, []):
            name = f"{i.tracker.title()} {esc(i.issue_key)}"
            href = safe_href(i.url)
            name = f'<a href="{href}" rel="noopener noreferrer">{name}</a>' if href else name
            issues.append(name + (f" ({esc(i.issue_state)})" if i.issue_state else ""))
        if not decision and not issues:
            return ""
        return (f'<p class="kw">status: <b>{esc(decision or "undecided")}</b>'
                + (" · " + ", ".join(issues) if issues else "") + "</p>")

    def lineage_html(self, theme_id: int) -> str:
        events = self.lineage.get(theme_id, [])
        n_cont = self.continues.get(theme_id, 0)
        items = []
        for e in events:
            if e.event == "continue":
                continue
            rel = ", ".join(f"#{t}" for t in e.related_theme_ids)
            who = (e.detail or {}).get("who") or (e.detail or {}).get("decided_by")
            items.append(f"<li>{e.at:%Y-%m-%d} <b>{esc(e.event)}</b>"
                         f"{' with ' + esc(rel) if rel else ''}{' by ' + esc(who) if who else ''}"
                         "</li>")
        if n_cont:
            items.append(f"<li>matched again by {n_cont} later mining run"
                         f"{'s' if n_cont != 1 else ''} (same id)</li>")
        return "<ul>" + "".join(items) + "</ul>" if items else '<p class="note">None.</p>'

    def leaf_card(self, r: queries.TrendRow) -> str:
        info = self.info.get(r.theme_id)
        kws = "".join(f"<span>{esc(k)}</span>" for k in (info.keywords if info else [])[:10])
        return (
            f'<details class="card" id="theme-{r.theme_id}"><summary>'
            f"{esc(self.label(r.theme_id, r.label))}"
            f'<span class="sub">theme #{r.theme_id} · {r.mentions:,} mentions, {r.accounts:,} '
            f"accounts, ARR {money(r.arr)}</span></summary>"
            f'<p>{self.spark(r.theme_id)} <span class="fig">{self.figure_line(r)}</span></p>'
            f'<p class="kw">keywords: {kws or "-"}</p>'
            f"{self.status_html(r.theme_id)}"
            f"<h4>What they say (one quote per account)</h4>{self.quotes_html(r.theme_id)}"
            f"<h4>Accounts asking</h4>{self.accounts_html(r.theme_id)}"
            f"<h4>Lineage</h4>{self.lineage_html(r.theme_id)}</details>")

    # ------------------------------------------------------------------ sections
    def multiples(self) -> str:
        tiles = []
        for p in self.parents[:MULTIPLES]:
            values = self.weekly.get(p.theme_id, [0] * len(self.w.weeks))
            tiles.append(
                f'<div class="tile"><h4>{theme_link(p.theme_id, self.label(p.theme_id, p.label))}'
                f'</h4><div class="fig">{p.mentions:,} mentions · {p.accounts:,} accounts · '
                f"ARR {money(p.arr)}</div>"
                + charts.small_multiple(values, self.w.weeks,
                                        f"{self.label(p.theme_id)}: mentions per week",
                                        self.w.last_partial) + "</div>")
        partial = (" The last point is hollow: its week is still in progress."
                   if self.w.last_partial else "")
        return ('<h2 id="overview">Top themes at a glance</h2>'
                f'<p class="note">Mentions per week (records, grain ISO week), '
                f"{self.w.describe()}; "
                f"each chart has its own scale, peak written on it.{partial}</p>"
                f'<div class="grid">{"".join(tiles)}</div>' if tiles else
                '<h2 id="overview">Top themes at a glance</h2><p>No themed feedback in the '
                "window.</p>")

    def parents_section(self) -> str:
        parts = ['<h2 id="themes">Themes by parent</h2>',
                 f'<p class="note">Window: {self.w.describe()}. Ranked by value '
                 f"(weighted score x open pipeline x momentum, docs/read-side.md); "
                 f"growth = weighted score of the last complete week against the mean of the "
                 f"{GROWTH_PERIODS} weeks before. Click a theme to open its card. Showing "
                 f"{len(self.parents):,} of {self.n_parents:,} themes"
                 + (" (`trendmine trends --level parent --format csv` lists them all)"
                    if len(self.parents) < self.n_parents else "") + ".</p>"]
        parts.append(table(
            ["#", "theme", "sub-themes", "mentions", "accounts", "ARR", "open pipeline",
             "growth", "urgent", "mentions per week"],
            [[i, theme_link(p.theme_id, self.label(p.theme_id, p.label)),
              len(self.children.get(p.theme_id, [])), p.mentions, p.accounts, money(p.arr),
              money(p.pipeline), _growth(p.growth), _urgent(p.urgent_share),
              self.spark(p.theme_id)]
             for i, p in enumerate(self.parents, 1)], raw=frozenset({1, 9})))
        carded = set(self.carded)
        for p in self.parents:
            kids = self.children.get(p.theme_id, [])
            is_leaf = self.info.get(p.theme_id) is not None and \
                self.info[p.theme_id].level == "leaf"
            if is_leaf and p.theme_id in self.leaf_by_id:
                parts.append(self.leaf_card(self.leaf_by_id[p.theme_id]))
                continue
            kid_table = table(
                ["sub-theme", "mentions", "accounts", "ARR", "open pipeline", "growth",
                 "urgent", "mentions per week"],
                [[theme_link(k.theme_id, self.label(k.theme_id, k.label)), k.mentions,
                  k.accounts, money(k.arr), money(k.pipeline), _growth(k.growth),
                  _urgent(k.urgent_share), self.spark(k.theme_id)] for k in kids],
                raw=frozenset({0, 7}))
            parts.append(
                f'<details class="card" id="theme-{p.theme_id}"><summary>'
                f"{esc(self.label(p.theme_id, p.label))}<span class=\"sub\">parent theme "
                f"#{p.theme_id} · {len(kids)} sub-themes · {p.mentions:,} mentions, "
                f"{p.accounts:,} accounts, ARR {money(p.arr)}</span></summary>"
                f'<p>{self.spark(p.theme_id)} <span class="fig">{self.figure_line(p)}</span></p>'
                f"{self.status_html(p.theme_id)}"
                f"{kid_table}<h4>What they say (one quote per account)</h4>"
                f"{self.quotes_html(p.theme_id)}<h4>Accounts asking</h4>"
                f"{self.accounts_html(p.theme_id)}<h4>Lineage</h4>"
                f"{self.lineage_html(p.theme_id)}"
                + "".join(self.leaf_card(k) for k in kids if k.theme_id in carded)
                + "</details>")
        return "".join(parts)

    def emerging_section(self) -> str:
        rows = queries.emerging(self.conn, limit=EMERGING_LIMIT)
        rows = [e for e in rows if self.info.get(e["theme_id"]) is None
                or self.info[e["theme_id"]].visibility == "shown"]
        head = ['<h2 id="emerging">Emerging themes</h2>']
        if not rows:
            return head[0] + "<p>No theme rises faster than its own history explains.</p>"
        head.append(
            f'<p class="note">Detected on {EMERGING_GRAIN}ly leaf-theme demand: the recent '
            f"window (from the date given, to the newest feedback) against the theme's own "
            f"baseline weeks before it.</p>")
        mix = report_data.segment_mix(self.conn, [e["theme_id"] for e in rows],
                                      rows[0]["period_start"])
        quotes = queries.theme_quotes(self.conn, [e["theme_id"] for e in rows])
        items = []
        for e in rows:
            segs = ", ".join(f"{n} {seg}" for seg, n in mix.get(e["theme_id"], {}).items())
            new = ' <span class="new">NEW</span>' if e["is_new"] else ""
            parent = f" (under {esc(e['parent_label'])})" if e.get("parent_label") else ""
            items.append(f"<li><b>{theme_link(e['theme_id'], e['label'])}</b>{new}{parent}: "
                         f"{esc(evidence_words(e))}{self.related_words(e)}"
                         + "".join(f"<br><q>{esc(q)}</q>" for q in quotes.get(e["theme_id"], []))
                         + f'<br><span class="note">accounts by segment: {esc(segs or "-")}'
                         "</span></li>")
        head.append('<ol class="evidence">' + "".join(items) + "</ol>")
        return "".join(head)

    def related_words(self, e: dict[str, Any]) -> str:
        rel = (e.get("evidence") or {}).get("related_themes") or []
        if not rel:
            return ""
        links = ", ".join(theme_link(r["theme_id"], self.label(r["theme_id"], r.get("label", "")))
                          for r in rel)
        return f". Rising with it: {links}"

    def segments_section(self) -> str:
        cols = []
        for seg in report_data.segments(self.conn, self.w):
            top = report_data.figures(self.conn, self.w, self.weights, "leaf", segment=seg,
                                      limit=SEGMENT_TOP, rank_by="accounts")
            if not top or seg == "unknown":  # records without a known account: no accounts
                continue
            peak = max(t.accounts for t in top) or 1
            rows = [(theme_link(t.theme_id, self.label(t.theme_id, t.label)),
                     [(t.accounts, charts.ACCENT, f"{t.accounts} accounts")],
                     f"{t.accounts:,} acc · {t.mentions:,} m · {money(t.arr)}") for t in top]
            cols.append(f'<div class="tile"><h4>{esc(seg)}</h4>'
                        + charts.bars(rows, scale=peak) + "</div>")
        return ('<h2 id="segments">What each segment asks for</h2>'
                f'<p class="note">Each segment\'s own top {SEGMENT_TOP} themes by the number of '
                f"its accounts asking (a small segment is not drowned by the enterprise weight); "
                f"acc = accounts, m = mentions (records); "
                f"ARR of those accounts. Window: {self.w.describe()}; segment = the account's "
                f"current segment.</p><div class=\"seg\">{''.join(cols)}</div>")

    def footer(self) -> str:
        hidden = report_data.hidden_counts(self.conn, self.w)
        hidden_txt = "; ".join(f"{h.themes:,} {h.visibility} themes ({h.mentions:,} records in "
                               f"the window)" for h in hidden) or "none"
        return (
            "<footer><h3>How to read the numbers</h3><dl>"
            f"<dt>Window</dt><dd>{self.w.describe()}; weeks start Monday. The window is read as "
            "of the newest feedback, so an old data set still shows its last weeks.</dd>"
            "<dt>Mentions</dt><dd>Feedback records with at least one snippet in the theme "
            "(records, not snippets); for a parent theme, each record once across its "
            "sub-themes.</dd><dt>Accounts, ARR</dt><dd>Distinct accounts asking in the window; "
            "ARR of those accounts, each counted once (current CRM figures, as `trendmine "
            "trends`).</dd><dt>Open pipeline linked</dt><dd>Open deals linked from the feedback "
            "itself, each deal once. The account tables show each account's own open deals."
            "</dd><dt>Weighted score, growth</dt><dd>See docs/scoring.md; growth compares the "
            f"last complete week with the mean of the {GROWTH_PERIODS} before it (as "
            "trends.theme_trends).</dd><dt>Urgent</dt><dd>Share of the theme's records in the "
            "window with an urgency or churn cue (\"blocker\", \"cancel\", \"urgent\", ...; "
            "negations such as \"not urgent\" do not count): an offline word list, see "
            "docs/read-side.md."
            "</dd></dl>"
            f"<p>Left out of every list: {hidden_txt}. Hidden themes are a curation decision, "
            "chatter is greetings and boilerplate; `trendmine theme ID` still shows them.</p>"
            "<p>Feedback on no CRM account (no segment or ARR; it counts as anonymous "
            f"voices): {esc(unresolved_summary(self.conn))}; `trendmine accounts unresolved` "
            "lists what a person can match (docs/accounts.md).</p>"
            "</footer>")


def evidence_words(e: dict[str, Any]) -> str:
    """'53 mentions from 33 accounts since 2024-03-04 (2.4 weeks); about 5 mentions and 3
    accounts expected from its baseline; ARR $1.2M, open pipeline $300k'."""
    ev = e.get("evidence") or {}
    recent_exposure = sum((ev.get("exposure_per_period") or [])[-(ev.get("recent_periods")
                                                                    or 0):] or [0])
    base_n = ev.get("baseline_periods") or 0
    expected_m = (ev.get("baseline_mentions", 0) / base_n * recent_exposure) if base_n else None
    span = f"{recent_exposure:.1f} weeks" if recent_exposure else "the recent weeks"
    text = (f"{e['mentions']:,} mentions from {e['accounts']:,} accounts since "
            f"{e['period_start']} ({span})")
    if expected_m is not None:
        acc = ev.get("accounts_expected")
        acc_txt = (f" and {acc:,.0f} account{'' if round(acc) == 1 else 's'}"
                   if acc is not None else "")
        text += f"; about {expected_m:,.0f} mentions{acc_txt} expected from its own baseline"
    if e["is_new"]:
        text += " (no history before: a new theme)"
    return text + f"; ARR {money(e['arr'])}, open pipeline {money(e['pipeline'])}"


def write_report(conn: psycopg.Connection, out_path: Path | str, settings: Settings,
                 since_days: int = 90) -> Path:
    """Write the report to out_path; returns the path."""
    out = Path(out_path)
    r = _Report(conn, settings, since_days)
    fresh = queries.freshness(conn)
    body = [r.multiples(), r.parents_section(), r.emerging_section(), r.segments_section(),
            f'<section id="sales">{sales_section(conn, settings)}</section>', r.footer()]

    def ts(v: Any) -> str:
        return v.strftime("%Y-%m-%d %H:%M UTC") if v else "never"

    header = (
        f"<h1>trendmine report</h1><div class='meta'><b>Window: {r.w.describe()}</b><br>"
        f"generated {ts(datetime.now(UTC))} &middot; last ingested "
        f"{ts(fresh['last_ingested'])} &middot; trends rebuilt {ts(fresh['trends_computed'])} "
        f"&middot; {fresh['feedback']:,} feedback records in all, {len(r.parents)} parent themes "
        f"and {len(r.leaves)} sub-themes with feedback in the window</div>"
        '<nav><a href="#overview">At a glance</a><a href="#themes">Themes</a>'
        '<a href="#emerging">Emerging</a><a href="#segments">Segments</a>'
        '<a href="#sales">Deals and revenue</a></nav>')
    doc = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
           f"{csp(_SCRIPT)}<meta name='viewport' content='width=device-width,initial-scale=1'>"
           f"<title>trendmine report</title><style>{_CSS}</style></head><body><main>{header}"
           f"{''.join(body)}</main><script>{_SCRIPT}</script></body></html>")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open_private(out, "w", encoding="utf-8") as f:  # every account's feedback: 0600
        f.write(doc)
    return out
