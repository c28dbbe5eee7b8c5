"""A seeded B2B SaaS world: accounts (with history), opportunities, feedback per source,
planted trends (the ground truth) and a few deliberately bad records.

``generate_world`` is pure and deterministic: the same arguments give the same world, and
``writers.write_world`` turns it into the same bytes. Nothing here reads the clock: the
window ends at ``end`` (default ``DEFAULT_END``); pass ``end=`` to place it elsewhere.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from demoworld import ids
from demoworld.people import company_name, domain_of, person, staff
from demoworld.resources import load
from demoworld.texts import CallText, IdeaText, NoteText, Person, TicketText

DEFAULT_END = datetime(2025, 6, 2, tzinfo=UTC)  # a Monday, so weeks run Monday..Sunday

CRM_SALESFORCE, CRM_HUBSPOT = "salesforce", "hubspot"

# segment -> (share of accounts, ARR low, ARR high, employees low, employees high)
_SEGMENTS: dict[str, tuple[float, float, float, int, int]] = {
    "enterprise": (0.15, 150_000, 2_000_000, 1_000, 40_000),
    "mid_market": (0.35, 30_000, 200_000, 100, 999),
    "smb": (0.50, 2_000, 30_000, 5, 99),
}
_REGIONS = (("NA", 0.50), ("EMEA", 0.32), ("APAC", 0.13), ("LATAM", 0.05))
_COUNTRIES = {"NA": ("United States", "Canada"),
              "EMEA": ("Germany", "United Kingdom", "France", "Netherlands", "Sweden", "Spain"),
              "APAC": ("Australia", "Singapore", "Japan"), "LATAM": ("Brazil", "Mexico")}
_PLANS = {"enterprise": ("Enterprise",), "mid_market": ("Business", "Business", "Enterprise"),
          "smb": ("Starter", "Team", "Team", "Business")}
# Loss reasons as reps type them; the theme each one points at (None: not product-related).
LOSS_REASONS: tuple[tuple[str, str | None], ...] = tuple(
    (r["reason"], r["theme"]) for r in load("texts.yaml")["loss_reasons"])


@dataclass(frozen=True)
class Account:
    """One account snapshot; ``World.accounts`` holds the newest one per account."""

    account_id: str  # Salesforce 18-char id or HubSpot company id, whichever CRM owns it
    crm: str
    name: str
    domain: str
    segment: str
    arr: float
    icp_fit: float
    region: str
    country: str
    plan: str
    employees: int
    owner: Person
    contacts: tuple[Person, ...]
    customer_since: date
    updated_at: datetime


@dataclass(frozen=True)
class Opportunity:
    opportunity_id: str
    account_id: str
    crm: str
    name: str
    kind: str  # New Business / Expansion / Renewal
    amount: float
    stage: str  # open / won / lost
    close_date: date
    loss_reason: str | None
    created_at: datetime
    updated_at: datetime
    owner: Person


@dataclass(frozen=True)
class Feedback:
    """One feedback record as its vendor holds it, plus the ground truth (`themes`)."""

    source: str
    fmt: str  # the connector format it is written in
    vendor_id: str  # the id inside the vendor system
    source_id: str  # what the connector makes of it ("zendesk:48213")
    account_id: str | None
    created_at: datetime
    updated_at: datetime
    themes: tuple[str, ...]  # ground truth; ("noise",) for off-topic records
    content: TicketText | NoteText | IdeaText | CallText
    contact: Person | None  # the customer who spoke (None: unknown prospect)
    staff: Person  # rep / agent / call owner on our side
    company: str | None
    opportunity_id: str | None = None
    votes: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # status, tags, duration, ...
    revision: int = 0  # > 0: a re-export of an earlier record (a duplicate)


@dataclass(frozen=True)
class BadRecord:
    """A deliberately broken canonical JSON line for the dead-letter demo."""

    target: str
    line: bytes
    expected: str  # the rejection code it should get (ingest/validate.py)


@dataclass
class World:
    seed: int
    start: datetime
    end: datetime
    weeks: int
    accounts: list[Account]
    account_snapshots: list[Account]  # every snapshot, oldest first (history)
    opportunities: list[Opportunity]
    feedback: dict[str, list[Feedback]]  # per source, originals only, oldest first
    reexports: list[Feedback]  # duplicates: same vendor id exported again
    bad_records: list[BadRecord]
    planted: dict[str, Any]

    @property
    def expected_duplicates(self) -> int:
        return len(self.reexports)

    @property
    def expected_rejects(self) -> int:
        return len(self.bad_records)

    @property
    def n_feedback(self) -> int:
        return sum(len(v) for v in self.feedback.values())

    def week_of(self, when: datetime) -> int:
        return int((when - self.start) / timedelta(weeks=1))


def check_parameters(n_accounts: int, n_feedback: int, weeks: int) -> None:
    """ValueError for a world too small to tell the story (the one home of these bounds)."""
    if n_accounts < 40:
        raise ValueError(f"{n_accounts} accounts: the planted patterns need at least 40")
    if weeks < 6:
        raise ValueError(f"{weeks} weeks: emerging themes need at least 6 weeks of history")
    if n_feedback < 1000:
        raise ValueError(f"{n_feedback} feedback records: use at least 1000")


def generate_world(
    seed: int = 7,
    n_accounts: int = 240,
    n_feedback: int = 20000,
    weeks: int = 16,
    end: datetime | None = None,
) -> World:
    """Build the whole world from `seed`; see the module doc and ``planted`` for the story."""
    check_parameters(n_accounts, n_feedback, weeks)
    end = (end or DEFAULT_END).astimezone(UTC)
    start = end - timedelta(weeks=weeks)
    rng = random.Random(seed)
    reps = staff(rng, 12, "Account Executive")
    agents = staff(rng, 10, "Support Engineer")
    accounts = _accounts(rng, n_accounts, start, reps)
    snapshots, accounts = _history(rng, accounts, start, end)
    opportunities = _opportunities(rng, accounts, start, end)

    from demoworld.feedback import build_feedback  # the bulk of the work

    feedback, reexports, planted, extra_opps = build_feedback(
        rng, accounts, opportunities, agents, start, end, weeks, n_feedback
    )
    opportunities = sorted(opportunities + extra_opps,
                           key=lambda o: (o.created_at, o.opportunity_id))
    return World(seed, start, end, weeks, accounts, snapshots, opportunities, feedback,
                 reexports, _bad_records(start), planted)


# ---------------------------------------------------------------------------- accounts


def _lognormal_in(rng: random.Random, low: float, high: float) -> float:
    mu, sigma = (math.log(low) + math.log(high)) / 2, (math.log(high) - math.log(low)) / 4
    while True:
        value = rng.lognormvariate(mu, sigma)
        if low <= value <= high:
            return value


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([k for k, _ in weighted], [w for _, w in weighted])[0]


def _accounts(rng: random.Random, n: int, start: datetime, reps: list[Person]) -> list[Account]:
    n_ent = max(8, round(n * _SEGMENTS["enterprise"][0]))
    n_mid = round(n * _SEGMENTS["mid_market"][0])
    plan = ["enterprise"] * n_ent + ["mid_market"] * n_mid + ["smb"] * (n - n_ent - n_mid)
    rng.shuffle(plan)
    sf_counter = hs_counter = 0
    hs_ids = ids.Sequence(rng, 5_012_340_000 + rng.randrange(10**6), max_gap=4000)
    taken: set[str] = set()
    out: list[Account] = []
    for segment in plan:
        _, lo, hi, e_lo, e_hi = _SEGMENTS[segment]
        region = _pick(rng, _REGIONS)
        name = company_name(rng, region, taken)
        # SMB and part of mid-market are run from HubSpot; the rest from Salesforce.
        crm = CRM_HUBSPOT if segment == "smb" or (
            segment == "mid_market" and rng.random() < 0.35) else CRM_SALESFORCE
        if crm == CRM_SALESFORCE:
            sf_counter += 1
            account_id = ids.sfdc_id(ids.SF_ACCOUNT, sf_counter, rng)
        else:
            hs_counter += 1
            account_id = hs_ids()
        domain = domain_of(rng, name, region)
        n_contacts = {"enterprise": 6, "mid_market": 4, "smb": 2}[segment] + rng.randrange(3)
        arr = _lognormal_in(rng, lo, hi)
        out.append(Account(
            account_id=account_id, crm=crm, name=name, domain=domain, segment=segment,
            arr=round(arr, -2) if arr >= 10_000 else round(arr, -1),
            icp_fit=round(rng.betavariate(6 if segment == "enterprise" else 3, 2.5), 2),
            region=region, country=rng.choice(_COUNTRIES[region]),
            plan=rng.choice(_PLANS[segment]),
            employees=int(_lognormal_in(rng, e_lo, e_hi)),
            owner=rng.choice(reps),
            contacts=tuple(person(rng, domain, region) for _ in range(n_contacts)),
            customer_since=(start - timedelta(days=rng.randrange(60, 1400))).date(),
            updated_at=start - timedelta(days=rng.randrange(1, 40), minutes=rng.randrange(1440)),
        ))
    return out


def _history(
    rng: random.Random, accounts: list[Account], start: datetime, end: datetime
) -> tuple[list[Account], list[Account]]:
    """A few accounts change during the window (upsell, downsell, segment move)."""
    snapshots = list(accounts)
    latest: list[Account] = []
    span = (end - start).total_seconds()
    for acc in accounts:
        if rng.random() >= 0.08:
            latest.append(acc)
            continue
        when = start + timedelta(seconds=rng.uniform(0.2, 0.9) * span)
        factor = rng.choice((1.25, 1.4, 1.6, 0.8, 0.7))
        arr = round(acc.arr * factor, -2)
        segment = acc.segment
        if segment == "smb" and arr > 30_000:
            segment = "mid_market"
        elif segment == "mid_market" and arr > 200_000:
            segment = "enterprise"
        elif segment == "mid_market" and arr < 30_000:
            segment = "smb"
        plan = "Business" if segment != acc.segment and segment == "mid_market" else acc.plan
        changed = replace(acc, arr=arr, segment=segment, plan=plan,
                          updated_at=when.replace(microsecond=0))
        snapshots.append(changed)
        latest.append(changed)
    snapshots.sort(key=lambda a: (a.updated_at, a.account_id))
    return snapshots, latest


# ---------------------------------------------------------------------------- deals


def _opportunities(
    rng: random.Random, accounts: list[Account], start: datetime, end: datetime
) -> list[Opportunity]:
    out: list[Opportunity] = []
    sf_counter = 0
    hs_ids = ids.Sequence(rng, 9_870_000_000 + rng.randrange(10**6), max_gap=900)
    for acc in accounts:
        lo, hi = {"enterprise": (2, 5), "mid_market": (1, 3), "smb": (0, 2)}[acc.segment]
        for _ in range(rng.randint(lo, hi)):
            stage = _pick(rng, (("won", 0.4), ("lost", 0.25), ("open", 0.35)))
            kind = rng.choice(("Expansion", "Expansion", "Renewal", "New Business"))
            created = start - timedelta(days=rng.randrange(10, 120))
            created += timedelta(days=rng.randrange(0, (end - start).days))
            if stage == "open":
                close = end.date() + timedelta(days=rng.randrange(7, 150))
            else:
                close = min(created.date() + timedelta(days=rng.randrange(20, 120)),
                            end.date() - timedelta(days=1))
            updated = min(datetime.combine(close, datetime.min.time(), UTC), end) \
                if stage != "open" else end - timedelta(days=rng.randrange(1, 20))
            share = rng.uniform(0.8, 1.2) if kind == "Renewal" else rng.uniform(0.1, 0.6)
            amount = acc.arr * share
            if acc.crm == CRM_SALESFORCE:
                sf_counter += 1
                opp_id = ids.sfdc_id(ids.SF_OPPORTUNITY, sf_counter, rng)
            else:
                opp_id = hs_ids()
            out.append(Opportunity(
                opportunity_id=opp_id, account_id=acc.account_id, crm=acc.crm,
                name=f"{acc.name} - {kind} {close.year}", kind=kind,
                amount=round(amount, -2), stage=stage, close_date=close,
                loss_reason=rng.choice(LOSS_REASONS)[0] if stage == "lost" else None,
                created_at=created.replace(microsecond=0) + timedelta(hours=rng.randrange(8, 18)),
                updated_at=updated.replace(microsecond=0), owner=acc.owner,
            ))
    return out


# ---------------------------------------------------------------------------- bad records


def _bad_records(start: datetime) -> list[BadRecord]:
    """Canonical JSON lines an old import script might produce: clearly broken on purpose."""
    when = (start + timedelta(days=3, hours=10)).isoformat()

    def line(obj: dict[str, Any]) -> bytes:
        return json.dumps(obj, ensure_ascii=False).encode()

    return [
        BadRecord("support_tickets", line({"source": "support_tickets", "source_id": "legacy:0",
                                           "text": "Need SSO for the whole team",
                                           "created_at": when, "priority": "high"}),
                  "unknown_field"),
        BadRecord("support_tickets", b'{"source": "support_tickets", "source_id": "legacy:1", '
                  b'"text": "Export keeps failing for large', "malformed_json"),
        BadRecord("support_tickets", b"ticket 2,export broken,see attachment", "malformed_json"),
        BadRecord("support_tickets", line({"source": "support_tickets", "source_id": "legacy:3",
                                           "account_id": None, "created_at": when}),
                  "missing_field"),
        BadRecord("crm_notes", line({"source": "crm_notes", "source_id": "legacy:4",
                                     "text": "   ", "created_at": when}), "empty_text"),
        BadRecord("ideas", line({"source": "ideas", "source_id": "legacy:5",
                                 "text": "Please add a Gantt view",
                                 "created_at": "last Tuesday afternoon"}), "bad_timestamp"),
        BadRecord("sales_calls", line({"source": "sales_calls", "source_id": "legacy:6",
                                       "text": "Customer asked about SSO pricing.",
                                       "created_at": "2025-02-30T25:61:00Z"}), "bad_timestamp"),
    ]
