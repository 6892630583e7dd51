"""Resilience drills: faults a tester switches on per platform, operation or vendor (docs/faults.md).

A fault rule lives in the store (table ``fault_rules``, this module's :data:`SCHEMA`), so the CLI (``harness faults``),
the control API (``/_harness/faults``) and every serving worker see the same rules. The exchange layer
(harness/server/exchange.py) asks :meth:`FaultBook.rules` for the platform of each request, one clock read and one dict
lookup when nothing is switched on, and hands the request to :meth:`FaultBook.intercept` when something is:

=========== ===========================================================================================================
kind        on the wire
=========== ===========================================================================================================
delay       the request is answered normally, ``delay_ms`` later
status      HTTP ``status`` (503 by default) with the platform's system-error envelope; the request is not processed
down        a platform-down window: every operation of the platform (of the vendor, when scoped) answers HTTP 503 with
            the system-error envelope until the window ends; nothing is processed
reset       the connection is closed without a reply (under uvicorn: the socket is aborted with RST; in-process ASGI
            clients see :class:`ConnectionResetFault` raised)
malformed   HTTP 200, ``text/html``, a body that is not JSON (a proxy's error page); nothing is processed
truncated   HTTP 200, the first half of the system-error envelope, with the Content-Length of that half; nothing is
            processed
=========== ===========================================================================================================

Scope: ``platform`` (required), ``operation`` (the operation name, e.g. ``card_check``, or the last path segment on
the Connexion path), ``vendor`` (a certification session id, or the vendor the request names: YXC ``user``, ZJPX the
platform code of its token, DUDU ``device_id`` or ``enterprise_id``), ``probability`` or ``every`` (every Nth
matching request, counted per serving process) and the window: from ``starts`` (now, or ``start_in`` seconds later) for
``duration`` seconds (none: until ``harness faults clear``).

Every faulted exchange is journaled as usual, with the fault named in the journal's ``fault`` column (``down#3``: kind
and rule id) and no verdict: a fault is the harness's doing, never the vendor's failure. Certify roles read that column
to grade the vendor client's recovery (harness/dudu/certify.py DUDU-CERT-OUTAGE).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
import struct
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from harness.errors import ConfigError, PlatformError, Violation
from harness.journal import now_iso
from harness.platform import ErrorKind, current_exchange
from harness.store import Schema, Step, Store

if TYPE_CHECKING:
    from starlette.types import Send

    from harness.journal import Exchange, LoopGroupCommit
    from harness.platform import ExchangeContext

log = logging.getLogger("harness.faults")

KINDS = ("delay", "status", "down", "reset", "malformed", "truncated")
DENIALS = frozenset(KINDS) - {"delay"}  # faults that keep the vendor from getting its answer
FAULT_RULE = "FAULT"
FAULT_CLAUSE = "harness faults (a resilience drill, not the vendor's failure)"
MALFORMED_BODY = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>\n"

SCHEMA = Schema(
    "faults",
    [
        Step(
            1,
            [
                # One row per rule, never deleted: journal rows name their rule (``down#3``), so a cleared rule's window
                # stays explainable. ``ends`` NULL: until cleared. Times are epoch seconds.
                """CREATE TABLE IF NOT EXISTS fault_rules (
                id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, platform TEXT NOT NULL, operation TEXT, vendor TEXT,
                delay_ms INTEGER, status INTEGER, probability REAL NOT NULL DEFAULT 1, every INTEGER,
                starts REAL NOT NULL, ends REAL, created TEXT NOT NULL)""",
            ],
        ),
    ],
)


_generation = 0  # moves with every rule change made in this process (add, clear): caches here refill at once


def _changed() -> None:
    global _generation
    _generation += 1


def answered_by_platform(entry: Any) -> bool:
    """Whether a journal entry's reply came from the platform (no fault, or only a delay before it), not from a drill
    fault answering in its place: journal-graded roles judge only those (a vendor is never graded on a drill's reply)."""
    fault = entry.get("fault") if hasattr(entry, "get") else None
    return not fault or str(fault).startswith("delay#")


class ConnectionResetFault(ConnectionResetError):
    """Raised to an in-process ASGI client (no socket to abort) for a ``reset`` fault."""


@dataclass(frozen=True)
class FaultRule:
    id: int
    kind: str
    platform: str
    operation: str | None
    vendor: str | None
    delay_ms: int | None
    status: int | None
    probability: float
    every: int | None
    starts: float
    ends: float | None

    @property
    def name(self) -> str:
        """How the journal names it: kind and rule id (``down#3``)."""
        return f"{self.kind}#{self.id}"

    def active(self, now: float) -> bool:
        return self.starts <= now and (self.ends is None or now < self.ends)

    def as_dict(self, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        return {**asdict(self), "name": self.name, "active": self.active(now)}


def _rule(row: Any) -> FaultRule:
    return FaultRule(
        int(row["id"]),
        row["kind"],
        row["platform"],
        row["operation"],
        row["vendor"],
        row["delay_ms"],
        row["status"],
        float(row["probability"]),
        row["every"],
        float(row["starts"]),
        None if row["ends"] is None else float(row["ends"]),
    )


# --- the rules in the store ------------------------------------------------------------------------------------------
def add(
    store: Store,
    kind: str,
    platform: str,
    *,
    operation: str | None = None,
    vendor: str | None = None,
    delay_ms: int | None = None,
    status: int | None = None,
    probability: float | None = None,
    every: int | None = None,
    duration: float | None = None,
    start_in: float = 0.0,
    now: float | None = None,
) -> FaultRule:
    """Switch a fault on; raises ConfigError (one line) for a rule that cannot work."""
    from harness.platforms import PLATFORMS

    if kind not in KINDS:
        raise ConfigError(f"fault kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if platform not in PLATFORMS:
        raise ConfigError(f"no platform {platform!r} (one of {', '.join(PLATFORMS)})")
    if kind == "delay" and (delay_ms is None or delay_ms < 1):
        raise ConfigError("a delay fault needs delay_ms ≥ 1 (--delay-ms)")
    if kind != "delay" and delay_ms is not None:
        raise ConfigError(f"delay_ms applies to delay faults only, not {kind}")
    if kind == "status":
        status = 503 if status is None else status
        if not 400 <= status <= 599:
            raise ConfigError(f"a status fault answers an HTTP error status (400–599), not {status}")
    elif status is not None:
        raise ConfigError(f"status applies to status faults only, not {kind} (down always answers 503)")
    if kind == "down" and operation is not None:
        raise ConfigError("a down window takes the whole platform down: it has no operation scope (use a status fault)")
    if probability is not None and every is not None:
        raise ConfigError("give probability or every, not both")
    if probability is not None and not 0 < probability <= 1:
        raise ConfigError(f"probability must be in (0, 1], not {probability}")
    if every is not None and every < 1:
        raise ConfigError(f"every must be ≥ 1, not {every}")
    if kind == "down" and (probability not in (None, 1) or every not in (None, 1)):
        raise ConfigError("a down window refuses every request: no probability or every")
    if duration is not None and duration <= 0:
        raise ConfigError(f"duration must be > 0 seconds, not {duration}")
    if start_in < 0:
        raise ConfigError(f"start_in must be ≥ 0 seconds, not {start_in}")
    now = time.time() if now is None else now
    starts = now + start_in
    ends = None if duration is None else starts + duration
    rule_id = store.execute(
        "INSERT INTO fault_rules (kind, platform, operation, vendor, delay_ms, status, probability, every, starts, ends, created)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (kind, platform, operation or None, vendor or None, delay_ms, status, probability or 1.0, every, starts, ends, now_iso()),
    )
    _changed()
    found = get(store, rule_id)
    assert found is not None
    return found


def get(store: Store, rule_id: int) -> FaultRule | None:
    row = store.query_one("SELECT * FROM fault_rules WHERE id = ?", (rule_id,))
    return _rule(row) if row is not None else None


def listed(store: Store, *, include_ended: bool = False, platform: str | None = None, now: float | None = None) -> list[FaultRule]:
    """Rules that are on or still to start (``include_ended``: every rule ever added), oldest first."""
    now = time.time() if now is None else now
    sql, params = "SELECT * FROM fault_rules WHERE 1 = 1", []
    if not include_ended:
        sql += " AND (ends IS NULL OR ends > ?)"
        params.append(now)
    if platform is not None:
        sql += " AND platform = ?"
        params.append(platform)
    return [_rule(r) for r in store.query(sql + " ORDER BY id", params)]


def clear(store: Store, ids: list[int] | None = None, *, platform: str | None = None, now: float | None = None) -> list[int]:
    """End rules now (all that are on or pending, or those of ``platform``, or the given ids); returns the ids ended.
    Rules are kept (ended, not deleted) so that journal rows naming them stay explainable."""
    now = time.time() if now is None else now
    pending = listed(store, platform=platform, now=now)
    chosen = [r.id for r in pending] if not ids else [i for i in ids if any(r.id == i for r in pending)]
    if ids:
        unknown = sorted(set(ids) - set(chosen))
        if unknown:
            raise ConfigError(f"no fault rule on or pending with id {', '.join(map(str, unknown))} (harness faults list)")
    if chosen:
        marks = ", ".join("?" for _ in chosen)
        store.execute(f"UPDATE fault_rules SET ends = ? WHERE id IN ({marks})", (now, *chosen))
        _changed()
    return chosen


# --- which vendor a request names (only read when a vendor-scoped rule is on) -------------------------------------
def _body(exchange: Exchange) -> Any:
    try:
        return json.loads(exchange.request_body or b"null")
    except ValueError:
        return None


def request_vendors(store: Store, exchange: Exchange) -> set[str]:
    """The identities a request names before any gate ran: its certification session and the platform's vendor keys."""
    names = {exchange.session} if exchange.session else set()
    if exchange.platform == "yxc":
        users = parse_qs(exchange.query).get("user") or []
        names.update(u.upper() for u in users)
    elif exchange.platform == "dudu":
        body = _body(exchange)
        if isinstance(body, dict):
            names.update(str(body[k]) for k in ("device_id", "enterprise_id") if body.get(k) is not None)
    elif exchange.platform == "zjpx":
        body = _body(exchange)
        headers = body.get("headers") if isinstance(body, dict) else None
        token = headers.get("acceptToken") if isinstance(headers, dict) else None
        if isinstance(token, str) and token:
            from harness.zjpx.accounts import find_token

            found = find_token(store, token)
            if found is not None:
                names.add(found.platform_code)
    return names


# --- the cache the exchange layer reads -----------------------------------------------------------------------------
class FaultBook:
    """The rules that are on, per platform, cached in memory. The cache is refilled at once after a rule change made
    in this process (:func:`add`, :func:`clear`: the control API, tests) and, checked at most every :attr:`RECHECK`
    seconds, when the store's ``data_version`` moved (a rule added by the CLI or another worker) or a cached window
    started or ended. Other state changes cost it nothing."""

    RECHECK = 0.1  # seconds: a rule added by another process is in force within this long

    def __init__(self, store: Store) -> None:
        self.store = store
        self._active: dict[str, tuple[FaultRule, ...]] = {}
        self._generation = -1
        self._checked = float("-inf")
        self._version: int | None = None
        self._next_change = float("inf")  # epoch seconds at which a cached rule starts or ends
        self._counts: dict[int, int] = {}  # every-Nth counters, per rule
        self._failing = False  # the last re-check could not read the store (logged once per outage)

    def rules(self, platform: str) -> tuple[FaultRule, ...] | None:
        """The rules of ``platform`` that may apply now, or None (the hot path: a clock read and a dict lookup)."""
        now = time.monotonic()
        if now - self._checked > self.RECHECK or self._generation != _generation:
            try:
                self._recheck(now)
            except Exception as exc:  # a drill must never break the service: keep the rules cached so far
                self._checked = now  # and retry at the usual pace, logging the outage once rather than every RECHECK
                if not self._failing:
                    self._failing = True
                    log.warning("fault rules could not be read (%s); keeping the cached ones until the store answers", type(exc).__name__)
            else:
                if self._failing:
                    self._failing = False
                    log.warning("fault rules readable again")
        return self._active.get(platform)

    def _recheck(self, monotonic: float) -> None:
        self._checked = monotonic
        version = self.store.data_version()
        wall = time.time()
        if self._generation == _generation and version == self._version and wall < self._next_change:
            return
        self._generation, self._version = _generation, version
        active: dict[str, list[FaultRule]] = {}
        next_change = float("inf")
        for rule in listed(self.store, now=wall):
            active.setdefault(rule.platform, []).append(rule)
            if rule.starts > wall:
                next_change = min(next_change, rule.starts)
            elif rule.ends is not None:
                next_change = min(next_change, rule.ends)
        # A down window first: it answers every request of its platform.
        self._active = {p: tuple(sorted(rs, key=lambda r: (r.kind != "down", r.id))) for p, rs in active.items()}
        self._next_change = next_change

    def match(self, rules: tuple[FaultRule, ...], exchange: Exchange, operation: str | None) -> FaultRule | None:
        """The first rule that applies to this request, counting every-Nth rules as it goes."""
        now = time.time()
        op = operation or exchange.path.rstrip("/").rsplit("/", 1)[-1]
        vendors: set[str] | None = None
        for rule in rules:
            if not rule.active(now) or (rule.operation is not None and rule.operation != op):
                continue
            if rule.vendor is not None:
                if vendors is None:
                    vendors = request_vendors(self.store, exchange)
                if rule.vendor not in vendors and rule.vendor.upper() not in vendors:
                    continue
            if rule.every is not None and rule.every > 1:
                self._counts[rule.id] = count = self._counts.get(rule.id, 0) + 1
                if count % rule.every:
                    continue
            if rule.probability < 1 and random.random() >= rule.probability:
                continue
            return rule
        return None

    async def intercept(
        self, rules: tuple[FaultRule, ...], ctx: ExchangeContext, commit: LoopGroupCommit, send: Send, started: float
    ) -> bool:
        """Apply the fault that matches, if any. ``delay``: wait, then return False (the exchange goes on as usual,
        journaled with the fault named). Any other kind: answer (or drop the connection) here, journal the exchange
        with the fault named and no verdict, and return True."""
        exchange = ctx.exchange
        try:
            rule = self.match(rules, exchange, ctx.operation)
        except Exception:  # e.g. the store could not name the vendor: no fault rather than a broken exchange
            log.exception("fault matching failed on %s", exchange.path)
            return False
        if rule is None:
            return False
        exchange.fault = rule.name
        if rule.kind == "delay":
            await asyncio.sleep((rule.delay_ms or 0) / 1000)
            return False
        platform = ctx.platform
        token = current_exchange.set(ctx)
        try:
            with contextlib.suppress(Exception):
                platform.request_extras(ctx, None)  # DUDU echoes req_id even in this envelope (D-DUDU-REQ-ID)
            error = PlatformError(ErrorKind.INTERNAL, [Violation(FAULT_RULE, FAULT_CLAUSE, f"system unavailable ({rule.name})")])
            document = platform.error(error)
            envelope = platform.encode(document)
        finally:
            current_exchange.reset(token)
        content_type = b"application/json; charset=utf-8"
        if rule.kind in ("status", "down"):
            status, raw = (rule.status or 503), envelope
        elif rule.kind == "malformed":
            status, raw, content_type = 200, MALFORMED_BODY, b"text/html; charset=utf-8"
        elif rule.kind == "truncated":
            status, raw = 200, envelope[: max(1, len(envelope) // 2)]
        else:  # reset
            status, raw = 0, b""
        exchange.work.rolled_back()  # nothing was processed
        exchange.status = status
        exchange.code = platform.reply_code(document) if rule.kind in ("status", "down") else None  # the others: no envelope
        exchange.sent(raw)
        exchange.duration_ms = (time.perf_counter() - started) * 1000
        try:
            await commit.record(exchange)
        except Exception:
            log.exception("journal write failed for faulted exchange %s on %s", rule.name, exchange.path)
        if rule.kind == "reset":
            await reset_connection(send)
            return True
        headers = [(b"content-type", content_type), (b"content-length", str(len(raw)).encode())]
        if rule.kind != "status" and rule.kind != "down":
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": raw})
        return True


async def reset_connection(send: Send) -> None:
    """Close the connection without a reply. Under uvicorn, ``send`` is the request cycle's own method (no layer above
    the exchange layer wraps it): its transport is aborted with SO_LINGER 0, so the client sees a connection reset, and
    uvicorn, seeing the disconnect, sends nothing. Anywhere else (an in-process client) :class:`ConnectionResetFault`
    is raised."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        raise ConnectionResetFault("fault: connection reset without a reply (harness faults)")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    await asyncio.sleep(0)  # let the server see the connection lost before the app returns


# --- `harness faults …` -----------------------------------------------------------------------------------------------
def _cli() -> Any:
    """The ``harness faults`` group (built lazily so that importing this module does not need click)."""
    from pathlib import Path

    import click

    from harness.cli_options import db_option
    from harness.config import default_db_path
    from harness.platforms import PLATFORMS

    def store_of(db: Path | None) -> Store:
        from harness.schema import open_store

        return open_store(db or default_db_path())

    def echo(rule: FaultRule) -> None:
        click.echo(json.dumps(rule.as_dict(), ensure_ascii=False))

    @click.group("faults")
    def group() -> None:
        """Resilience drills: switch faults on per platform, operation or vendor (docs/faults.md)."""

    @group.command("add")
    @click.argument("kind", type=click.Choice(KINDS))
    @click.option("--platform", required=True, type=click.Choice(list(PLATFORMS)), help="The platform whose replies fail.")
    @click.option("--operation", default=None, help="Only this operation (e.g. card_check); not for down.")
    @click.option(
        "--vendor", default=None, help="Only this vendor (YXC user, ZJPX platform code, DUDU device or enterprise id) or session id."
    )
    @click.option("--delay-ms", type=click.IntRange(1), default=None, help="delay: milliseconds added before the reply.")
    @click.option("--status", type=click.IntRange(400, 599), default=None, help="status: the HTTP status answered (default 503).")
    @click.option("--probability", type=click.FloatRange(0, 1, min_open=True), default=None, help="Fault this share of matching requests.")
    @click.option("--every", type=click.IntRange(1), default=None, help="Fault every Nth matching request (per serving process).")
    @click.option(
        "--duration", type=click.FloatRange(0, min_open=True), default=None, help="Seconds the window lasts (default: until cleared)."
    )
    @click.option("--start-in", type=click.FloatRange(0), default=0.0, show_default=True, help="Seconds from now until the window starts.")
    @db_option
    def add_command(kind: str, platform: str, db: Path | None, **scope: Any) -> None:
        """Switch a fault on; prints the rule as JSON (its name, e.g. down#3, is what the journal's fault column holds)."""
        echo(add(store_of(db), kind, platform, **scope))

    @group.command("list")
    @click.option("--all", "include_ended", is_flag=True, help="Also rules whose window ended or that were cleared.")
    @click.option("--platform", default=None, type=click.Choice(list(PLATFORMS)))
    @db_option
    def list_command(include_ended: bool, platform: str | None, db: Path | None) -> None:
        """Rules that are on or pending (JSON lines)."""
        for rule in listed(store_of(db), include_ended=include_ended, platform=platform):
            echo(rule)

    @group.command("clear")
    @click.argument("ids", nargs=-1, type=int)
    @click.option("--platform", default=None, type=click.Choice(list(PLATFORMS)), help="Only this platform's rules.")
    @db_option
    def clear_command(ids: tuple[int, ...], platform: str | None, db: Path | None) -> None:
        """End rules now: the given ids, or every rule that is on or pending (of --platform); prints the ids ended."""
        click.echo(json.dumps({"cleared": clear(store_of(db), list(ids), platform=platform)}))

    return group
