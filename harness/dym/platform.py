"""The DYM reference platform (/dym): the designed `{code, msg, data}` envelope, the HMAC gate, the code colours, consent,
scan-to-verify, waybills and their QR codes, and the ledger (上链) every record event is appended to.

Handlers never write the store directly: every change is recorded on the exchange's unit of work (``ctx.exchange.work``,
harness/unit_of_work.py) and the ledger append rides ``work.on_commit``, so an entry commits with its record or not at
all. The clock is ``self.clock`` (epoch seconds; tests inject their own).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from harness import limits, sealing
from harness.clock import BEIJING
from harness.dym import admin, personal, rules, signing
from harness.dym.handlers import HANDLERS
from harness.dym.rules import DymContext
from harness.errors import PlatformError, Violation
from harness.ledger import Ledger
from harness.ledger.entry import PERSONAL_FIELDS
from harness.platform import ErrorKind, ExchangeContext, Platform
from harness.ymt.crypto import conceal_name

KIND_CODES = {
    ErrorKind.MALFORMED: "1001",
    ErrorKind.NOT_FOUND: "1002",
    ErrorKind.CERTIFICATE: "2002",
    ErrorKind.TIMESTAMP: "2003",
    ErrorKind.FAILED: "1005",
    ErrorKind.INTERNAL: "9999",
}
# What becomes a salted commitment in a ledger entry (D-DYM-LEDGER): the ledger's personal fields and plates.
PERSONAL = PERSONAL_FIELDS | frozenset({"plate", "trailerplate", "plates", "accountno", "holder", "owner"})
DEFAULT_QR_TTL = 86400
# An acceptance claim older than this (wall-clock seconds) whose waybill is still open is stale: its process died between
# answering and committing. Group commits take milliseconds; a live claim is never this old.
CLAIM_STALE = 30.0
CREDIT_YEAR = 365 * 86400
CERTIFICATE_ITEMS = (
    "qualification",
    "transport_permit",
    "business_licence",
    "id_card",
    "driving_licence",
    "vehicle_licence",
    "bank_account",
    "insurance_policy",
)


def iso(epoch: float) -> str:
    """Beijing time with seconds, e.g. 2026-12-01T17:00:00+08:00 (every time in DYM replies and ledger events)."""
    return dt.datetime.fromtimestamp(int(epoch), BEIJING).isoformat()


def colour(open_issues: list[dict[str, Any]], now: float) -> tuple[str, float | None]:
    """D-DYM-COLOUR: (colour, when it took effect) from the open issues at ``now``."""
    if not open_issues:
        return "blue", None
    overdue = [i["deadline"] for i in open_issues if i["deadline"] < now]
    if overdue:
        return "red", min(overdue)
    return "yellow", max(i["reported"] for i in open_issues)


class DymPlatform(Platform):
    name = "dym"
    base_path = "/dym"
    spec_file = "dym/platform.yaml"
    title = "滇运码 Yunnan transport code platform (designed)"
    not_found_clause = "D-DYM-CODES 1002 接口不存在 (no such interface)"
    # Masked by keyed hash in the journal, reports and logs: app secrets, driver tokens and personal data (an ID number,
    # name, mobile, plate, an enterprise's unified code, the certificates' numbers and holders), as sealed at rest
    # (harness/dym/personal.py).
    secret_fields = frozenset(
        {
            *("secret", "driver_token", "capacity_code"),
            *("id_no", "mobile", "name", "account_no", "holder", "owner", "number"),
            *("plate", "trailer_plate", "plates", "uscc"),
        }
    )
    handlers = HANDLERS

    def __init__(self, store: Any, settings: Any) -> None:
        super().__init__(store, settings)
        rules.install(self.rules)
        self.codes: dict[str, dict[str, str]] = {str(k): v for k, v in self.spec["x-codes"].items()}
        self.clock: Callable[[], float] = time.time
        self.ledger = Ledger.open(store, personal=PERSONAL)
        self.waybill_key = self._key("waybill-qr")

    def _key(self, name: str) -> bytes:
        purpose = f"dym-key:{name}"  # harness.sealing: the platform's own keys are sealed at rest
        row = self.store.query_one("SELECT key FROM dym_keys WHERE name = ?", (name,))
        if row is not None:
            return sealing.unseal(self.store, row["key"], purpose)
        key = secrets.token_bytes(32)
        with self.store.transaction(changes_state=False) as conn:
            conn.execute(
                "INSERT OR IGNORE INTO dym_keys (name, key) VALUES (?, ?)", (name, sealing.seal(self.store, key, purpose).encode())
            )
            stored = conn.execute("SELECT key FROM dym_keys WHERE name = ?", (name,)).fetchone()[0]
        return sealing.unseal(self.store, stored, purpose)

    # -- envelope {code, msg, data} (D-DYM-ENVELOPE) -----------------------------------------------------------------
    def ok(self, data: Any = None) -> dict[str, Any]:
        reply: dict[str, Any] = {"code": "0", "msg": self.codes["0"]["msg"]}
        if data is not None:
            reply["data"] = data
        return reply

    def error(self, error: PlatformError) -> dict[str, Any]:
        code = str(error.code) if error.code is not None else KIND_CODES.get(error.kind, "9999")
        entry = self.codes.get(code, self.codes["9999"])
        reply: dict[str, Any] = {"code": code, "msg": f"{entry['msg']}: {error.summary}" if error.violations else entry["msg"]}
        if error.violations:
            reply["violations"] = [v.as_dict() for v in error.violations]
        return reply

    def reply_code(self, reply: Any) -> str | None:
        if isinstance(reply, dict) and isinstance(reply.get("code"), str) and "msg" in reply:
            return reply["code"]
        return None

    def reply_ok(self, reply: Any) -> bool:
        return isinstance(reply, dict) and reply.get("code") == "0"

    def fast_operations(self) -> dict[str, str]:
        return {self.base_path + path: item["post"]["operationId"].rsplit(".", 1)[-1] for path, item in self.spec["paths"].items()}

    # -- the gate (D-DYM-SIGN, D-DYM-TIMESTAMP, D-DYM-NONCE) --------------------------------------------------------
    def _app(self, app_id: Any) -> dict[str, Any] | None:
        if not isinstance(app_id, str):
            return None
        row = self.store.query_one("SELECT app_id, kind, name, secret FROM dym_apps WHERE app_id = ?", (app_id,))
        if row is None:
            return None
        return {**dict(row), "secret": admin.app_secret(self.store, row["secret"])}

    async def authenticate(self, ctx: ExchangeContext) -> None:
        # The signature is judged over the body as sent: Python's parser keeps integers of any size exact (orjson, the
        # fast path's, reads those beyond 64 bits as floats, which would change their text in the signing string).
        body = _parse(ctx.body)
        now = self.clock()
        app = self._app(body.get("app_id")) if isinstance(body, dict) else None
        seen = False
        if app is not None and isinstance(body.get("nonce"), str):
            seen = (
                self.store.query_one(
                    "SELECT 1 FROM dym_nonces WHERE app_id = ? AND nonce = ? AND at > ?",
                    (app["app_id"], body["nonce"], now - signing.NONCE_MEMORY),
                )
                is not None
            )
        gate = DymContext(ctx.operation or "", now, body, app=app, nonce_seen=seen, raw=ctx.body)
        self.gate(ctx, ctx.operation or "", gate, body)
        if app is None:  # no operation to gate (the router refuses the request)
            return
        ctx.extras["app"] = app
        ctx.exchange.vendor = app["app_id"] if app else None
        work = ctx.exchange.work
        work.write(
            "INSERT OR REPLACE INTO dym_nonces (app_id, nonce, at) VALUES (?, ?, ?)", (app["app_id"], body["nonce"], now), cached=True
        )
        if secrets.randbelow(64) == 0:  # forget nonces whose timestamps the window refuses anyway
            work.write("DELETE FROM dym_nonces WHERE at < ?", (now - signing.NONCE_MEMORY,), cached=True)

    # -- the operations ------------------------------------------------------------------------------------------------
    def answer(self, ctx: ExchangeContext, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        """Load what the rules need, enforce them (the first failure answers), then perform the operation."""
        now = self.clock()
        dctx = self._context(ctx, operation, body, now)
        self.enforce(ctx, operation, dctx, body)
        return getattr(self, f"_{operation}")(ctx, dctx, body)

    def _driver(self, code: str) -> dict[str, Any] | None:
        row = self.store.query_one("SELECT * FROM dym_drivers WHERE driver_code = ?", (code,))
        return personal.open_row(self.store, "dym_drivers", row) if row is not None else None

    def _vehicles(self, code: str) -> list[dict[str, Any]]:
        """The plates bound to driver ``code`` (opened), in plate order."""
        rows = self.store.query("SELECT plate, trailer_plate FROM dym_vehicles WHERE driver_code = ?", (code,))
        return sorted((personal.open_row(self.store, "dym_vehicles", r) for r in rows), key=lambda v: v["plate"])

    def _waybill(self, app_id: str, waybill_no: str) -> dict[str, Any] | None:
        row = self.store.query_one("SELECT * FROM dym_waybills WHERE app_id = ? AND waybill_no = ?", (app_id, waybill_no))
        return dict(row) if row is not None else None

    def _context(self, ctx: ExchangeContext, operation: str, body: dict[str, Any], now: float) -> DymContext:
        app = ctx.extras.get("app") or self._app(body.get("app_id"))
        d = DymContext(operation, now, body, app=app)
        code = signing.driver_of_qr(body["qr_content"]) if operation == "scan_verify" else (body.get("driver_code") or None)
        if operation == "driver_lookup":
            self._lookup(d, body)
        elif code is not None:
            d.driver_code, d.driver = code, self._driver(code)
        if operation == "driver_claim":
            index = personal.blind(self.store, "id_no", body["id_no"])
            d.claimed = self.store.query_one("SELECT 1 FROM dym_drivers WHERE id_no_bi = ?", (index,)) is not None
        elif operation == "enterprise_claim":
            index = personal.blind(self.store, "uscc", body["uscc"])
            d.claimed = self.store.query_one("SELECT 1 FROM dym_enterprises WHERE uscc_bi = ?", (index,)) is not None
        elif operation == "consent_grant":
            d.grantee = self._app(body["grantee"])
        elif operation == "consent_revoke":
            row = self.store.query_one("SELECT * FROM dym_consents WHERE consent_id = ? AND driver_code = ?", (body["consent_id"], code))
            d.consent = dict(row) if row is not None else None
        elif operation == "scan_verify" and d.driver is not None and app is not None:
            d.consents = self._live_consents(d.driver["driver_code"], app["app_id"], now)
        elif operation == "violation_handle":
            row = self.store.query_one("SELECT * FROM dym_issues WHERE issue_id = ?", (body["issue_id"],))
            d.issue = dict(row) if row is not None else None
        elif operation in ("waybill_push", "waybill_status", "waybill_qr") and app is not None:
            d.waybill = self._waybill(app["app_id"], body["waybill_no"])
        elif operation == "waybill_accept":
            d.waybill_ref, d.qr_problem = signing.open_waybill_qr(self.waybill_key, body["qr_content"], now)
            if d.waybill_ref is not None:
                d.waybill = self._waybill(*d.waybill_ref)
                if d.waybill is not None and d.waybill["status"] == "pushed" and self._claimed(*d.waybill_ref):
                    d.waybill = {**d.waybill, "status": "accepted"}  # answered to another driver, committing now
        return d

    # -- exclusive acceptance (D-DYM-WAYBILL) ------------------------------------------------------------------------------
    def _claimed(self, app_id: str, waybill_no: str) -> bool:
        row = self.store.query_one("SELECT at FROM dym_accept_claims WHERE app_id = ? AND waybill_no = ?", (app_id, waybill_no))
        return row is not None and row["at"] > time.time() - CLAIM_STALE

    def _claim(self, ctx: ExchangeContext, app_id: str, waybill_no: str) -> str | None:
        """Take the waybill's acceptance claim before answering "accepted", or None when another exchange (of this
        process or another one sharing the store) holds it or the waybill is no longer open. The claim is a row under a
        primary key, taken in its own short transaction that also re-reads the waybill's status; the exchange's commit
        deletes it with the acceptance it records, a rollback releases it."""
        holder = secrets.token_hex(12)
        now = time.time()
        with self.store.transaction(changes_state=False) as conn:
            row = conn.execute("SELECT status FROM dym_waybills WHERE app_id = ? AND waybill_no = ?", (app_id, waybill_no)).fetchone()
            if row is None or row[0] != "pushed":
                return None
            cur = conn.execute(
                "INSERT INTO dym_accept_claims (app_id, waybill_no, holder, at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (app_id, waybill_no) DO UPDATE SET holder = excluded.holder, at = excluded.at"
                " WHERE dym_accept_claims.at < ?",
                (app_id, waybill_no, holder, now, now - CLAIM_STALE),
            )
            if cur.rowcount != 1:
                return None

        def release() -> None:
            self.store.execute(
                "DELETE FROM dym_accept_claims WHERE app_id = ? AND waybill_no = ? AND holder = ?",
                (app_id, waybill_no, holder),
                changes_state=False,
            )

        ctx.exchange.work.on_rollback(release)
        return holder

    def _lookup(self, d: DymContext, body: dict[str, Any]) -> None:
        """driver/lookup: the key fields (id_no, mobile, plate) must all name the same one driver."""
        found: set[str] = set()
        for fld, sql in (
            ("id_no", "SELECT driver_code FROM dym_drivers WHERE id_no_bi = ?"),
            ("mobile", "SELECT driver_code FROM dym_drivers WHERE mobile_bi = ?"),
            ("plate", "SELECT driver_code FROM dym_vehicles WHERE plate_bi = ?"),
        ):
            if fld in body:
                codes = {r["driver_code"] for r in self.store.query(sql, (personal.blind(self.store, fld, body[fld]),))}
                if not codes:
                    d.lookup_problem = f"no driver holds a code under this {fld}"
                    return
                found = codes if not found else found & codes
                if not found:
                    d.lookup_problem = "the key fields name different drivers"
                    return
        if not found:
            d.lookup_problem = "no key field names a driver"
            return
        if len(found) > 1:
            # Two drivers may share a key field (a truck driven in turns, D-DYM-CAPACITY-CODE): the capacity code the
            # driver shows is their own, so it says which one is meant. None of theirs: the capacity rule answers 3005.
            drivers = {c: self._driver(c) for c in sorted(found)}
            shown = str(body.get("capacity_code", ""))
            mine = {c for c, drv in drivers.items() if drv is not None and signing.capacity_code_ok(drv["token_hash"], shown, d.now)}
            if len(mine) > 1:
                d.lookup_problem = "the key fields and the capacity code name more than one driver: give another key field"
                return
            found = mine or {min(found)}
        d.driver_code = found.pop()
        d.driver = self._driver(d.driver_code)

    def _live_consents(self, driver_code: str, grantee: str, now: float) -> list[dict[str, Any]]:
        rows = self.store.query(
            "SELECT consent_id, scope, expires FROM dym_consents WHERE driver_code = ? AND grantee = ? AND revoked IS NULL AND expires > ?",
            (driver_code, grantee, now),
        )
        return [{"consent_id": r["consent_id"], "scope": json.loads(r["scope"]), "expires": r["expires"]} for r in rows]

    # -- the ledger (D-DYM-LEDGER) ---------------------------------------------------------------------------------------
    def _append(self, conn: Any, subject_kind: str, subject: str, event: dict[str, Any]) -> None:
        """Inside the exchange's transaction: one ledger entry, a new signed checkpoint, the record's reference to it."""
        sequenced = self.ledger.append(conn, event)
        self.ledger.checkpoint(conn)
        conn.execute(
            "INSERT INTO dym_chain (subject_kind, subject, event, idx, attestation_id, at) VALUES (?, ?, ?, ?, ?, ?)",
            (subject_kind, subject, event["type"], sequenced.index, sequenced.attestation_id, sequenced.at),
        )

    def _chain(self, ctx: ExchangeContext, subject_kind: str, subject: str, event: dict[str, Any]) -> None:
        ctx.exchange.work.on_commit(lambda conn: self._append(conn, subject_kind, subject, event))

    def chain_of(self, subject_kind: str, subject: str) -> list[dict[str, Any]]:
        """The events put on chain for one record, each with its receipt and public entry (harness ledger verify)."""
        conn = self.store.new_connection()
        try:
            conn.execute("BEGIN")
            rows = conn.execute(
                "SELECT event, idx FROM dym_chain WHERE subject_kind = ? AND subject = ? ORDER BY idx", (subject_kind, subject)
            ).fetchall()
            out = []
            for event, idx in rows:
                out.append({"event": event, "receipt": self.ledger.receipt(conn, idx), "entry": self.ledger.entry(conn, idx).decode()})
            return out
        finally:
            conn.rollback()
            conn.close()

    # -- colours (D-DYM-COLOUR) ------------------------------------------------------------------------------------------
    def _open_issues(self, driver_code: str) -> list[dict[str, Any]]:
        rows = self.store.query("SELECT * FROM dym_issues WHERE driver_code = ? AND handled IS NULL ORDER BY reported", (driver_code,))
        return [dict(r) for r in rows]

    def _recolour(self, ctx: ExchangeContext, driver: dict[str, Any], open_issues: list[dict[str, Any]], now: float) -> str:
        """The driver's colour now; a change from the stored one is recorded and put on chain exactly once (the update
        is conditional on the colour it replaces, inside the commit)."""
        new, effective = colour(open_issues, now)
        old = driver["status"]
        if new != old:
            code = driver["driver_code"]
            when = effective if effective is not None else now
            event = {
                "type": "code.status",
                "driver_code": code,
                "from": old,
                "to": new,
                "effective_at": iso(when),
                "open_issues": len(open_issues),
            }

            def change(conn: Any) -> None:
                cur = conn.execute(
                    "UPDATE dym_drivers SET status = ?, status_at = ? WHERE driver_code = ? AND status = ?", (new, when, code, old)
                )
                if cur.rowcount:
                    self._append(conn, "driver", code, event)

            ctx.exchange.work.on_commit(change)
        return new

    def _status_data(self, driver: dict[str, Any], open_issues: list[dict[str, Any]], status: str, now: float) -> dict[str, Any]:
        return {
            "driver_code": driver["driver_code"],
            "status": status,
            "issues": [
                {
                    "issue_id": i["issue_id"],
                    "kind": i["kind"],
                    "description": i["description"],
                    "deadline": iso(i["deadline"]),
                    "overdue": i["deadline"] < now,
                }
                for i in open_issues
            ],
        }

    # -- handlers' bodies ------------------------------------------------------------------------------------------------
    def _driver_claim(self, ctx: ExchangeContext, d: DymContext, body: dict[str, Any]) -> dict[str, Any]:
        code = "DYMD" + secrets.token_hex(8).upper()
        token = secrets.token_urlsafe(32)
        id_no = body["id_no"].upper()
        work = ctx.exchange.work
        st, t = self.store, "dym_drivers"
        work.write(
            "INSERT OR IGNORE INTO dym_drivers (driver_code, app_id, id_no, id_no_bi, name, mobile, mobile_bi, plate, token_hash,"
            " status, status_at, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'blue', ?, ?)",
            (
                code,
                d.app["app_id"],
                personal.seal(st, t, "id_no", id_no),  # personal data sealed at rest (harness/dym/personal.py)
                personal.blind(st, "id_no", id_no),
                personal.seal(st, t, "name", body["name"]),
                personal.seal(st, t, "mobile", body["mobile"]),
                personal.blind(st, "mobile", body["mobile"]),
                personal.seal(st, t, "plate", body["plate"]),
                signing.token_hash(token),
                d.now,
                d.now,
            ),
        )
        work.write(
            "INSERT OR IGNORE INTO dym_vehicles (driver_code, plate, plate_bi, bound) VALUES (?, ?, ?, ?)",
            (code, personal.seal(st, "dym_vehicles", "plate", body["plate"]), personal.blind(st, "plate", body["plate"]), d.now),
        )
        self._chain(
            ctx,
            "driver",
            code,
            {
                "type": "code.claimed",
                "driver_code": code,
                "app_id": d.app["app_id"],
                "status": "blue",
                "at": iso(d.now),
                "id_no": id_no,
                "name": body["name"],
                "mobile": body["mobile"],
                "plate": body["plate"],
            },
        )
        return self.ok({"driver_code": code, "qr_content": signing.DRIVER_QR + code, "driver_token": token, "status": "blue"})

    def _enterprise_claim(self, ctx: ExchangeContext, d: DymContext, body: dict[str, Any]) -> dict[str, Any]:
        code = "DYME" + secrets.token_hex(8).upper()
        st, t = self.store, "dym_enterprises"
        ctx.exchange.work.write(
            "INSERT OR IGNORE INTO dym_enterprises (enterprise_code, app_id, uscc, uscc_bi, name, mobile, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                code,
                d.app["app_id"],
                personal.seal(st, t, "uscc", body["uscc"]),
                personal.blind(st, "uscc", body["uscc"]),
                personal.seal(st, t, "name", body["name"]),
                personal.seal(st, t, "mobile", body["mobile"]),
                d.now,
            ),
        )
        event = {"type": "enterprise.claimed", "enterprise_code": code, "uscc": body["uscc"], "name": body["name"], "at": iso(d.now)}
        self._chain(ctx, "enterprise", code, event)
        return self.ok({"enterprise_code": code, "qr_content": signing.ENTERPRISE_QR + code})

    def _vehicle_bind(self, ctx: ExchangeContext, d: DymContext, body: dict[str, Any]) -> dict[str, Any]:
        code, plate, trailer = d.driver_code, body["plate"], body.get("trailer_plate")
        st, t, index = self.store, "dym_vehicles", personal.blind(self.store, "plate", plate)
        # One row per (driver, plate): a plate bound again replaces its row (the sealed plate differs each time, so the
        # row is found by its blind index).
        ctx.exchange.work.write("DELETE FROM dym_vehicles WHERE driver_code = ? AND plate_bi = ?", (code, index))
        ctx.exchange.work.write(
            "INSERT INTO dym_vehicles (driver_code, plate, plate_bi, trailer_plate, bound) VALUES (?, ?, ?, ?, ?)",
            (code, personal.seal(st, t, "plate", plate), index, personal.seal(st, t, "trailer_plate", trailer), d.now),
        )
        event = {"type": "vehicle.bound", "driver_code": code, "plate": plate, "trailer_plate": trailer, "at": iso(d.now)}
        self._chain(ctx, "driver", code, event)
        held = {v["plate"]: v["trailer_plate"] for v in self._vehicles(code)}
        held[plate] = trailer
        return self.ok({"driver_code": code, "vehicles": [{"plate": p, "trailer_plate": t} for p, t in sorted(held.items())]})

    def _code_status(self, ctx: ExchangeContext, d: DymContext, body: dict[str, Any]) -> dict[str, Any]:
        issues = self._open_issues(d.driver_code)
        status = self._recolour(ctx, d.driver, issues, d.now)
        return self.ok(self._status_data(d.driver, issues, status, d.now))

    def _violation_report(self, ctx: ExchangeContext, d: DymContext, body: dict[str, Any]) -> dict[str, Any]:
        issue = {
            "issue_id": "DYMV" + secrets.token_hex(8),
            "driver_code": d.driver_code,
            "kind": body["kind"],
            "description": body["description"],
            "reported": d.now,
            "deadline": float(body["deadline"]),
            "handled": None,
        }
        ctx.exchange.work.write(
            "INSERT INTO dym_issues (issue_id, driver_code, kind, description, reported, deadline) VALUES (?, ?, ?, ?, ?, ?)",
            (issue["issue_id"], issue["driver_code"], issue["kind"], issue["description"], issue["reported"], issue["deadline"]),
        )
        issues = [*self._open_issues(d.driver_code), issue]
        status = self._recolour(ctx, d.driver, issues, d.now)
        return self.ok({"issue_id": issue["issue_id"], **self._status_data(d.driver, issues, status, d.now)})

    def _violation_handle(self, ctx: ExchangeContext, d: DymContext, body: dict[str, Any]) -> dict[str, Any]:
        issue_id = body["issue_id"]
        ctx.exchange.work.write("UPDATE dym_issues SET handled = ? WHERE issue_id = ? AND handled IS NULL", (d.now, issue_id))
        driver = self._driver(d.issue["driver_code"])
        issues = [i for i in self._open_issues(driver["driver_code"]) if i["issue_id"] != issue_id]
        status = self._recolour(ctx, driver, issues, d.now)
        return self.ok({"issue_id": issue_id, **self._status_data(driver, issues, status, d.now)})

    def _consent_grant(self, ctx: ExchangeContext, d: DymContext, body: dict[str, Any]) -> dict[str, Any]:
        consent_id = "DYMC" + secrets.token_hex(8)
        expires = int(d.now) + body["ttl_seconds"]
        scope = [s for s in CERTIFICATE_ITEMS if s in body["scope"]]
        ctx.exchange.work.write(
            "INSERT INTO dym_consents (consent_id, driver_code, grantee, scope, granted, expires) VALUES (?, ?, ?, ?, ?, ?)",
            (consent_id, d.driver_code, body["grantee"], json.dumps(scope), d.now, expires),
        )
        event = {
            "type": "consent.granted",
            "consent_id": consent_id,
            "driver_code": d.driver_code,
            "grantee": body["grantee"],
            "scope": scope,
            "at": iso(d.now),
            "expires_at": iso(expires),
        }
        self._chain(ctx, "driver", d.driver_code, event)
        return self.ok({"consent_id": consent_id, "grantee": body["grantee"], "scope": scope, "expires_at": iso(expires)})

    def _consent_revoke(self, ctx: ExchangeContext, d: DymContext, body: dict[str, Any]) -> dict[str, Any]:
        consent_id = body["consent_id"]
        ctx.exchange.work.write("UPDATE dym_consents SET revoked = ? WHERE consent_id = ? AND revoked IS NULL", (d.now, consent_id))
        event = {"type": "consent.revoked", "consent_id": consent_id, "driver_code": d.driver_code, "at": iso(d.now)}
        self._chain(ctx, "driver", d.driver_code, event)
        return self.ok({"consent_id": consent_id, "revoked_at": iso(d.now)})

    def _scan_verify(self, ctx: ExchangeContext, d: DymContext, body: dict[str, Any]) -> dict[str, Any]:
        status = self._recolour(ctx, d.driver, self._open_issues(d.driver_code), d.now)
        fields = [f for f in CERTIFICATE_ITEMS if f in body["fields"]]
        consent_ids = sorted(c["consent_id"] for c in d.consents if set(c["scope"]) & set(fields))
        vehicles = self._vehicles(d.driver_code)
        certificates = {f: certificate(f, d.driver, vehicles) for f in fields}
        event = {
            "type": "verification",
            "driver_code": d.driver_code,
            "by": d.app["app_id"],
            "fields": fields,
            "consent_ids": consent_ids,
            "status": status,
            "at": iso(d.now),
        }
        self._chain(ctx, "driver", d.driver_code, event)
        return self.ok({"driver_code": d.driver_code, "status": status, "consent_ids": consent_ids, "certificates": certificates})

    def _driver_lookup(self, ctx: ExchangeContext, d: DymContext, body: dict[str, Any]) -> dict[str, Any]:
        status = self._recolour(ctx, d.driver, self._open_issues(d.driver_code), d.now)
        recent = self.store.query_one(
            "SELECT count(*) AS n FROM dym_issues WHERE driver_code = ? AND reported > ?", (d.driver_code, d.now - CREDIT_YEAR)
        )["n"]
        rating = {"red": "D", "yellow": "C"}.get(status, "B" if recent else "A")
        plates = [v["plate"] for v in self._vehicles(d.driver_code)]
        return self.ok(
            {
                "driver_code": d.driver_code,
                "name": conceal_name(d.driver["name"]),
                "plates": plates,
                "status": status,
                "credit_rating": rating,
            }
        )

    def _waybill_push(self, ctx: ExchangeContext, d: DymContext, body: dict[str, Any]) -> dict[str, Any]:
        app_id, no = d.app["app_id"], body["waybill_no"]
        exp = int(d.now) + body.get("qr_ttl_seconds", DEFAULT_QR_TTL)
        details = {k: body[k] for k in ("origin", "destination", "goods", "weight_kg")}
        ctx.exchange.work.write(
            "INSERT OR IGNORE INTO dym_waybills (app_id, waybill_no, kind, driver_code, details, status, qr_expires, created)"
            " VALUES (?, ?, ?, ?, ?, 'pushed', ?, ?)",
            (app_id, no, body["kind"], body.get("driver_code") or None, json.dumps(details, ensure_ascii=False), exp, d.now),
        )
        event = {
            "type": "waybill.pushed",
            "app_id": app_id,
            "waybill_no": no,
            "kind": body["kind"],
            "driver_code": body.get("driver_code") or None,
            **details,
            "at": iso(d.now),
        }
        self._chain(ctx, "waybill", f"{app_id}/{no}", event)
        qr = signing.waybill_qr(self.waybill_key, app_id, no, exp)
        return self.ok({"waybill_no": no, "kind": body["kind"], "status": "pushed", "qr_content": qr, "qr_expires_at": iso(exp)})

    def _waybill_accept(self, ctx: ExchangeContext, d: DymContext, body: dict[str, Any]) -> dict[str, Any]:
        w, code = d.waybill, d.driver_code
        holder = self._claim(ctx, w["app_id"], w["waybill_no"])
        if holder is None:  # another driver's acceptance was answered first (DYM-WAYBILL-STATE, as the rule answers it)
            rule = self.rules.get("DYM-WAYBILL-STATE")
            message = "the waybill was accepted by another driver a moment ago, no longer open for acceptance"
            violation = Violation(rule.id, rule.clause, message, "qr_content", decision=rule.decision)
            raise PlatformError(ErrorKind.FAILED, [violation], code=self.rules.codes.get(rule.id, "4004"))
        event = {"type": "waybill.accepted", "app_id": w["app_id"], "waybill_no": w["waybill_no"], "driver_code": code, "at": iso(d.now)}

        def accept(conn: Any) -> None:
            conn.execute(
                "DELETE FROM dym_accept_claims WHERE app_id = ? AND waybill_no = ? AND holder = ?", (w["app_id"], w["waybill_no"], holder)
            )
            cur = conn.execute(
                "UPDATE dym_waybills SET status = 'accepted', accepted_by = ?, accepted = ? WHERE app_id = ? AND waybill_no = ? AND status = 'pushed'",
                (code, d.now, w["app_id"], w["waybill_no"]),
            )
            if cur.rowcount:
                self._append(conn, "waybill", f"{w['app_id']}/{w['waybill_no']}", event)

        ctx.exchange.work.on_commit(accept)
        details = json.loads(w["details"])
        return self.ok({"waybill_no": w["waybill_no"], "kind": w["kind"], "status": "accepted", "driver_code": code, **details})

    def _waybill_status(self, ctx: ExchangeContext, d: DymContext, body: dict[str, Any]) -> dict[str, Any]:
        w = d.waybill
        return self.ok(
            {
                "waybill_no": w["waybill_no"],
                "kind": w["kind"],
                "status": w["status"],
                "driver_code": w["accepted_by"] or w["driver_code"],
                **json.loads(w["details"]),
                "chain": self.chain_of("waybill", f"{w['app_id']}/{w['waybill_no']}"),
            }
        )

    def _waybill_qr(self, ctx: ExchangeContext, d: DymContext, body: dict[str, Any]) -> dict[str, Any]:
        w = d.waybill
        exp = max(int(d.now) + DEFAULT_QR_TTL, w["qr_expires"])
        ctx.exchange.work.write(
            "UPDATE dym_waybills SET qr_expires = ? WHERE app_id = ? AND waybill_no = ?", (exp, w["app_id"], w["waybill_no"])
        )
        qr = signing.waybill_qr(self.waybill_key, w["app_id"], w["waybill_no"], exp)
        return self.ok({"waybill_no": w["waybill_no"], "qr_content": qr, "qr_expires_at": iso(exp)})


def _parse(body: bytes) -> Any:
    """The body as the gate reads it, or None for one that is no JSON text. A lone surrogate escape (``"\\ud800"``)
    is no text either (harness.limits.UNICODE_CLAUSE): read into an app_id or nonce it made the store lookup raise."""
    try:
        document = json.loads(body)
        if b"\\u" in body:
            limits.check_unicode(document)
    except (ValueError, UnicodeDecodeError):
        return None
    return document


def _digits(seed: str, n: int) -> str:
    """n digits derived from ``seed``: synthetic certificate numbers that stay the same for a driver."""
    return str(int(hashlib.sha256(seed.encode("utf-8")).hexdigest(), 16))[:n]


def certificate(item: str, driver: dict[str, Any], vehicles: list[dict[str, Any]]) -> dict[str, Any]:
    """One of the eight items of D-DYM-CERTIFICATES, synthetic data derived from the claim."""
    code, name, plate = driver["driver_code"], driver["name"], driver["plate"]
    until = "2030-12-31"
    return {
        "qualification": {"number": driver["id_no"], "holder": name, "category": "道路货物运输驾驶员", "valid_until": until},
        "transport_permit": {"number": "云交运管货字" + _digits(code + "tp", 12), "plate": plate, "valid_until": until},
        "business_licence": {"number": "云交运管许可货字" + _digits(code + "bl", 12), "holder": name, "scope": "道路普通货物运输"},
        "id_card": {"id_no": driver["id_no"], "name": name},
        "driving_licence": {"number": driver["id_no"], "holder": name, "class": "A2", "valid_until": until},
        "vehicle_licence": {"plates": [v["plate"] for v in vehicles] or [plate], "owner": name, "vehicle_type": "重型半挂牵引车"},
        "bank_account": {"bank": "中国农业银行云南省分行", "account_no": "6228" + _digits(code + "ba", 15), "holder": name},
        "insurance_policy": {
            "number": "PDAA" + _digits(code + "ip", 16),
            "insurer": "中国人民财产保险股份有限公司",
            "plate": plate,
            "valid_until": until,
        },
    }[item]
