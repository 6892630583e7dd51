"""The web console: server-rendered pages (Jinja2) over the journal, the catalogues, the sessions and the platforms.

Mounted by :func:`harness.server.app.create_app` inside the control gate (harness/control_gate.py), so it answers
exactly whom the control API answers. Every page shows only what the journal and the store hold: request and reply
as journaled (secrets already keyed hashes, harness.masking), never anything the journal does not keep.

Live journal: ``/console/events`` is a server-sent-event stream fed by the journal writers' fan-out
(:class:`harness.journal.JournalFeed`); a browser's ``EventSource`` reconnects with ``Last-Event-ID`` and is first
sent what it missed, from the journal itself.
"""

from __future__ import annotations

import asyncio
import collections
import json
import secrets
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from harness import __version__, faults
from harness.config import Settings
from harness.console import data, har, platform_pages, tryit
from harness.journal import Journal
from harness.platform import Platform
from harness.store import Store

HERE = Path(__file__).parent
FONTS = HERE.parent / "assets" / "fonts"
FONT_FILE = "HarnessCJK-Regular.woff2"
PREFIX = "/console"
PAGE_ROWS = 200
CATCH_UP_ROWS = 500
STREAM_SECONDS = 25.0  # a stream ends after this long and EventSource reconnects (Last-Event-ID): a server stops promptly
PING_SECONDS = 10.0
# On PostgreSQL other processes (serve --workers N, a second host) commit to the same journal, and the in-process feed
# hears only this process's commits: the stream also reads the journal this often, looking back this many ids (ids of
# concurrent transactions on several processes can commit out of order), and sends what it has not sent yet.
POLL_SECONDS = 1.0
POLL_LOOKBACK = 200
SENT_KEPT = 5000  # ids a stream remembers having sent (dedupe across the feed and the journal reads)
# A console POST must carry this header: a page of another site can make a browser POST a form to a loopback address
# (which the gate lets through), but cannot add a header to it without the console's consent (CORS preflight).
CSRF_HEADER = "x-harness-console"


def is_console_path(path: str) -> bool:
    return path == "/" or path == PREFIX or path.startswith(PREFIX + "/")


SWAGGER_FONT_CSS = (
    "<style>@font-face{font-family:HarnessCJK;src:url(" + FONT_FILE + ") format('woff2');font-display:swap}"
    ".swagger-ui,.swagger-ui *{font-family:sans-serif,HarnessCJK!important}"
    ".swagger-ui code,.swagger-ui pre,.swagger-ui textarea,.swagger-ui .microlight,.swagger-ui .model,.swagger-ui .prop-type"
    "{font-family:monospace,HarnessCJK!important}</style>"
).encode()


class ConsoleMount:
    """ASGI layer (inside the control gate): ``/`` and ``/console/…`` go to the console; Swagger UI pages
    (``/<platform>/ui/``, ``/_harness/ui/``) get the CJK @font-face, the font served beside them (so a platform's
    public Swagger UI needs nothing from the gated console); the rest goes on down untouched."""

    def __init__(self, app: ASGIApp, *, console: Console) -> None:
        self.app = app
        self.console = console.asgi

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if is_console_path(path):
                await self.console(scope, receive, send)
                return
            if path.endswith(SWAGGER_FONT_PATH):
                await FileResponse(FONTS / FONT_FILE, media_type="font/woff2", headers={"Cache-Control": "max-age=86400"})(
                    scope, receive, send
                )
                return
            if path.endswith(("/ui/", "/ui/index.html")):
                await self.app(scope, receive, _with_font(send))
                return
        await self.app(scope, receive, send)


SWAGGER_FONT_PATH = "/ui/" + FONT_FILE


def _with_font(send: Send) -> Send:
    """Inject :data:`SWAGGER_FONT_CSS` before ``</head>`` of an HTML reply (Swagger UI's index: about 1.5 KB)."""
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def sending(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = dict(message.get("headers") or [])
            if not headers.get(b"content-type", b"").startswith(b"text/html"):
                start["pass"] = True
                await send(message)
                return
            start.update(message)
            return
        if start.get("pass") or message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body"):
            return
        body = b"".join(chunks).replace(b"</head>", SWAGGER_FONT_CSS + b"</head>", 1)
        headers = [(k, v) for k, v in start.get("headers") or [] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return sending


def _filters(request: Request) -> dict[str, str]:
    q = request.query_params
    out = {k: q.get(k, "").strip() for k in ("platform", "vendor", "operation", "session", "verdict")}
    if out["verdict"] and out["verdict"] not in data.VERDICT_FILTERS:
        out["verdict"] = ""
    return {k: v for k, v in out.items() if v}


def _row(entry: dict[str, Any]) -> dict[str, Any]:
    """A journal entry in the shape of a feed summary (the journal row template takes either)."""
    if "failed" not in entry:
        entry = {**entry, "failed": [v for v in entry.get("verdicts") or [] if not v.get("held")]}
    return entry


class Console:
    def __init__(self, store: Store, journal: Journal, settings: Settings, platforms: list[Platform]) -> None:
        self.store = store
        self.journal = journal
        self.settings = settings
        self.platforms = {p.name: p for p in platforms}
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(HERE / "templates")),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(version=__version__, prefix=PREFIX, platform_names=list(self.platforms), profile=settings.profile)
        self.env.filters["pretty"] = data.pretty
        self.env.filters["json"] = lambda v: json.dumps(v, ensure_ascii=False, indent=2)
        self._reports: Path | None = None
        self._read_store = ReadStore(store)
        self.reader = Journal(self._read_store)  # type: ignore[arg-type]  # reads only: query, max_id
        self.try_it = tryit.TryIt(store, self.platforms)
        routes = [
            Route("/", self.journal_page),
            Route(PREFIX, self.journal_page),
            Route(PREFIX + "/", self.journal_page),
            Route(PREFIX + "/events", self.events),
            Route(PREFIX + "/exchange/{id:int}", self.exchange_page),
            Route(PREFIX + "/har", self.har_download),
            Route(PREFIX + "/vendors", self.vendors_page),
            Route(PREFIX + "/vendor/{platform}/{vendor}", self.vendor_page),
            Route(PREFIX + "/sessions", self.sessions_page),
            Route(PREFIX + "/session/{id}/report", self.session_report, methods=["GET"]),
            Route(PREFIX + "/platform/{name}", self.platform_page),
            Route(PREFIX + "/platform/dym/receipt", self.dym_receipt),
            Route(PREFIX + "/try", self.try_page, methods=["GET"]),
            Route(PREFIX + "/try", self.try_send, methods=["POST"]),
            Route(PREFIX + "/static/{name}", self.static),
        ]
        self.asgi = Starlette(routes=routes, exception_handlers={404: self._not_found, 405: self._not_allowed})

    # -- reading --------------------------------------------------------------------------------------------------
    async def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """A query that may scan the journal, on a connection of its own in a worker thread: a console page never
        holds the event loop (and the platforms it serves) for the length of a scan."""
        return await asyncio.to_thread(self._read_now, sql, params)

    def _read_now(self, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        return [dict(r) for r in self._read_store.query(sql, params)]

    async def entries(self, **query: Any) -> list[dict[str, Any]]:
        """:meth:`Journal.query` in a worker thread, on a connection of its own."""
        return await asyncio.to_thread(lambda: self.reader.query(**query))

    # -- rendering ------------------------------------------------------------------------------------------------
    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(**context)
        return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})

    async def _not_found(self, request: Request, exc: Exception) -> Response:
        return self.render("message.html", 404, title="Not found", message=f"The console has no page {request.url.path}.")

    async def _not_allowed(self, request: Request, exc: Exception) -> Response:
        message = f"{request.url.path} answers GET (the console's pages); {request.method} is not used here."
        return self.render("message.html", 405, title="Method not allowed", message=message)

    def _row_html(self, entry: dict[str, Any]) -> str:
        return str(self.env.get_template("_row.html").module.row(_row(entry)))  # type: ignore[attr-defined]

    # -- journal --------------------------------------------------------------------------------------------------
    async def journal_page(self, request: Request) -> Response:
        filters = _filters(request)
        entries = [_row(e) for e in await self.entries(**data.query_args(filters), limit=PAGE_ROWS)]
        names = [filters["platform"]] if filters.get("platform") in self.platforms else list(self.platforms)
        operations = sorted({o for n in names for o in data.operations(self.platforms[n])})
        vendors = sorted({r["vendor"] for r in await self.read("SELECT DISTINCT vendor FROM journal WHERE vendor IS NOT NULL")})
        return self.render(
            "journal.html",
            entries=entries,
            filters=filters,
            operations=operations,
            vendors=vendors,
            verdicts=list(data.VERDICT_FILTERS),
            newest=entries[0]["id"] if entries else await asyncio.to_thread(self.reader.max_id),
            stream=PREFIX + "/events?" + urlencode(filters),
        )

    async def events(self, request: Request) -> Response:
        filters = _filters(request)
        after_text = request.headers.get("last-event-id") or request.query_params.get("after") or ""
        after = int(after_text) if after_text.isascii() and after_text.isdigit() and len(after_text) < 19 else None
        feed = self.journal.feed

        async def stream() -> AsyncIterator[str]:
            q = feed.subscribe()  # before the catch-up: nothing committed in between is missed (ids dedupe)
            try:
                cursor = after if after is not None else await asyncio.to_thread(self.reader.max_id)
                floor = cursor  # nothing at or below it is sent but the catch-up (the client has it, or asked from there)
                shared = self.store.dialect != "sqlite"  # other processes journal too: read the journal as well
                sent: collections.deque[int] = collections.deque(maxlen=SENT_KEPT)
                sent_ids: set[int] = set()

                def fresh(rowid: int) -> bool:
                    if rowid in sent_ids or rowid <= (floor if shared else cursor):
                        return False
                    if len(sent) == sent.maxlen:
                        sent_ids.discard(sent[0])
                    sent.append(rowid)
                    sent_ids.add(rowid)
                    return True

                yield f"retry: 1000\nevent: hello\ndata: {cursor}\n\n"
                if after is not None:
                    for entry in await self.entries(**data.query_args(filters), after_id=after, ascending=True, limit=CATCH_UP_ROWS):
                        if fresh(entry["id"]):
                            cursor = max(cursor, entry["id"])
                            yield self._frame(entry)
                ends = time.monotonic() + STREAM_SECONDS
                pinged = next_read = time.monotonic()
                while (left := ends - time.monotonic()) > 0:
                    wait = min(PING_SECONDS, left, max(0.0, next_read - time.monotonic()) if shared else PING_SECONDS)
                    try:
                        batch: list[dict[str, Any]] | None = await asyncio.wait_for(q.get(), wait)
                    except TimeoutError:
                        batch = None
                    for summary in batch or ():
                        if data.matches(summary, filters) and fresh(summary["id"]):
                            cursor = max(cursor, summary["id"])
                            yield self._frame(summary)
                    if shared and time.monotonic() >= next_read:  # what the other processes committed meanwhile
                        next_read = time.monotonic() + POLL_SECONDS
                        low = max(floor, cursor - POLL_LOOKBACK)
                        for entry in await self.entries(**data.query_args(filters), after_id=low, ascending=True, limit=CATCH_UP_ROWS):
                            if fresh(entry["id"]):
                                cursor = max(cursor, entry["id"])
                                yield self._frame(entry)
                    if batch is None and time.monotonic() - pinged >= (PING_SECONDS if shared else 0):
                        pinged = time.monotonic()
                        yield ": ping\n\n"
            finally:
                feed.unsubscribe(q)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    def _frame(self, entry: dict[str, Any]) -> str:
        payload = {"id": entry["id"], "outcome": entry.get("outcome"), "html": self._row_html(entry)}
        return f"id: {entry['id']}\nevent: exchange\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n"

    async def exchange_page(self, request: Request) -> Response:
        exchange_id = request.path_params["id"]
        found = await self.entries(where=("id = ?", [exchange_id]), limit=1)
        if not found:
            return self.render("message.html", 404, title="Not found", message=f"The journal holds no exchange #{exchange_id}.")
        entry = found[0]
        platform = self.platforms.get(entry["platform"])
        by_rule = data.requirements_by_rule(entry["platform"])
        diff = data.schema_diff(platform, entry)
        verdicts = []
        for v in entry["verdicts"]:
            reqs = by_rule.get(v["rule"], [])
            verdicts.append(
                {
                    **v,
                    "level": v.get("level", "MUST"),
                    "requirements": reqs,
                    "decision_text": data.decision_text(v.get("decision")),
                    "hint": data.fix_hint({"level": "MUST", **v}, reqs, diff),
                }
            )
        verdicts.sort(key=lambda v: (v["held"], v["rule"]))
        return self.render(
            "exchange.html",
            e=entry,
            verdicts=verdicts,
            diff=diff,
            request_pretty=data.pretty(entry.get("request_body")),
            reply_pretty=json.dumps(entry.get("reply"), ensure_ascii=False, indent=2) if entry.get("reply") is not None else "",
        )

    async def har_download(self, request: Request) -> Response:
        filters = _filters(request)
        limit_text = request.query_params.get("limit", "5000")
        limit = int(limit_text) if limit_text.isascii() and limit_text.isdigit() and len(limit_text) < 7 else 5000
        entries = await self.entries(**data.query_args(filters), limit=limit)
        what = ", ".join(f"{k}={v}" for k, v in filters.items()) or "every exchange"
        name = "-".join(["harness", *(filters[k] for k in ("platform", "vendor", "session") if k in filters)]) + ".har"
        body = json.dumps(har.har(entries, comment=f"harness journal: {what} (newest {limit})"), ensure_ascii=False, indent=1)
        return Response(
            body.encode("utf-8"),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{_safe(name)}"', "Cache-Control": "no-store"},
        )

    # -- vendors and sessions -------------------------------------------------------------------------------------
    async def vendors_page(self, request: Request) -> Response:
        from harness.pki import list_vendors

        seen = await self.read(
            "SELECT platform, vendor, COUNT(*) AS n, MAX(id) AS newest, SUM(CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END) AS failed"
            " FROM journal WHERE vendor IS NOT NULL GROUP BY platform, vendor ORDER BY newest DESC"
        )
        enrolled = {(v.platform, v.user): v for v in list_vendors(self.store)}
        rows = [dict(r) for r in seen]
        for key, v in enrolled.items():
            if not any((r["platform"], r["vendor"]) == key for r in rows):
                rows.append({"platform": v.platform, "vendor": v.user, "n": 0, "newest": None, "failed": 0})
        names = {k: (v.name or v.platnum) for k, v in enrolled.items()}
        return self.render("vendors.html", rows=rows, names=names)

    async def vendor_page(self, request: Request) -> Response:
        from harness.conformance import sessions

        platform, vendor = request.path_params["platform"], request.path_params["vendor"]
        rows = await self.read(
            "SELECT verdicts FROM journal WHERE platform = ? AND vendor = ? AND (origin IS NULL OR origin <> 'fuzz') ORDER BY id DESC LIMIT ?",
            (platform, vendor, data.COVERAGE_ROWS),
        )
        coverage = await asyncio.to_thread(data.vendor_coverage, platform, [json.loads(r["verdicts"]) for r in rows])
        tagged = {
            r["session"]
            for r in await self.read(
                "SELECT DISTINCT session FROM journal WHERE platform = ? AND vendor = ? AND session IS NOT NULL", (platform, vendor)
            )
        }
        own = [s for s in sessions.list_sessions(self.store) if s.id in tagged or vendor in {str(v) for v in s.options.values()}]
        recent = [_row(e) for e in await self.entries(platform=platform, vendor=vendor, limit=20)]
        return self.render(
            "vendor.html",
            platform=platform,
            vendor=vendor,
            coverage=coverage,
            states=data.COVERAGE_STATES,
            sessions=own,
            recent=recent,
            catalogue=bool(data.requirements(platform)),
        )

    async def sessions_page(self, request: Request) -> Response:
        from harness.conformance import sessions

        listed = await asyncio.to_thread(
            lambda: [(s, sessions.count(self._read_store, s.window)) for s in sessions.list_sessions(self.store)]
        )
        return self.render("sessions.html", sessions=listed)

    def _report_root(self) -> Path:
        if self._reports is None:
            self._reports = Path(tempfile.mkdtemp(prefix="harness-console-reports-"))
        return self._reports

    async def session_report(self, request: Request) -> Response:
        """Grade the session's window now (as ``harness certify finish`` does, without finishing it) and show the
        HTML report of that run."""
        from harness.conformance import sessions

        session = sessions.get(self.store, request.path_params["id"])
        if session is None:
            return self.render("message.html", 404, title="Not found", message="No such certification session.")
        out = self._report_root() / f"{session.id}-{secrets.token_hex(4)}"
        try:
            code = await asyncio.to_thread(self._grade, session, out)
        except Exception as exc:  # the role could not be built: say so on the page, no stack trace
            return self.render("message.html", 500, title="Could not grade", message=f"{type(exc).__name__}: {exc}")
        page = out / "report.html"
        if not page.exists():
            return self.render("message.html", 500, title="No report", message=f"The role wrote no HTML report (exit {code}).")
        html = page.read_text(encoding="utf-8")
        shutil.rmtree(out, ignore_errors=True)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    def _grade(self, session: Any, out: Path) -> int:
        from harness.conformance.cli import _options_in
        from harness.conformance.roles import CommonOptions, role_class
        from harness.conformance.runner import run_role

        cls = role_class(session.role)
        seed = secrets.randbelow(2**31)
        db = self.store.path
        common = CommonOptions(out, seed, db, self.settings.profile)
        role = cls(common, **_options_in(cls, session.options), window=session.window)
        return run_role(role.run(seed), out, progress=False, db=db)

    # -- platforms ------------------------------------------------------------------------------------------------
    async def platform_page(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in self.platforms:
            return self.render("message.html", 404, title="Not found", message=f"No platform {name!r}.")
        drills = [r.as_dict() for r in faults.listed(self.store, platform=name)]
        return self.render(
            "platform.html",
            name=name,
            platform=self.platforms[name],
            drills=drills,
            details=platform_pages.details(self.store, name, self.platforms[name]),
            operations=self.try_it.operations(name),
        )

    async def dym_receipt(self, request: Request) -> Response:
        receipt = platform_pages.dym_receipt(self.store, self.platforms.get("dym"))
        if receipt is None:
            return self.render("message.html", 404, title="No ledger", message="The DYM ledger holds no entries yet.")
        return Response(
            json.dumps(receipt, ensure_ascii=False, indent=2).encode("utf-8"),
            media_type="application/json",
            headers={"Content-Disposition": 'attachment; filename="dym-ledger-receipt.json"'},
        )

    # -- try it ---------------------------------------------------------------------------------------------------
    async def try_page(self, request: Request) -> Response:
        platform = request.query_params.get("platform", "")
        operation = request.query_params.get("operation", "")
        return self.render("try.html", **self.try_it.form(platform, operation))

    async def try_send(self, request: Request) -> Response:
        if request.headers.get(CSRF_HEADER) != "1":
            return JSONResponse({"error": f"a console POST needs the {CSRF_HEADER}: 1 header (sent by the console's page)"}, 403)
        try:
            form = await request.json()
        except ValueError:
            return JSONResponse({"error": "the body must be JSON: {platform, operation, body}"}, 400)
        if not isinstance(form, dict):
            return JSONResponse({"error": "the body must be a JSON object: {platform, operation, body}"}, 400)
        result = await self.try_it.send(form)
        return JSONResponse(result, status_code=200 if "error" not in result else 400)

    # -- static ---------------------------------------------------------------------------------------------------
    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name == FONT_FILE:
            return FileResponse(FONTS / FONT_FILE, media_type="font/woff2", headers={"Cache-Control": "max-age=86400"})
        if name in ("console.css", "console.js"):
            media = "text/css" if name.endswith(".css") else "text/javascript"
            return FileResponse(HERE / "static" / name, media_type=f"{media}; charset=utf-8", headers={"Cache-Control": "no-cache"})
        return Response(status_code=404)


class ReadStore:
    """The two read methods of a :class:`Store`, each call on a fresh connection (for worker threads: the store's
    own connection belongs to the event loop, which also writes through it)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.path = store.path

    def query(self, sql: str, params: Any = ()) -> list[Any]:
        conn = self.store.new_connection()
        try:
            return list(conn.execute(sql, params).fetchall())
        finally:
            conn.close()

    def query_one(self, sql: str, params: Any = ()) -> Any:
        rows = self.query(sql, params)
        return rows[0] if rows else None


def _safe(name: str) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in name)


def create_console(store: Store, journal: Journal, settings: Settings, platforms: list[Platform]) -> Console:
    return Console(store, journal, settings, platforms)
