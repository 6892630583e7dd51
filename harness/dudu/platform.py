"""The DUDU reference platform: the `{req_id, ret_code, ret_msg, …}` envelope, the rules, and the D1–D8 handlers.

Handlers are plain functions of (ExchangeContext, body) returning the reply document. Two request paths call them:
Connexion's (through ``resolve``) and the fast path (``harness.server.fastpath``) that serves every DUDU operation at
near-bare-Starlette speed from the same spec. State changes that need not be read back within the same request are
recorded on the exchange's unit of work (``ctx.exchange.work``, harness.unit_of_work) so they commit with the journal
row (group commit, durable before the reply); the device cache writes them through and forgets itself on rollback.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import secrets
import time
from collections import OrderedDict
from typing import Any

import orjson

from harness import limits
from harness.dudu import rules
from harness.dudu.handlers import HANDLERS
from harness.dudu.rules import BEIJING, DuduContext
from harness.errors import PlatformError
from harness.journal import now_iso
from harness.platform import ErrorKind, ExchangeContext, Platform, current_exchange
from harness.rules import Verdict

TOKEN_TTL = 7200  # seconds (D-DUDU-TOKEN)
LIST_CACHE_SIZE = 64
DEVICE_CACHE_SIZE = 100_000
KIND_CODES = {
    ErrorKind.MALFORMED: 1001,
    ErrorKind.TIMESTAMP: 1001,
    ErrorKind.NOT_FOUND: 1002,
    ErrorKind.CERTIFICATE: 1004,
    ErrorKind.FAILED: 1099,
    ErrorKind.INTERNAL: 1099,
}
CHECK_OPERATIONS = ("card_check", "ticket_check")  # their replies carry sound_no (003 §4.2, §5.3)
DEVICE_SQL = (
    "SELECT d.id AS device_id, d.enterprise_id, d.line_id, d.version_all, d.version_add, d.line_version AS held_line_version,"
    " d.key_version AS held_key_version, d.offline_seq, d.heartbeats, e.check_mode, e.check_card_mode,"
    " e.qrcode_mode, e.card_mode, e.white_mode, e.is_line_white, e.check_start, e.check_end, e.heartbeat_interval,"
    " e.card_version, e.card_full_version, e.key_version, e.previous_key_version, e.rotated_at, l.version AS line_version"
    " FROM dudu_devices d JOIN dudu_enterprises e ON e.id = d.enterprise_id LEFT JOIN dudu_lines l ON l.id = d.line_id"
    " WHERE d.id = ?"
)


_clock: tuple[int, str, str] = (-1, "", "")


def _beijing(now: float) -> tuple[str, str]:
    """(yyMMddHHmmss, yyyy-MM-dd) in Beijing time, formatted once per second (every heartbeat needs both)."""
    global _clock
    second = int(now)
    if _clock[0] != second:
        local = dt.datetime.fromtimestamp(second, BEIJING)
        _clock = (second, local.strftime("%y%m%d%H%M%S"), local.strftime("%Y-%m-%d"))
    return _clock[1], _clock[2]


def server_time(now: float) -> str:
    """yyMMddHHmmss, Beijing time (003 §3.1 server_time; D-DUDU-SERVER-TIME)."""
    return _beijing(now)[0]


class DuduPlatform(Platform):
    name = "dudu"
    base_path = "/dudu"
    spec_file = "dudu/platform.yaml"
    title = "嘟嘟 bus card/QR platform"
    not_found_clause = "003 xxxx/<interface> (no such interface: ret_code 1002, D-DUDU-CODES)"
    secret_fields = frozenset({"secret", "token"})  # get_token's enterprise secret, the token it issues and every use of it
    handlers = HANDLERS

    def __init__(self, store: Any, settings: Any) -> None:
        super().__init__(store, settings)
        rules.install(self.rules)
        self.codes = {int(k): v for k, v in self.spec["x-codes"].items()}
        # Card lists by version: a version names exactly one state of a list (every change bumps it), so a cached list
        # is never stale, in any worker. Bounded; a fleet asks for a handful of versions at a time.
        self._lists: OrderedDict[tuple[Any, ...], list[dict[str, Any]]] = OrderedDict()
        self._devices: dict[str, Any] = {}
        self._settings_parts: dict[str, tuple[Any, str, dict[str, Any]]] = {}  # device id → (its cached row, day, part)
        self._devices_version = -1  # the store's data_version the cache was filled under
        store.on_state_change(self.forget_devices)  # a state change here (admin, control API) empties it too
        self._data_version: int | None = None

    # -- envelope {req_id, ret_code, ret_msg, …} ---------------------------------------------------------------
    @staticmethod
    def _head(ctx: ExchangeContext | None) -> dict[str, Any]:
        req_id = ctx.extras.get("req_id") if ctx is not None else None
        return {"req_id": req_id} if req_id is not None else {}  # echoed only when sent (D-DUDU-REQ-ID)

    def ok(self, data: Any = None) -> dict[str, Any]:
        return {**self._head(current_exchange.get()), "ret_code": 0, "ret_msg": self.codes[0]["msg"], **(data or {})}

    def error(self, error: PlatformError) -> dict[str, Any]:
        ctx = current_exchange.get()
        code = int(error.code) if error.code is not None else KIND_CODES.get(error.kind, 1099)
        entry = self.codes.get(code, self.codes[1099])
        reply = {**self._head(ctx), "ret_code": code, "ret_msg": f"{entry['msg']}: {error.summary}" if error.violations else entry["msg"]}
        if ctx is not None and ctx.operation in CHECK_OPERATIONS:
            reply["sound_no"] = entry["sound_no"]
        if error.violations:
            reply["violations"] = [v.as_dict() for v in error.violations]
        return reply

    def reply_code(self, reply: Any) -> str | None:
        if isinstance(reply, dict) and isinstance(reply.get("ret_code"), int) and "ret_msg" in reply:
            return str(reply["ret_code"])
        return None

    def reply_ok(self, reply: Any) -> bool:
        return isinstance(reply, dict) and reply.get("ret_code") == 0

    @staticmethod
    def encode(document: Any) -> bytes:
        return orjson.dumps(document)

    # -- request path --------------------------------------------------------------------------------------------
    def request_extras(self, ctx: ExchangeContext, document: Any) -> None:
        """Remember req_id so that even a schema refusal echoes it (D-DUDU-REQ-ID). No gate: 003 has no signature."""
        if type(document) is dict:  # inline: this runs for every DUDU exchange (remember_req_id for the general case)
            req_id = document.get("req_id")
            if type(req_id) is str:
                ctx.extras["req_id"] = req_id
        else:
            remember_req_id(ctx, document)

    def fast_operations(self) -> dict[str, str]:
        """Paths the fast path serves, from the spec: ``/dudu/<op>`` → operation name."""
        return {self.base_path + path: item["post"]["operationId"].rsplit(".", 1)[-1] for path, item in self.spec["paths"].items()}

    def journal_form(self, operation: str, reply: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, tuple[Any, ...]]]]:
        """What the journal keeps of a reply. A delivered card or line list is stored once per distinct content in
        dudu_list_snapshots and the journal row names it by SHA-256: a fleet downloading 1,000-card lists otherwise
        writes 30 KB per device, and that I/O stalled every other exchange. The reply stays reconstructible."""
        if operation not in ("get_card_list", "get_line_card_list") or not isinstance(reply.get("list"), list) or not reply["list"]:
            return reply, []
        body = orjson.dumps(reply["list"])
        digest = hashlib.sha256(body).hexdigest()
        snapshot = {"snapshot_sha256": digest, "count": len(reply["list"]), "table": "dudu_list_snapshots"}
        return {**reply, "list": snapshot}, [
            ("INSERT INTO dudu_list_snapshots (sha256, body) VALUES (?, ?) ON CONFLICT DO NOTHING", (digest, body))
        ]

    def _cached_list(
        self, key: tuple[Any, ...], sql: str, params: tuple[Any, ...], recheck: tuple[str, tuple[Any, ...], Any]
    ) -> list[dict[str, Any]]:
        cards = self._lists.get(key)
        if cards is None:
            cards = [{"card_no": r["card_no"], "flag": r["flag"]} for r in self.store.query(sql, params)]
            row = self.store.query_one(recheck[0], recheck[1])
            if row is not None and row["v"] == recheck[2]:  # cached only if no change slipped in meanwhile
                self._lists[key] = cards
                if len(self._lists) > LIST_CACHE_SIZE:
                    self._lists.popitem(last=False)
        return cards

    # -- rules ----------------------------------------------------------------------------------------------------
    def _device(self, device_id: str) -> Any:
        """The device row joined with its enterprise and line. Cached while the store reports no change at all: a
        commit by another connection, worker or CLI moves its data_version; any other state change here calls
        Store.on_state_change; a unit of work that does not commit calls on_rollback; each empties the cache, so a
        cached row is never staler than a fresh read. Journal rows, tokens and used tickets do not count; this platform's own device updates (heartbeat versions, offline_seq) are written through to the
        cached row instead: with 10,000 devices, emptying the cache on each of them made nearly every request a miss."""
        data_version = self._data_version
        if data_version is None:
            # Asked once per event-loop iteration: requests handled in one iteration are concurrent anyway, so a commit
            # elsewhere during it is seen from the next one, as if it had landed a moment later. Outside a loop: every time.
            data_version = self.store.data_version()
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().call_soon(self._forget_data_version)
                self._data_version = data_version
        if data_version != self._devices_version:
            self._devices.clear()
            self._settings_parts.clear()
            self._devices_version = data_version
        row = self._devices.get(device_id)
        if row is None:
            found = self.store.query_one(DEVICE_SQL, (device_id,))
            row = dict(found) if found is not None else None  # a dict: sqlite3.Row looks names up one by one
            if row is not None and len(self._devices) < DEVICE_CACHE_SIZE:
                self._devices[device_id] = row
        return row

    def forget_devices(self) -> None:
        """Empty the device cache: the store changed under it, or a write-through change did not commit."""
        self._devices.clear()
        self._settings_parts.clear()

    def _forget_data_version(self) -> None:
        self._data_version = None

    def _context(self, operation: str, body: dict[str, Any]) -> DuduContext:
        device = self._device(str(body["device_id"])) if "device_id" in body else None
        return DuduContext(self.store, self.settings.strict, operation, time.time(), device)

    # -- handlers -------------------------------------------------------------------------------------------------
    def get_token(self, ctx: ExchangeContext, body: dict[str, Any]) -> dict[str, Any]:
        rctx = self._context("get_token", body)
        self.enforce(ctx, "get_token", rctx, body)
        token = secrets.token_hex(16)
        self.store.execute(
            "INSERT INTO dudu_tokens (token, enterprise_id, expires) VALUES (?, ?, ?)",
            (self.masker.secret(token), body["enterprise_id"], rctx.now + TOKEN_TTL),  # kept as the journal shows it
            changes_state=False,  # tokens are looked up, never cached: the device cache stays valid
        )
        return self.ok({"token": token, "expires_in": TOKEN_TTL})

    def location_report(self, ctx: ExchangeContext, body: dict[str, Any]) -> dict[str, Any]:
        rctx = self._context("location_report", body)
        self.enforce(ctx, "location_report", rctx, body)
        d = rctx.device
        reported = int(body.get("offline_seq") or 0)
        offline_seq = max(reported, d["offline_seq"])
        missing = 0
        if offline_seq:
            row = self.store.query_one(
                "SELECT COUNT(*) AS n FROM dudu_offline_logs WHERE device_id = ? AND seq BETWEEN 1 AND ?", (d["device_id"], offline_seq)
            )
            missing = offline_seq - row["n"]
        key_version = body.get("key_version_code")
        held = (str(body["version_code_all"]), str(body["version_code_add"]), str(body["line_version_code_all"]))
        held_keys = None if key_version is None else str(key_version)
        # Only a change is written (a steady fleet then costs the store nothing but the journal row, which already holds
        # every heartbeat for cadence checks); it commits with that row (group commit), off the read path.
        if (held, held_keys, reported) != (
            (d["version_all"], d["version_add"], d["held_line_version"]),
            d["held_key_version"],
            d["offline_seq"],
        ) or not d["heartbeats"]:
            work = ctx.exchange.work
            work.write(
                "UPDATE dudu_devices SET heartbeats = heartbeats + 1, last_heartbeat = ?, version_all = ?, version_add = ?,"
                " line_version = ?, key_version = ?, offline_seq = MAX(offline_seq, ?) WHERE id = ?",
                (rctx.now, *held, held_keys, reported, d["device_id"]),
                cached=True,
            )
            work.on_rollback(self.forget_devices)
            # Write-through: the cached row takes the same change, so the rest of the fleet keeps its cached rows.
            d.update(
                heartbeats=d["heartbeats"] + 1,
                version_all=held[0],
                version_add=held[1],
                held_line_version=held[2],
                held_key_version=held_keys,
                offline_seq=offline_seq,
            )
        stamp, today = _beijing(rctx.now)
        return self.ok(
            {"enterprise_id": d["enterprise_id"], "server_time": stamp, **self._settings_part(d, today), "offline_missing": missing}
        )

    def _settings_part(self, d: dict[str, Any], today: str) -> dict[str, Any]:
        """What a heartbeat reply tells the device of its settings and the platform's versions (003 §3.2), built once
        per cached device row and day: a row read anew from the store is a new object (so the part is rebuilt), and
        the heartbeat's own write-through changes only what the device holds, none of these."""
        entry = self._settings_parts.get(d["device_id"])
        if entry is not None and entry[0] is d and entry[1] == today:
            return entry[2]
        part = {
            "version_code": str(d["key_version"]),
            "check_mode": d["check_mode"],
            "check_card_mode": d["check_card_mode"],
            "qrcode_mode": d["qrcode_mode"],
            "card_mode": d["card_mode"],
            "white_mode": d["white_mode"],
            "version_code_all": str(d["card_full_version"]),
            "version_code_add": str(d["card_version"]),
            "line_version_code_all": str(d["line_version"] or 0),
            "is_line_white": d["is_line_white"],
            "check_start_time_format": f"{today} {d['check_start']}",
            "check_end_time_format": f"{today} {d['check_end']}",
            "heartbeat_interval": d["heartbeat_interval"],
        }
        if len(self._settings_parts) < DEVICE_CACHE_SIZE:
            self._settings_parts[d["device_id"]] = (d, today, part)
        return part

    def get_card_list(self, ctx: ExchangeContext, body: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        rctx = self._context("get_card_list", body)
        self.enforce(ctx, "get_card_list", rctx, body)
        d = rctx.device
        held = str(d["version_add"] or "")
        full = int(body["type"]) == 1 or not limits.ascii_digits(held, limits.MAX_DIGIT_STRING) or int(held) < d["card_full_version"]
        # Incremental: exactly the cards whose latest change is newer than the version the device holds (D-DUDU-VERSIONS).
        since = -1 if full else int(held)
        rows = self._cached_list(
            ("card", d["enterprise_id"], d["card_version"], since),
            "SELECT card_no, flag FROM dudu_cards WHERE enterprise_id = ? AND version > ? ORDER BY card_no",
            (d["enterprise_id"], since),
            ("SELECT card_version AS v FROM dudu_enterprises WHERE id = ?", (d["enterprise_id"],), d["card_version"]),
        )
        ctx.add([Verdict("DUDU-LIST-KIND", "003 §4.1 type", True, f"{'full' if full else 'incremental since ' + held}: {len(rows)} cards")])
        return self.ok(
            {
                "enterprise_id": d["enterprise_id"],
                "time": int((time.perf_counter() - started) * 1000),
                "version": str(d["card_version"]),
                "list": rows,
            }
        )

    def card_check(self, ctx: ExchangeContext, body: dict[str, Any]) -> dict[str, Any]:
        self.enforce(ctx, "card_check", self._context("card_check", body), body)
        return self.ok({"sound_no": 0})

    def _log(self, ctx: ExchangeContext, operation: str, kind: str, subject: str, body: dict[str, Any]) -> dict[str, Any]:
        rctx = self._context(operation, body)
        self.enforce(ctx, operation, rctx, body)
        seq = None if body.get("seq") is None else int(body["seq"])
        if rctx.facts.get("duplicate"):
            ctx.add(
                [Verdict("DUDU-LOG-ONCE", self.rules.get("DUDU-LOG-ONCE").clause, True, f"seq {seq} was already logged; not stored again")]
            )
            return self.ok()
        work = ctx.exchange.work
        work.write(  # the offline-log row itself is in no cache
            "INSERT INTO dudu_offline_logs (device_id, kind, seq, subject, status, time, at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (str(body["device_id"]), kind, seq, subject, str(body.get("status", "0")), str(body["time"]), now_iso()),
            cached=True,
        )
        if seq is not None:  # a log may overtake the heartbeat that would have reported its number
            work.write("UPDATE dudu_devices SET offline_seq = MAX(offline_seq, ?) WHERE id = ?", (seq, str(body["device_id"])), cached=True)
            if rctx.device is not None:  # write-through, as in location_report
                rctx.device["offline_seq"] = max(rctx.device["offline_seq"], seq)
                work.on_rollback(self.forget_devices)
        return self.ok()

    def card_check_log(self, ctx: ExchangeContext, body: dict[str, Any]) -> dict[str, Any]:
        return self._log(ctx, "card_check_log", "card", str(body["card_id"]), body)

    def offline_qrcode_log(self, ctx: ExchangeContext, body: dict[str, Any]) -> dict[str, Any]:
        return self._log(ctx, "offline_qrcode_log", "qr", str(body["qr_code"]), body)

    def get_line_card_list(self, ctx: ExchangeContext, body: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        rctx = self._context("get_line_card_list", body)
        self.enforce(ctx, "get_line_card_list", rctx, body)
        d = rctx.device
        rows = self._cached_list(
            ("line", d["line_id"], d["line_version"]),
            "SELECT card_no, flag FROM dudu_line_cards WHERE line_id = ? ORDER BY card_no",
            (d["line_id"],),
            ("SELECT version AS v FROM dudu_lines WHERE id = ?", (d["line_id"],), d["line_version"]),
        )
        return self.ok(
            {
                "enterprise_id": d["enterprise_id"],
                "time": int((time.perf_counter() - started) * 1000),
                "version": str(d["line_version"] or 0),
                "list": rows,
            }
        )

    def get_qrcode_keys(self, ctx: ExchangeContext, body: dict[str, Any]) -> dict[str, Any]:
        rctx = self._context("get_qrcode_keys", body)
        self.enforce(ctx, "get_qrcode_keys", rctx, body)
        row = self.store.query_one(
            "SELECT g.version_code, g.keys FROM dudu_enterprises e JOIN dudu_key_groups g"
            " ON g.enterprise_id = e.id AND g.version_code = e.key_version WHERE e.id = ?",
            (rctx.enterprise_id,),
        )
        keys = [{"key_id": int(k["key_id"]), "key": k["key"]} for k in json.loads(row["keys"])]
        return self.ok({"version_code": str(row["version_code"]), "list": keys})

    def ticket_check(self, ctx: ExchangeContext, body: dict[str, Any]) -> dict[str, Any]:
        self.enforce(ctx, "ticket_check", self._context("ticket_check", body), body)
        return self.ok({"sound_no": 0})


def remember_req_id(ctx: ExchangeContext, body: Any = None) -> None:
    """Keep the request's req_id for the reply, errors included (D-DUDU-REQ-ID)."""
    if body is None:
        try:
            body = orjson.loads(ctx.body)
        except orjson.JSONDecodeError:
            return
    if isinstance(body, dict) and isinstance(body.get("req_id"), str):
        ctx.extras["req_id"] = body["req_id"]
