"""Feedback records over time, with the planted trends.

First a plan is drawn (who says what, when, through which source), then each planned
record is written out in its register, in time order so sequential vendor ids rise with
time as they do in Zendesk or Intercom. Planted shapes:

- steady themes: a constant weekly rate (Zipf-like popularity, segment-leaning);
- a declining theme: strong early, fading (a performance fix shipped);
- an emerging enterprise theme: a few high-ARR enterprise accounts in the last weeks;
- an emerging SMB theme: many small accounts in the last weeks;
- a noisy account: one account filing 150+ tickets on one theme, spread evenly;
- ~5% off-topic noise, ~2% re-exported duplicates (some edited).
"""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from demoworld import ids
from demoworld.catalog import NOISE, THEME_BY_KEY, THEMES
from demoworld.people import person
from demoworld.resources import load
from demoworld.texts import (
    Person,
    Voice,
    call_text,
    chat_text,
    idea_text,
    note_text,
    ticket_text,
)
from demoworld.world import CRM_SALESFORCE, Account, Feedback, Opportunity

DECLINING = "dashboard_performance"
EMERGING_ENTERPRISE = "eu_data_residency"
EMERGING_SMB = "shopify_integration"
NOISY_THEME = "bulk_edit"
STEADY = tuple(t.key for t in THEMES if t.key not in (DECLINING, EMERGING_ENTERPRISE,
                                                       EMERGING_SMB))

# Connector format names (ingest.connectors) and what their source ids look like.
FMT_SF_NOTES, FMT_HS_NOTES = "salesforce-notes-csv", "hubspot-notes-json"
FMT_ZENDESK, FMT_INTERCOM = "zendesk-tickets-json", "intercom-conversations-json"
FMT_CANNY, FMT_GONG = "canny-posts-json", "gong-calls-json"
ID_PREFIX = {FMT_SF_NOTES: "sfdc", FMT_HS_NOTES: "hubspot", FMT_ZENDESK: "zendesk",
             FMT_INTERCOM: "intercom", FMT_CANNY: "canny", FMT_GONG: "gong"}

SOURCE_MIX = (("support_tickets", 0.42), ("crm_notes", 0.25), ("ideas", 0.15),
              ("sales_calls", 0.18))
_ENT_MIX = (("crm_notes", 0.35), ("sales_calls", 0.30), ("support_tickets", 0.25), ("ideas", 0.10))
_SMB_MIX = (("ideas", 0.35), ("support_tickets", 0.45), ("crm_notes", 0.10), ("sales_calls", 0.10))
_ENTERPRISE_LEANING = {"sso_saml", "audit_log", "rbac_permissions", "api_rate_limits",
                       "salesforce_integration", "gdpr_deletion", "two_factor", "webhooks"}
_SMB_LEANING = {"pricing", "billing_invoices", "onboarding", "dark_mode", "mobile_app",
                "hubspot_integration"}
_HOUR_BASE = {"NA": 14, "EMEA": 7, "APAC": 0, "LATAM": 12}
_DAY_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 0.9, 0.15, 0.1)


@dataclass(frozen=True)
class _Plan:
    source: str
    theme: str
    account: Account | None
    when: datetime
    role: str


class _Drawer:
    """Seeded draws shared by the planners: accounts, themes, sources, moments."""

    def __init__(self, rng: random.Random, accounts: list[Account], start: datetime,
                 end: datetime) -> None:
        self.rng, self.accounts, self.start, self.end = rng, accounts, start, end
        factor = {"enterprise": 4.0, "mid_market": 2.0, "smb": 1.0}
        self._acc_cum = list(itertools.accumulate(
            factor[a.segment] * rng.lognormvariate(0, 0.6) for a in accounts))
        order = list(STEADY)
        rng.shuffle(order)
        popularity = {k: 1 / (i + 1) ** 0.5 for i, k in enumerate(order)}
        # The noisy account's request is rare elsewhere, so its spam dominates the theme.
        popularity[NOISY_THEME] = 0.3 * min(popularity.values())
        self.steady_weights = popularity
        self._theme_cum = {seg: list(itertools.accumulate(
            popularity[k] * _lean(k, seg) for k in STEADY)) for seg in ("enterprise",
                                                                        "mid_market", "smb")}

    def account(self, exclude: frozenset[str] = frozenset()) -> Account:
        while True:
            acc = self.rng.choices(self.accounts, cum_weights=self._acc_cum)[0]
            if acc.account_id not in exclude:
                return acc

    def steady_theme(self, segment: str) -> str:
        return self.rng.choices(STEADY, cum_weights=self._theme_cum[segment])[0]

    def source(self, mix: tuple[tuple[str, float], ...] = SOURCE_MIX) -> str:
        return self.rng.choices([s for s, _ in mix], [w for _, w in mix])[0]

    def moment(self, week: int, region: str) -> datetime:
        rng = self.rng
        day = rng.choices(range(7), _DAY_WEIGHTS)[0]
        hour = _HOUR_BASE[region] + rng.randrange(10)
        t = self.start + timedelta(weeks=week, days=day, hours=hour,
                                   minutes=rng.randrange(60), seconds=rng.randrange(60))
        return min(t, self.end - timedelta(seconds=1))


def _lean(theme: str, segment: str) -> float:
    if theme in _ENTERPRISE_LEANING:
        return {"enterprise": 2.0, "mid_market": 1.2, "smb": 0.5}[segment]
    if theme in _SMB_LEANING:
        return {"enterprise": 0.5, "mid_market": 1.0, "smb": 2.0}[segment]
    return 1.0


# ---------------------------------------------------------------------------- the plan


def _surge_weeks(weeks: int) -> int:
    return 3 if weeks >= 9 else 2


def _counts(n: int) -> dict[str, int]:
    return {
        "noise": round(0.05 * n),
        "emerging_enterprise": max(36, round(0.012 * n)),
        "emerging_smb": max(45, round(0.014 * n)),
        "early": 3 + n // 5000,  # per emerging theme, before the surge
        "noisy_account": min(max(150, round(0.008 * n)), n // 10),
        "declining": max(60, round(0.04 * n)),
    }


def _pick_planted(rng: random.Random, accounts: list[Account]) -> tuple[list[Account],
                                                                         list[Account], Account]:
    ent = sorted((a for a in accounts if a.segment == "enterprise"), key=lambda a: -a.arr)
    n_ent = 5 if len(ent) >= 20 else 4
    top = ent[: max(n_ent, len(ent) // 2)]  # high-ARR accounts, EU-based ones first
    emea_top = [a for a in top if a.region == "EMEA"]
    chosen = emea_top[:n_ent]
    chosen += [a for a in top if a not in emea_top][: n_ent - len(chosen)]
    smb = [a for a in accounts if a.segment == "smb"]
    n_smb = min(len(smb), max(12, round(len(smb) * 0.4)))
    smb_chosen = rng.sample(smb, n_smb)
    mids = [a for a in accounts if a.segment == "mid_market" and a.region == "NA"] or \
        [a for a in accounts if a.segment == "mid_market"]
    noisy = rng.choice(mids)
    return chosen, smb_chosen, noisy


def _plan(d: _Drawer, weeks: int, n: int, ent: list[Account], smb: list[Account],
          noisy: Account) -> list[_Plan]:
    rng, counts = d.rng, _counts(n)
    surge = _surge_weeks(weeks)
    surge_w = (0.2, 0.35, 0.45) if surge == 3 else (0.4, 0.6)
    late = list(range(weeks - surge, weeks))
    planted_ids = frozenset(a.account_id for a in (*ent, *smb, noisy))
    plans: list[_Plan] = []

    def add(source: str, theme: str, acc: Account | None, week: int, role: str) -> None:
        region = acc.region if acc else "NA"
        plans.append(_Plan(source, theme, acc, d.moment(week, region), role))

    for i in range(counts["emerging_enterprise"]):
        acc = ent[i % len(ent)] if i < 3 * len(ent) else rng.choice(ent)
        add(d.source(_ENT_MIX), EMERGING_ENTERPRISE, acc, rng.choices(late, surge_w)[0],
            "emerging_enterprise")
    for i in range(counts["emerging_smb"]):
        acc = smb[i] if i < len(smb) else rng.choice(smb)
        add(d.source(_SMB_MIX), EMERGING_SMB, acc, rng.choices(late, surge_w)[0], "emerging_smb")
    for theme in (EMERGING_ENTERPRISE, EMERGING_SMB):
        for _ in range(counts["early"]):
            add(d.source(), theme, d.account(planted_ids), rng.randrange(weeks - surge - 1),
                "early")
    for _ in range(counts["noisy_account"]):
        add("support_tickets", NOISY_THEME, noisy, rng.randrange(weeks), "noisy_account")
    decay = [math.exp(-w / (weeks / 4)) for w in range(weeks)]
    for _ in range(counts["declining"]):
        add(d.source(), DECLINING, d.account(), rng.choices(range(weeks), decay)[0], "declining")
    for _ in range(counts["noise"]):
        add(d.source(), NOISE, d.account(), rng.randrange(weeks), "noise")
    for _ in range(n - len(plans)):
        source = d.source()
        prospect = source in ("support_tickets", "ideas") and rng.random() < 0.02
        acc = None if prospect else d.account()
        theme = d.steady_theme(acc.segment if acc else "smb")
        add(source, theme, acc, rng.randrange(weeks), "steady")
    plans.sort(key=lambda p: p.when)
    return plans


# ---------------------------------------------------------------------------- records


class _Writer:
    """Turns plans into Feedback records, handing out vendor ids in time order."""

    def __init__(self, rng: random.Random, agents: list[Person],
                 opps_by_account: dict[str, list[Opportunity]], end: datetime) -> None:
        self.rng, self.agents, self.opps, self.end = rng, agents, opps_by_account, end
        self.zendesk = ids.Sequence(rng, 48_210 + rng.randrange(500), max_gap=4)
        self.intercom = ids.Sequence(rng, 215_000_000_000 + rng.randrange(10**6), max_gap=40)
        self.hs_notes = ids.Sequence(rng, 61_230_000_000 + rng.randrange(10**6), max_gap=5000)
        self.sf_counter = itertools.count(1)
        self.zd_users: dict[str, int] = {}
        self.noisy_contact: dict[str, Person] = {}

    def record(self, p: _Plan, steady_pick: _Drawer) -> Feedback:
        rng, acc = self.rng, p.account
        if acc is None:
            contact = person(rng, rng.choice(("gmail.com", "outlook.com", "proton.me")), "NA")
        elif p.role == "noisy_account":
            contact = self.noisy_contact.setdefault(acc.account_id, acc.contacts[0]) \
                if rng.random() < 0.85 else acc.contacts[1]
        else:
            contact = rng.choice(acc.contacts)
        agent = rng.choice(self.agents)
        rep = acc.owner if acc else agent
        voice = Voice(acc.name if acc else "", acc.domain if acc else "", contact, rep, agent)
        themes: tuple[str, ...] = (p.theme,)
        segment = acc.segment if acc else "smb"
        if p.source == "support_tickets":
            return self._ticket(p, voice, themes)
        if p.source == "crm_notes":
            also = None
            if p.theme != NOISE and rng.random() < 0.15:
                also = _other(steady_pick, segment, p.theme)
                themes = (p.theme, also)
            note = note_text(rng, p.theme, voice, also)
            return self._finish(p, self._note_fmt(acc), note, themes, voice, rep,
                                opp=self._opp(acc, p.when, 0.25))
        if p.source == "ideas":
            votes = 1 + min(int(rng.paretovariate(1.3)) - 1, 250)
            extra = {"status": rng.choice(("open", "open", "under review", "planned",
                                           "in progress")),
                     "board": "Integrations" if "integration" in p.theme else "Feature Requests",
                     "comments": rng.randrange(0, 6)}
            return self._finish(p, FMT_CANNY, idea_text(rng, p.theme, voice), themes, voice,
                                contact, votes=votes, extra=extra)
        if p.theme != NOISE:
            for _ in range(rng.choice((1, 1, 2))):
                themes = (*themes, _other(steady_pick, segment, *themes))
        call = call_text(rng, list(themes), voice, transcript=rng.random() < 0.4)
        extra = {"duration": rng.randrange(900, 3600), "direction": "Conference",
                 "scope": "External", "system": "Zoom"}
        return self._finish(p, FMT_GONG, call, themes, voice, rep,
                            opp=self._opp(acc, p.when, 0.85), extra=extra)

    def _ticket(self, p: _Plan, voice: Voice, themes: tuple[str, ...]) -> Feedback:
        rng, acc = self.rng, p.account
        intercom = p.role != "noisy_account" and (
            rng.random() < (0.7 if acc is None or acc.segment == "smb" else 0.2))
        when_text = (p.when - timedelta(days=1)).strftime("%a, %b %d, %Y at %I:%M %p")
        if intercom:
            content = chat_text(rng, p.theme, voice)
            extra = {"state": rng.choice(("open", "closed", "closed", "snoozed")),
                     "delivered_as": "customer_initiated"}
            return self._finish(p, FMT_INTERCOM, content, themes, voice, voice.agent, extra=extra)
        content = ticket_text(rng, p.theme, voice, when_text)
        age_days = (self.end - p.when).days
        extra = {
            "status": rng.choice(("solved", "closed")) if age_days > 14
            else rng.choice(("new", "open", "pending", "solved")),
            "priority": rng.choice(("low", "normal", "normal", "normal", "high", "urgent")),
            "type": "question" if p.theme == NOISE else rng.choice(("question", "task", "problem")),
            "channel": rng.choice(("email", "email", "web", "api")),
            "plan": acc.segment if acc else None,
            "tags": sorted({"feature_request" if p.theme != NOISE else "misc",
                            f"plan_{(acc.plan if acc else 'trial').lower()}"}),
        }
        return self._finish(p, FMT_ZENDESK, content, themes, voice, voice.agent, extra=extra)

    def _note_fmt(self, acc: Account | None) -> str:
        return FMT_SF_NOTES if acc is not None and acc.crm == CRM_SALESFORCE else FMT_HS_NOTES

    def _opp(self, acc: Account | None, when: datetime, share: float) -> str | None:
        if acc is None or self.rng.random() >= share:
            return None
        opps = [o for o in self.opps.get(acc.account_id, ()) if o.created_at <= when]
        live = [o for o in opps if o.stage == "open" or o.close_date >= when.date()]
        pool = live or opps
        return self.rng.choice(pool).opportunity_id if pool else None

    def _vendor_id(self, fmt: str, when: datetime) -> str:
        if fmt == FMT_ZENDESK:
            return self.zendesk()
        if fmt == FMT_INTERCOM:
            return self.intercom()
        if fmt == FMT_HS_NOTES:
            return self.hs_notes()
        if fmt == FMT_SF_NOTES:
            prefix = ids.SF_CONTENT_NOTE if self.rng.random() < 0.3 else ids.SF_NOTE
            return ids.sfdc_id(prefix, next(self.sf_counter), self.rng)
        if fmt == FMT_CANNY:
            return ids.canny_id(when, self.rng)
        return ids.gong_call_id(self.rng)

    def _finish(self, p: _Plan, fmt: str, content: Any, themes: tuple[str, ...], voice: Voice,
                staff: Person, *, opp: str | None = None, votes: int | None = None,
                extra: dict[str, Any] | None = None) -> Feedback:
        vendor_id = self._vendor_id(fmt, p.when)
        updated = min(p.when + timedelta(minutes=self.rng.randrange(1, 60 * 48)),
                      self.end - timedelta(seconds=1))
        return Feedback(
            source=p.source, fmt=fmt, vendor_id=vendor_id,
            source_id=f"{ID_PREFIX[fmt]}:{vendor_id}",
            account_id=p.account.account_id if p.account else None,
            created_at=p.when, updated_at=updated, themes=themes, content=content,
            contact=voice.contact, staff=staff, company=voice.company or None,
            opportunity_id=opp, votes=votes, extra=dict(extra or {}, role=p.role),
        )


def _other(d: _Drawer, segment: str, *taken: str) -> str:
    """Another steady theme for a mixed-topic call or note."""
    while True:
        theme = d.steady_theme(segment)
        if theme not in taken:
            return theme


# ---------------------------------------------------------------------------- duplicates

_EDITS = load("texts.yaml")["reexports"]  # what changed in an edited re-export


def _reexports(rng: random.Random, records: list[Feedback], end: datetime) -> list[Feedback]:
    """~2% of records exported again under the same vendor id; about half edited since."""
    out: list[Feedback] = []
    for rec in rng.sample(records, round(len(records) * 0.02)):
        later = rec.updated_at + timedelta(days=rng.randrange(1, 10), minutes=rng.randrange(600))
        if rec.fmt == FMT_GONG or later >= end or rng.random() < 0.5:
            out.append(replace(rec, revision=1))
            continue
        c = rec.content
        if rec.fmt == FMT_ZENDESK:
            c = replace(c, subject=_EDITS["ticket_subject"].format(subject=c.subject))
            edited = replace(rec, content=c, extra={**rec.extra, "status": "solved"})
        elif rec.fmt == FMT_INTERCOM:
            follow = rng.choice(_EDITS["chat_followups"])
            edited = replace(rec, extra={**rec.extra, "followup": follow, "state": "open"})
        elif rec.fmt == FMT_CANNY:
            c = replace(c, details=f"{c.details}\n\n{_EDITS['idea_edit']}")
            edited = replace(rec, content=c, votes=(rec.votes or 0) + rng.randrange(1, 12))
        else:
            update = rng.choice(_EDITS["note_updates"])
            edited = replace(rec, content=replace(c, body=f"{c.body} {update}"))
        out.append(replace(edited, updated_at=later, revision=1))
    out.sort(key=lambda r: (r.updated_at, r.source_id))
    return out


# ---------------------------------------------------------------------------- entry point


def build_feedback(
    rng: random.Random, accounts: list[Account], opportunities: list[Opportunity],
    agents: list[Person], start: datetime, end: datetime, weeks: int, n: int,
) -> tuple[dict[str, list[Feedback]], list[Feedback], dict[str, Any], list[Opportunity]]:
    drawer = _Drawer(rng, accounts, start, end)
    ent, smb, noisy = _pick_planted(rng, accounts)
    extra_opps = _eu_deals(rng, ent, start, end, weeks)
    by_account: dict[str, list[Opportunity]] = {}
    for o in (*opportunities, *extra_opps):
        by_account.setdefault(o.account_id, []).append(o)
    writer = _Writer(rng, agents, by_account, end)
    plans = _plan(drawer, weeks, n, ent, smb, noisy)
    records = [writer.record(p, drawer) for p in plans]
    feedback: dict[str, list[Feedback]] = {s: [] for s, _ in SOURCE_MIX}
    for rec in records:
        feedback[rec.source].append(rec)
    reexports = _reexports(rng, records, end)
    planted = _planted(records, start, weeks, ent, smb, noisy, extra_opps, drawer)
    return feedback, reexports, planted, extra_opps


def _eu_deals(rng: random.Random, ent: list[Account], start: datetime, end: datetime,
              weeks: int) -> list[Opportunity]:
    """Each emerging-theme enterprise account has an open expansion deal waiting on it."""
    out = []
    surge_start = start + timedelta(weeks=weeks - _surge_weeks(weeks))
    hs = ids.Sequence(rng, 9_990_000_000 + rng.randrange(10**6), max_gap=700)
    for i, acc in enumerate(ent):
        created = surge_start - timedelta(days=rng.randrange(7, 30), hours=rng.randrange(24))
        opp_id = ids.sfdc_id(ids.SF_OPPORTUNITY, 90_000 + i, rng) \
            if acc.crm == CRM_SALESFORCE else hs()
        out.append(Opportunity(
            opportunity_id=opp_id, account_id=acc.account_id, crm=acc.crm,
            name=f"{acc.name} - EU rollout", kind="Expansion",
            amount=round(acc.arr * rng.uniform(0.3, 0.6), -3), stage="open",
            close_date=end.date() + timedelta(days=rng.randrange(30, 90)), loss_reason=None,
            created_at=created.replace(microsecond=0),
            updated_at=(end - timedelta(days=rng.randrange(1, 5))).replace(microsecond=0),
            owner=acc.owner,
        ))
    return out


def _weekly(records: list[Feedback], start: datetime, weeks: int, theme: str,
            account_ids: set[str] | None = None) -> list[int]:
    out = [0] * weeks
    for r in records:
        if theme in r.themes and (account_ids is None or r.account_id in account_ids):
            out[int((r.created_at - start) / timedelta(weeks=1))] += 1
    return out


def _planted(records: list[Feedback], start: datetime, weeks: int, ent: list[Account],
             smb: list[Account], noisy: Account, eu_deals: list[Opportunity],
             drawer: _Drawer) -> dict[str, Any]:
    surge = _surge_weeks(weeks)
    surge_start = start + timedelta(weeks=weeks - surge)

    def theme_info(key: str, accounts: list[Account] | None = None) -> dict[str, Any]:
        info: dict[str, Any] = {"theme": key, "label": THEME_BY_KEY[key].label,
                                "weekly_mentions": _weekly(records, start, weeks, key)}
        if accounts is not None:
            ids_ = {a.account_id for a in accounts}
            info.update(
                accounts=[a.account_id for a in accounts],
                account_names=[a.name for a in accounts],
                arr=sum(a.arr for a in accounts),
                surge_start=surge_start.isoformat(), surge_weeks=surge,
                weekly_mentions_by_these_accounts=_weekly(records, start, weeks, key, ids_),
                early_mentions=sum(1 for r in records
                                   if key in r.themes and r.created_at < surge_start),
            )
        return info

    ent_info = theme_info(EMERGING_ENTERPRISE, ent)
    ent_info["open_pipeline"] = sum(o.amount for o in eu_deals)
    ent_info["opportunities"] = [o.opportunity_id for o in eu_deals]
    noisy_records = [r for r in records if r.account_id == noisy.account_id
                     and r.extra.get("role") == "noisy_account"]
    by_theme = Counter(t for r in records for t in r.themes)
    steady_sorted = sorted(STEADY, key=lambda k: -drawer.steady_weights[k])
    return {
        "window": {"start": start.isoformat(), "weeks": weeks,
                   "end": (start + timedelta(weeks=weeks)).isoformat()},
        "themes": {t.key: t.label for t in THEMES},
        "steady": [theme_info(k) for k in steady_sorted],
        "declining": theme_info(DECLINING),
        "emerging_enterprise": ent_info,
        "emerging_smb": theme_info(EMERGING_SMB, smb),
        "noisy_account": {
            "theme": NOISY_THEME, "label": THEME_BY_KEY[NOISY_THEME].label,
            "account_id": noisy.account_id, "name": noisy.name, "segment": noisy.segment,
            "records": len(noisy_records),
            "weekly_records": _weekly(noisy_records, start, weeks, NOISY_THEME),
            "theme_mentions_total": by_theme[NOISY_THEME],
        },
        "noise_records": by_theme[NOISE],
        "mentions_by_theme": dict(sorted(by_theme.items())),
    }
