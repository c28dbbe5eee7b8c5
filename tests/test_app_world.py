"""A small world for the web app's tests (written straight into the tables, dated from now so
the default 90-day window holds it): three themes, accounts in three segments, an open deal,
and feedback whose text and link try to run script. No tests here: tests/test_app.py and
tests/test_app_browser.py build it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app import users
from tests.test_trends import World
from warehouse.trends import rebuild_trends

EDITOR = ("pm@example.com", "correct horse battery")
VIEWER = ("viewer@example.com", "viewer passphrase 1")
HOSTILE_TEXT = '<img src=x onerror="document.title=\'pwned\'"><b>bold</b> we need SSO'
HOSTILE_URL = "javascript:document.title='pwned'"
SAFE_URL = "https://support.example.com/tickets/42"
ISSUE_URL = "https://example.atlassian.net/browse/PROJ-7"


@dataclass
class AppWorld:
    sso: int
    export: int
    mobile: int


def build_world(db, settings) -> AppWorld:
    w = World(db)
    now = datetime.now(UTC).replace(microsecond=0)
    w.account("acme", "enterprise", 900_000, name="Acme Corp")
    w.account("cora", "mid_market", 80_000, name="Cora GmbH")
    for i in range(4):
        w.account(f"smb{i}", "smb", 9_000 + 1_000 * i, name=f"Small Shop {i}")
    w.opportunity("opp1", "acme", 250_000)
    sso = w.theme("Single sign-on with Okta")
    export = w.theme("CSV export of usage reports")
    mobile = w.theme("Offline mode in the mobile app")
    for week in range(8):
        at = now - timedelta(weeks=week, hours=3)
        w.feedback("acme", at, [sso], text=f"Acme needs Okta SSO before renewal, week {week}",
                   opportunity_id="opp1")
        w.feedback(f"smb{week % 4}", at, [export], text=f"Please let us export usage as CSV {week}")
    for i in range(4):
        w.feedback(f"smb{i}", now - timedelta(days=2 + i), [sso, mobile],
                   text=f"Our field team needs offline mode and SSO login {i}")
    hostile = w.feedback("cora", now - timedelta(days=1), [sso], text=HOSTILE_TEXT)
    db.execute("UPDATE trendmine.feedback SET url = %s WHERE feedback_id = %s",
               (HOSTILE_URL, hostile))
    safe = w.feedback("cora", now - timedelta(days=3), [export], text="Export to S3 please")
    db.execute("UPDATE trendmine.feedback SET url = %s WHERE feedback_id = %s", (SAFE_URL, safe))
    db.execute("UPDATE trendmine.feedback_snippet s SET text = f.text FROM trendmine.feedback f "
               "WHERE f.feedback_id = s.feedback_id")
    db.execute("INSERT INTO trendmine.theme_links (theme_id, tracker, issue_key, url, issue_state) "
               "VALUES (%s, 'jira', 'PROJ-7', %s, 'In Progress'), "
               "(%s, 'linear', 'ENG-9', %s, NULL)", (sso, ISSUE_URL, sso, HOSTILE_URL))
    rebuild_trends(db, settings)
    users.add_user(db, EDITOR[0], "editor", EDITOR[1])
    users.add_user(db, VIEWER[0], "viewer", VIEWER[1])
    return AppWorld(sso, export, mobile)
