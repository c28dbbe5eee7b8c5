"""The web app over HTTP (FastAPI's TestClient, the real Postgres): sign-in, sessions, CSRF,
viewers' 403, the same numbers as the CLI, CSV export, the audit trail of browser changes,
and feedback markup that renders inert."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from app import users
from app.security import AppSettings
from app.web import create_app
from mining.scoring import ScoreWeights
from tests.test_app_world import (
    EDITOR,
    HOSTILE_URL,
    ISSUE_URL,
    SAFE_URL,
    VIEWER,
    build_world,
)
from warehouse.queries import day_window, top_trends

PAGES = ["/themes", "/themes?level=parent", "/emerging", "/deals", "/winloss", "/fit",
         "/similar"]


@pytest.fixture
def world(db, settings):
    return build_world(db, settings)


def _client(settings, **conf) -> TestClient:
    return TestClient(create_app(settings, AppSettings(**conf)), follow_redirects=False)


def _csrf(client: TestClient, path: str = "/login") -> str:
    html = client.get(path).text
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def _login(client: TestClient, who: tuple[str, str]) -> None:
    token = _csrf(client)
    r = client.post("/login", data={"email": who[0], "password": who[1], "csrf": token,
                                    "next": "/themes"})
    assert r.status_code == 303, r.text


def test_pages_need_a_login(settings, world):
    c = _client(settings)
    r = c.get("/themes?segment=smb")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Fthemes%3Fsegment%3Dsmb"
    assert c.get("/themes?format=csv").status_code == 401
    assert c.post(f"/themes/{world.sso}/rename", data={"label": "x"}).status_code == 401
    login = c.get("/login")
    assert "default-src 'none'" in login.headers["content-security-policy"]
    assert 'name="email"' in login.text and 'name="password"' in login.text


def test_login_sets_a_safe_session_cookie_and_logout_ends_it(settings, world):
    c = _client(settings)
    token = _csrf(c)
    r = c.post("/login", data={"email": EDITOR[0].upper(), "password": EDITOR[1],
                               "csrf": token, "next": "//evil.example/x"})
    assert r.status_code == 303 and r.headers["location"] == "/themes"  # no open redirect
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("tm_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    assert c.get("/themes").status_code == 200
    c.post("/logout", data={"csrf": token})
    assert c.get("/themes").status_code == 303


def test_secure_cookies_when_configured(settings, world):
    c = _client(settings, secure_cookies=True)
    r = c.post("/login", data={"email": EDITOR[0], "password": EDITOR[1], "csrf": _csrf(c)})
    cookies = r.headers.get_list("set-cookie")
    assert all("Secure" in h for h in cookies) and cookies


def test_login_without_csrf_is_refused(settings, world):
    c = _client(settings)
    c.get("/login")
    r = c.post("/login", data={"email": EDITOR[0], "password": EDITOR[1], "csrf": "forged"})
    assert r.status_code == 403


def test_wrong_passwords_are_rate_limited(settings, world):
    c = _client(settings, login_attempts=3)
    token = _csrf(c)
    for _ in range(3):
        r = c.post("/login", data={"email": EDITOR[0], "password": "wrong", "csrf": token})
        assert r.status_code == 401 and "wrong" in r.text
    r = c.post("/login", data={"email": EDITOR[0], "password": EDITOR[1], "csrf": token})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0


def test_every_page_renders_with_a_csp_and_csv(settings, world):
    c = _client(settings)
    _login(c, VIEWER)
    for path in [*PAGES, f"/themes/{world.sso}"]:
        r = c.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        assert "default-src 'none'" in r.headers["content-security-policy"]
        assert r.headers["x-frame-options"] == "DENY"
        assert "<script" not in r.text
    for path in ["/themes", "/emerging", "/deals", "/winloss", "/fit", f"/themes/{world.sso}"]:
        r = c.get(path, params={"format": "csv"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert "attachment" in r.headers["content-disposition"]
    r = c.get("/themes", params={"segment": "nonsense"})
    assert r.status_code == 400 and "unknown --segment" in r.text
    assert c.get("/themes/999999").status_code == 404


def _csv_rows(text: str) -> dict[str, dict[str, str]]:
    return {r["theme_id"]: r for r in csv.DictReader(io.StringIO(text))}


def test_themes_match_the_cli_and_the_query_layer(settings, db, world):
    c = _client(settings)
    _login(c, VIEWER)
    params = {"since": "90d", "segment": "smb", "rank_by": "accounts", "period": "week"}
    web = _csv_rows(c.get("/themes", params={**params, "format": "csv"}).text)
    win = day_window("90d", "week", settings.timezone)
    rows = top_trends(db, win.since, "week", "smb", None, "accounts", 50,
                      weights=ScoreWeights.from_settings(settings), now=win.until,
                      tz=settings.timezone)
    assert list(web) == [str(r.theme_id) for r in rows] and len(rows) == 3
    env = {**os.environ, "TRENDMINE_DATABASE_URL": settings.dsn(),
           "TRENDMINE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap}
    out = subprocess.run([sys.executable, "-m", "trendmine", "trends", "--since", "90d",
                          "--segment", "smb", "--rank-by", "accounts", "--format", "csv"],
                         capture_output=True, text=True, env=env, timeout=120, check=True)
    cli = _csv_rows(out.stdout)
    assert list(cli) == list(web)
    for tid, row in cli.items():
        for col in ("value", "mentions", "accounts", "arr", "pipeline", "score", "growth",
                    "series"):
            assert web[tid][col] == row[col], (tid, col)
    assert web[str(world.sso)]["origin"] == "discovered"


def test_feedback_markup_and_javascript_links_render_inert(settings, world):
    c = _client(settings)
    _login(c, VIEWER)
    html = c.get(f"/themes/{world.sso}").text
    assert "&lt;img src=x onerror=" in html and "<img" not in html and "<b>bold" not in html
    assert 'href="javascript:' not in html and "javascript:document.title" in html  # as text
    assert HOSTILE_URL not in re.findall(r'href="([^"]+)"', html)
    links = re.search(r'<ul class="links" id="links">(.*?)</ul>', html, re.S).group(1)
    assert f'<a href="{ISSUE_URL}" rel="noopener noreferrer nofollow"' in links
    assert "ENG-9" in links and "javascript:" in links and links.count("<a ") == 1
    export = c.get(f"/themes/{world.export}").text
    assert f'href="{SAFE_URL}" rel="noopener noreferrer nofollow"' in export


def test_editor_renames_with_csrf_and_the_audit_names_them(settings, db, world):
    c = _client(settings)
    _login(c, EDITOR)
    path = f"/themes/{world.sso}/rename"
    assert c.post(path, data={"label": "SSO"}).status_code == 403  # no token
    assert c.post(path, data={"label": "SSO", "csrf": "forged"}).status_code == 403
    token = _csrf(c, f"/themes/{world.sso}")
    r = c.post(path, data={"label": "Okta SSO <for> everyone", "csrf": token},
               headers={"Origin": "https://evil.example"})
    assert r.status_code == 403  # a cross-site form, even with the cookie's token
    r = c.post(path, data={"label": "Okta SSO <for> everyone", "csrf": token})
    assert r.status_code == 303 and r.headers["location"] == f"/themes/{world.sso}?done=renamed"
    page = c.get(r.headers["location"]).text
    assert "Okta SSO &lt;for&gt; everyone" in page and "Renamed." in page
    assert db.execute("SELECT label FROM trendmine.themes WHERE theme_id = %s",
                      (world.sso,)).fetchone()[0] == "Okta SSO <for> everyone"
    assert db.execute("SELECT decided_by FROM trendmine.theme_curation WHERE theme_id = %s "
                      "AND action = 'rename'", (world.sso,)).fetchone()[0] == EDITOR[0]


def test_editor_decides_merges_hides_and_seeds(settings, db, world):
    c = _client(settings)
    _login(c, EDITOR)
    token = _csrf(c, f"/themes/{world.sso}")
    r = c.post(f"/themes/{world.sso}/status",
               data={"decision": "planned", "note": "Q3", "csrf": token})
    assert r.status_code == 303
    assert db.execute("SELECT decision, note, decided_by FROM trendmine.theme_decisions "
                      "WHERE theme_id = %s", (world.sso,)).fetchone() == ("planned", "Q3",
                                                                         EDITOR[0])
    page = c.get(f"/themes/{world.sso}").text
    assert "planned" in page and "Acme Corp" in page
    assert '<span class="badge decision">planned</span>' in c.get("/themes").text
    r = c.post(f"/themes/{world.sso}/merge", data={"others": str(world.mobile), "csrf": token})
    assert r.status_code == 303
    assert db.execute("SELECT status FROM trendmine.themes WHERE theme_id = %s",
                      (world.mobile,)).fetchone()[0] == "merged"
    assert c.post(f"/themes/{world.export}/hide", data={"csrf": token}).status_code == 303
    assert db.execute("SELECT visibility FROM trendmine.themes WHERE theme_id = %s",
                      (world.export,)).fetchone()[0] == "hidden"
    r = c.post("/seed", data={"name": "Audit log", "examples": "who changed this?\naudit trail",
                              "csrf": token})
    assert r.status_code == 303
    assert db.execute("SELECT updated_by FROM trendmine.taxonomy_seeds WHERE name = "
                      "'Audit log'").fetchone()[0] == EDITOR[0]
    r = c.post(f"/themes/{world.sso}/merge", data={"others": "abc", "csrf": token})
    assert r.status_code == 400 and "theme ids" in r.text


def test_viewers_get_403_on_every_change(settings, db, world):
    c = _client(settings)
    _login(c, VIEWER)
    token = _csrf(c, f"/themes/{world.sso}")
    assert "Curate and decide" not in c.get(f"/themes/{world.sso}").text
    for action, data in (("rename", {"label": "x"}), ("hide", {}), ("split", {"parts": "2"}),
                         ("merge", {"others": str(world.mobile)}), ("move", {"parent": "1"}),
                         ("status", {"decision": "shipped"})):
        r = c.post(f"/themes/{world.sso}/{action}", data={**data, "csrf": token})
        assert r.status_code == 403, action
    assert c.post("/seed", data={"name": "x", "examples": "y", "csrf": token}).status_code == 403
    assert db.execute("SELECT count(*) FROM trendmine.theme_curation").fetchone()[0] == 0


def test_trusted_proxy_header(settings, db, world):
    c = _client(settings, trusted_header="X-Forwarded-Email")
    assert c.get("/themes").status_code == 303
    editor = {"X-Forwarded-Email": EDITOR[0]}
    page = c.get(f"/themes/{world.sso}", headers=editor)
    assert page.status_code == 200 and "Sign out" not in page.text
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = c.post(f"/themes/{world.sso}/rename", data={"label": "Via proxy", "csrf": token},
               headers=editor)
    assert r.status_code == 303
    stranger = {"X-Forwarded-Email": "someone@example.com"}
    assert c.get(f"/themes/{world.sso}", headers=stranger).status_code == 200
    r = c.post(f"/themes/{world.sso}/rename", data={"label": "no", "csrf": token},
               headers=stranger)
    assert r.status_code == 403


def test_csv_cells_never_start_a_formula(settings, db, world):
    db.execute("UPDATE trendmine.themes SET label = '=HYPERLINK(\"http://x\")' "
               "WHERE theme_id = %s", (world.export,))
    c = _client(settings)
    _login(c, VIEWER)
    rows = _csv_rows(c.get("/themes", params={"format": "csv"}).text)
    assert rows[str(world.export)]["label"].startswith("'=HYPERLINK")


def test_user_add_reads_the_password_from_a_file(settings, db, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("a long enough passphrase\n")
    env = {**os.environ, "TRENDMINE_DATABASE_URL": settings.dsn(),
           "TRENDMINE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap}
    cmd = [sys.executable, "-m", "trendmine", "app", "user", "add", "New@Example.com",
           "--role", "editor", "--password-file", str(pw)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "added new@example.com as editor" in out.stdout
    stored = db.execute("SELECT role, password_hash FROM trendmine.app_users "
                        "WHERE email = 'new@example.com'").fetchone()
    assert stored[0] == "editor" and stored[1].startswith("$argon2id$")
    assert "passphrase" not in stored[1]
    assert users.authenticate(db, "new@example.com", "a long enough passphrase")
    pw.write_text("short")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 1 and "shorter than" in out.stderr


def test_who_else_asked_searches_and_exports(settings, world):
    c = _client(settings)
    _login(c, VIEWER)
    q = {"q": "the field team needs offline mode and SSO login"}
    page = c.get("/similar", params=q)
    assert page.status_code == 200 and "4 accounts asked" in page.text
    rows = list(csv.DictReader(io.StringIO(c.get("/similar", params={**q, "format": "csv"}
                                                 ).text)))
    assert sorted({r["account_name"] for r in rows}) == [f"Small Shop {i}" for i in range(4)]
    assert c.get("/similar").status_code == 200  # the empty search box
