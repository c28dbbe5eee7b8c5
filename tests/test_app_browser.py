"""The web app in a real browser: `trendmine app serve` in a subprocess, Debian's Chromium
driven headless by Playwright. Signs in, filters, opens a theme, searches "who else asked",
renames a theme and reads the new name back through the CLI; feedback markup and a
`javascript:` link stay inert. Screenshots go to $TRENDMINE_APP_SCREENSHOTS when set
(docs/app to refresh the documentation's), else to the test's temporary folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from infra.embedded import free_port
from tests.test_app_world import EDITOR, HOSTILE_URL, build_world

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REPO = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt install "
                       "chromium; .ci/run installs it)"),
]


def _cli_env(settings) -> dict[str, str]:
    return {**os.environ, "TRENDMINE_DATABASE_URL": settings.dsn(),
            "TRENDMINE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "TRENDMINE_TOPIC_PREFIX": settings.topic_prefix}


@pytest.fixture
def server(settings, db):
    world = build_world(db, settings)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "trendmine", "app", "serve", "--port",
                             str(port)], env=_cli_env(settings), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.3)
        if proc.poll() is not None:
            pytest.fail(f"app serve exited: {proc.stdout.read()}")
    else:
        proc.terminate()
        pytest.fail("app serve did not answer within 60 s")
    yield base, world
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        b.close()


def _shots(tmp_path: Path) -> Path:
    where = Path(os.environ.get("TRENDMINE_APP_SCREENSHOTS") or tmp_path)
    where.mkdir(parents=True, exist_ok=True)
    return where


def test_a_pm_signs_in_filters_searches_and_renames(server, browser, settings, tmp_path):
    base, world = server
    shots = _shots(tmp_path)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))

    page.goto(f"{base}/themes?segment=smb")
    assert "/login" in page.url
    page.screenshot(path=str(shots / "login.png"))
    page.fill("input[name=email]", EDITOR[0])
    page.fill("input[name=password]", EDITOR[1])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/themes?segment=smb")  # back where the link pointed

    # filter: the query string is the shareable state
    page.select_option("select[name=segment]", "enterprise")
    page.select_option("select[name=rank_by]", "arr")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**segment=enterprise**")
    assert "rank_by=arr" in page.url
    assert page.locator("#themes tbody tr").count() == 1  # only Acme asks, for SSO
    page.goto(f"{base}/themes")
    assert page.locator("#themes tbody tr").count() == 3
    page.screenshot(path=str(shots / "themes.png"), full_page=True)

    # open a theme from the list
    page.click(f"#themes a[href^='/themes/{world.sso}?']")
    page.wait_for_selector("#theme-label")
    assert page.inner_text("#theme-label") == "Single sign-on with Okta"
    assert "Acme Corp" in page.inner_text("#accounts")
    page.screenshot(path=str(shots / "theme.png"), full_page=True)
    # markup in feedback is text, and a javascript: link is no link
    assert page.locator("main blockquote img").count() == 0
    assert "<img src=x" in page.inner_text("main")
    assert page.locator("a[href^='javascript:']").count() == 0
    assert HOSTILE_URL in page.inner_text("main")
    assert page.title() != "pwned"

    # rename in the browser; the CLI sees the new name
    page.fill("form[action$='/rename'] input[name=label]", "Okta single sign-on")
    page.click("form[action$='/rename'] button")
    page.wait_for_selector("p.done")
    assert page.inner_text("#theme-label") == "Okta single sign-on"
    out = subprocess.run([sys.executable, "-m", "trendmine", "theme", "show", str(world.sso)],
                         env={**_cli_env(settings), "COLUMNS": "160"}, cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Okta single sign-on" in out.stdout and f"by {EDITOR[0]}" in out.stdout

    # who else asked: the search box over `similar`
    page.goto(f"{base}/similar")
    page.fill("input[name=q]", "the field team needs offline mode and SSO login")
    page.click("form.search button")
    page.wait_for_selector("#answer", timeout=180_000)
    assert "q=the+field+team" in page.url
    assert "accounts asked" in page.inner_text("#answer")
    assert "Small Shop 0" in page.inner_text("main")
    page.screenshot(path=str(shots / "similar.png"), full_page=True)

    for name in ("emerging", "deals", "winloss", "fit"):
        page.goto(f"{base}/{name}")
        assert page.locator("h1").count() == 1
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    page.goto(f"{base}/deals?theme={world.sso}")
    assert "Acme Corp" in page.inner_text("#deals")
    assert not errors, errors
