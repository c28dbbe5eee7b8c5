"""The FastAPI app: pages (app.pages), CSV export, login, and the curation and decision forms.

Every GET page is a shareable URL (its filters are the query string) and answers CSV with
`format=csv`. Every change is a POST form with a CSRF token, allowed to editors only, and
calls the same function as the CLI command with the signed-in e-mail as `by`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import psycopg
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from app import pages, users
from app.lookups import active_themes
from app.render import FILTERS, bar_chart
from app.security import (
    CSRF_COOKIE,
    HEADERS,
    SESSION_COOKIE,
    AppSettings,
    LoginLimiter,
    csrf_ok,
    csrf_token,
    csv_cell,
    local_path,
    secure,
)
from foundation.config import Settings, get_settings
from foundation.db import connection
from foundation.errors import TrendmineError

HERE = Path(__file__).parent
# what a finished change says on the page it lands on (a fixed text per key: nothing of the
# request is echoed)
DONE = {"renamed": "Renamed.", "merged": "Merged; trend tables rebuilt.",
        "split": "Split; this is one of the new sub-themes; trend tables rebuilt.",
        "hidden": "Hidden from the lists; trend tables rebuilt.",
        "moved": "Moved; trend tables rebuilt.", "decided": "Decision recorded.",
        "seeded": "Seed saved; the next full mining run fills it (`trendmine mine`).",
        "pending": "Decision recorded; the requesters are told on the next `trendmine "
                   "loop-publish` (the broker did not answer)."}
MAX_FORM_BYTES = 64 * 1024


class LoginRequired(Exception):
    """No signed-in user (no session, or no proxy header)."""


class Forbidden(Exception):
    """Signed in, but not allowed to do this (a viewer's change, a failed CSRF check)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class TooManyLogins(Exception):
    def __init__(self, wait_s: int) -> None:
        super().__init__(wait_s)
        self.wait_s = wait_s


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(FILTERS)
    env.globals["bar_chart"] = bar_chart
    return env


def create_app(settings: Settings | None = None, app_settings: AppSettings | None = None
               ) -> FastAPI:
    """The web app over the configured database (TRENDMINE_* and TRENDMINE_APP_*)."""
    settings = settings or get_settings()
    conf = app_settings or AppSettings()
    env = _environment()
    limiter = LoginLimiter(conf.login_attempts, conf.login_window_s)
    app = FastAPI(title="trendmine", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def guard_headers(request: Request, call_next: Callable) -> Response:
        response = await call_next(request)
        response.headers.update(HEADERS)
        new = getattr(request.state, "new_csrf", None)
        if new:
            response.set_cookie(CSRF_COOKIE, new, httponly=True, samesite="strict",
                                secure=secure(request, conf), path="/")
        return response

    def db() -> Iterator[psycopg.Connection]:
        with connection(settings, autocommit=True) as conn:
            yield conn

    def user(request: Request, conn: psycopg.Connection = Depends(db)) -> users.User:
        if conf.trusted_header:
            email = (request.headers.get(conf.trusted_header) or "").strip().lower()
            if not email:
                raise LoginRequired
            # known users have their role; anyone else the proxy let in may read
            return users.User(email, users.role_of(conn, email) or "viewer")
        found = users.session_user(conn, request.cookies.get(SESSION_COOKIE))
        if found is None:
            raise LoginRequired
        return found

    async def form(request: Request) -> dict[str, str]:
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            raise TrendmineError("the form is too large", "send less text")
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))

    def editor(request: Request, who: users.User = Depends(user),
               fields: dict[str, str] = Depends(form)) -> users.User:
        if not who.can_edit:
            raise Forbidden(f"{who.email} is a viewer: only editors may change themes")
        if not csrf_ok(request, fields):
            raise Forbidden("the form's security token did not match: reload the page and "
                            "try again")
        return who

    def show(request: Request, template: str, who: users.User | None, **ctx: Any
             ) -> HTMLResponse:
        html = env.get_template(template).render(
            request=request, user=who, csrf=csrf_token(request),
            csv_url=_with_query(request, format="csv"), done=DONE.get(
                request.query_params.get("done", "")), trusted=bool(conf.trusted_header), **ctx)
        return HTMLResponse(html, status_code=ctx.get("status", 200))

    def page(template: str, build: Callable[..., pages.Page], name: str) -> Callable:
        def handler(request: Request, who: users.User = Depends(user),
                    conn: psycopg.Connection = Depends(db)) -> Response:
            result = build(conn, settings, dict(request.query_params))
            if request.query_params.get("format") == "csv":
                return _csv(result, name)
            return show(request, template, who, nav=name, **result.context)
        return handler

    for path, template, build in (("/themes", "themes.html", pages.themes),
                                  ("/emerging", "emerging.html", pages.emerging),
                                  ("/similar", "similar.html", pages.similar),
                                  ("/deals", "deals.html", pages.deals),
                                  ("/winloss", "winloss.html", pages.winloss),
                                  ("/fit", "fit.html", pages.fit)):
        app.get(path, response_class=HTMLResponse)(page(template, build, path.strip("/")))

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/themes", status_code=303)

    @app.get("/themes/{theme_id}", response_class=HTMLResponse)
    def theme(theme_id: int, request: Request, who: users.User = Depends(user),
              conn: psycopg.Connection = Depends(db)) -> Response:
        result = pages.theme(conn, settings, theme_id, dict(request.query_params))
        if request.query_params.get("format") == "csv":
            return _csv(result, f"theme-{theme_id}-accounts")
        parents = [t for t in active_themes(conn) if t["level"] == "parent"] \
            if who.can_edit else []
        return show(request, "theme.html", who, nav="themes", parents=parents,
                    **result.context)

    _curation_routes(app, settings, editor, form, db)

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/themes") -> HTMLResponse:
        return show(request, "login.html", None, next=local_path(next), error=None)

    @app.post("/login")
    def login(request: Request, fields: dict[str, str] = Depends(form),
              conn: psycopg.Connection = Depends(db)) -> Response:
        target = local_path(fields.get("next"))
        if conf.trusted_header:
            return RedirectResponse(target, status_code=303)
        if not csrf_ok(request, fields):
            raise Forbidden("the form's security token did not match: reload the page and "
                            "try again")
        email = (fields.get("email") or "").strip().lower()
        keys = [f"ip:{request.client.host if request.client else '-'}", f"email:{email}"]
        wait = limiter.retry_after(keys)
        if wait:
            raise TooManyLogins(wait)
        found = users.authenticate(conn, email, fields.get("password") or "")
        if found is None:
            limiter.failed(keys)
            return show(request, "login.html", None, next=target, status=401,
                        error="E-mail or password is wrong.")
        limiter.succeeded(keys[1])
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(SESSION_COOKIE, users.open_session(conn, found), httponly=True,
                            samesite="lax", secure=secure(request, conf), path="/",
                            max_age=users.SESSION_HOURS * 3600)
        return response

    @app.post("/logout")
    def logout(request: Request, fields: dict[str, str] = Depends(form),
               conn: psycopg.Connection = Depends(db)) -> Response:
        if not csrf_ok(request, fields):
            raise Forbidden("the form's security token did not match: reload the page")
        users.close_session(conn, request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    _error_handlers(app, show)
    return app


def _curation_routes(app: FastAPI, settings: Settings, editor: Callable, form: Callable,
                     db: Callable) -> None:
    """rename, merge, split, hide, move, status and seed: the CLI's functions, `by` the
    signed-in e-mail (trendmine/cli_curate.py, cli_sales.py theme_status, cli_taxonomy.py)."""
    from warehouse import curation, taxonomy
    from warehouse.loop import decide, publish_pending
    from warehouse.trends import rebuild_trends

    def back(theme_id: int, done: str) -> RedirectResponse:
        return RedirectResponse(f"/themes/{theme_id}?done={done}", status_code=303)

    d = {"who": Depends(editor), "fields": Depends(form), "conn": Depends(db)}

    @app.post("/themes/{theme_id}/rename")
    def rename(theme_id: int, who: users.User = d["who"], fields: dict = d["fields"],
               conn: psycopg.Connection = d["conn"]) -> Response:
        curation.rename(conn, theme_id, fields.get("label") or "", who.email)
        return back(theme_id, "renamed")

    @app.post("/themes/{theme_id}/hide")
    def hide(theme_id: int, who: users.User = d["who"],
             conn: psycopg.Connection = d["conn"]) -> Response:
        curation.hide(conn, theme_id, who.email)
        rebuild_trends(conn, settings)
        return back(theme_id, "hidden")

    @app.post("/themes/{theme_id}/merge")
    def merge(theme_id: int, who: users.User = d["who"], fields: dict = d["fields"],
              conn: psycopg.Connection = d["conn"]) -> Response:
        curation.merge(conn, theme_id, _ids(fields.get("others")), who.email)
        rebuild_trends(conn, settings)
        return back(theme_id, "merged")

    @app.post("/themes/{theme_id}/split")
    def split(theme_id: int, who: users.User = d["who"], fields: dict = d["fields"],
              conn: psycopg.Connection = d["conn"]) -> Response:
        parts = pages._int(fields.get("parts"), 2, 2, 10, "parts")
        subs = curation.split(conn, theme_id, parts, who.email)
        rebuild_trends(conn, settings)
        return back(subs[0].theme_id, "split")

    @app.post("/themes/{theme_id}/move")
    def move(theme_id: int, who: users.User = d["who"], fields: dict = d["fields"],
             conn: psycopg.Connection = d["conn"]) -> Response:
        parent = _ids(fields.get("parent"))
        if len(parent) != 1:
            raise TrendmineError("pick one parent theme", "choose it in the list")
        curation.move(conn, theme_id, parent[0], who.email)
        rebuild_trends(conn, settings)
        return back(theme_id, "moved")

    @app.post("/themes/{theme_id}/status")
    def status(theme_id: int, who: users.User = d["who"], fields: dict = d["fields"],
               conn: psycopg.Connection = d["conn"]) -> Response:
        decide(conn, settings, theme_id, fields.get("decision") or "",
               (fields.get("note") or "").strip() or None, who.email)
        try:
            publish_pending(conn, settings)
        except TrendmineError:  # recorded; the loop tells them later, as after the CLI
            return back(theme_id, "pending")
        return back(theme_id, "decided")

    @app.post("/seed")
    def seed(who: users.User = d["who"], fields: dict = d["fields"],
             conn: psycopg.Connection = d["conn"]) -> Response:
        examples = [x.strip() for x in (fields.get("examples") or "").splitlines() if x.strip()]
        name = " ".join((fields.get("name") or "").split())
        if not name or not examples:
            raise TrendmineError("a seed needs a name and at least one example",
                                 "write one request per line under examples")
        spec = taxonomy.SeedSpec(name, examples[:taxonomy.MAX_EXAMPLES],
                                 (fields.get("description") or "").strip() or None,
                                 (fields.get("parent") or "").strip() or None)
        taxonomy.import_seeds(conn, [spec], "web app", who.email, keep_others=True)
        return RedirectResponse("/themes?done=seeded", status_code=303)


def _ids(text: str | None) -> list[int]:
    """'12, 14 15' -> [12, 14, 15]."""
    parts = (text or "").replace(",", " ").split()
    if not all(p.isdigit() for p in parts):
        raise TrendmineError(f"{text!r} is not a list of theme ids", "e.g. 12, 14")
    return [int(p) for p in parts]


def _error_handlers(app: FastAPI, show: Callable) -> None:
    @app.exception_handler(LoginRequired)
    def login_required(request: Request, exc: LoginRequired) -> Response:
        if request.method == "GET" and request.query_params.get("format") != "csv":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
        return Response("sign in first (/login)\n", status_code=401,
                        media_type="text/plain", headers=HEADERS)

    @app.exception_handler(Forbidden)
    def forbidden(request: Request, exc: Forbidden) -> Response:
        return show(request, "error.html", None, status=403, message=exc.why, hint=None)

    @app.exception_handler(TooManyLogins)
    def too_many(request: Request, exc: TooManyLogins) -> Response:
        response = show(request, "login.html", None, next="/themes", status=429,
                        error=f"Too many failed logins: try again in {exc.wait_s // 60 + 1} "
                              "minutes.")
        response.headers["Retry-After"] = str(exc.wait_s)
        return response

    @app.exception_handler(TrendmineError)
    def user_error(request: Request, exc: TrendmineError) -> Response:
        status = 404 if exc.message.startswith("no theme") else 400
        return show(request, "error.html", None, status=status, message=exc.message,
                    hint=exc.hint)


def _with_query(request: Request, **changes: str) -> str:
    params = dict(request.query_params)
    params.update(changes)
    return f"{request.url.path}?{urlencode(params)}"


def _csv(result: pages.Page, name: str) -> Response:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=result.columns, extrasaction="ignore")
    w.writeheader()
    w.writerows({k: csv_cell(v) for k, v in r.items()} for r in result.records())
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
