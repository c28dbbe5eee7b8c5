"""One pass of everything outbound, in order (`trendmine alerts send`, the alerts deployment):

1. tracker events: linked Jira/Linear issues move their themes (notify.trackers),
2. the feedback.loop events of every decision (warehouse.loop: late requesters too),
3. the owners of the requesting accounts told, CRM write-back (notify.owners),
4. alerts: newly emerging themes, big deals citing a theme (notify.alerts).
A failing step does not stop the later ones; what failed is in the result, with why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from foundation.config import Settings
from foundation.errors import TrendmineError
from notify import alerts, owners, trackers
from schemas.names import THEME_LINKS_TABLE
from warehouse.loop import notify_new_requesters, publish_pending


@dataclass
class RunReport:
    trackers: trackers.Applied | None = None
    loop_events: int = 0
    owners: owners.OwnersReport | None = None
    alerts: alerts.SendReport | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        out = list(self.errors)
        out += self.owners.failed if self.owners else []
        out += self.alerts.failed if self.alerts else []
        return out

    def lines(self) -> list[str]:
        """What the run did, a line per step (the CLI prints them, the flow logs them)."""
        out = []
        if self.trackers is not None:
            t = self.trackers
            out.append(f"tracker events: {t.events} ({t.unlinked} about unlinked issues)")
            out += [f"  {m}" for m in t.moved] + [f"  skipped: {s}" for s in t.skipped]
        out.append(f"feedback.loop events published: {self.loop_events}")
        o = self.owners
        if o is not None:
            out.append(f"owners told: {o.sent} message(s); opted out {o.opted_out}, no owner "
                       f"{o.no_owner}, no channel {o.no_channel}"
                       + (f"; CRM notes written {o.crm_written}" if o.crm_written else ""))
        a = self.alerts
        if a is not None:
            held = f", {a.held} held for the weekly digest" if a.held else ""
            out.append(f"alerts: {a.found} new, {a.sent} sent{held}, {len(a.failed)} failed")
        return out


def run(conn: psycopg.Connection, settings: Settings, *, digest_now: bool = False) -> RunReport:
    report = RunReport()
    if conn.execute(f"SELECT EXISTS (SELECT 1 FROM {THEME_LINKS_TABLE})").fetchone()[0]:
        try:
            report.trackers = trackers.apply_pending(conn, settings)
        except TrendmineError as exc:
            report.errors.append(f"tracker events: {exc.message}")
    try:
        notify_new_requesters(conn)
        report.loop_events = publish_pending(conn, settings)
    except TrendmineError as exc:
        report.errors.append(f"feedback.loop: {exc.message}")
    report.owners = owners.tell(conn, settings)
    report.alerts = alerts.send(conn, settings, digest_now=digest_now)
    return report
