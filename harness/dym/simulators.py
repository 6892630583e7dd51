"""Two DYM clients, pointable at the harness or at any other implementation of the designed API (docs/dym.md):

* :class:`DriverApp` — a carrier app (运力APP, 004 §二(二)3) acting for one driver: claims the driver's code (or adopts
  the one an enterprise claimed), binds a vehicle, computes the capacity verification code, grants and revokes consent,
  accepts a waybill by scanning its QR. Every driver-side act carries the driver's own token (D-DYM-DRIVER-TOKEN).
* :class:`Tms` — a logistics enterprise's TMS (004 §二(二)2): claims its own code and its drivers' codes, looks a driver
  up by one key field and the capacity code, obtains the driver's consent through the driver's app before every
  verification, scans the driver's code for exactly the items consented to, pushes exclusive and public waybills and
  shares their QR codes with the drivers' apps, follows their status.

``Tms.scenario`` is the conforming session ``harness dym tms`` runs and the dym-enterprise-client role's tests grade.
``defects`` plant one departure from the design at a time (:data:`DEFECTS`; examples/defects/dym-enterprise-client.yaml).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import random
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness.dym import ids, signing
from harness.specs import load_spec

# Each defect and the check of dym-enterprise-client it must break (FAILED, or WARNING for a SHOULD check).
DEFECTS = {
    "verify-without-consent": "the TMS scans a driver's code before the driver consented",
    "wide-consent": "the TMS asks the driver to consent to all eight items and then verifies two",
    "lookup-all-keys": "the TMS looks a driver up by ID number, mobile and plate where one key field is enough",
    "push-twice": "the TMS pushes the same waybill number twice",
    "status-before-push": "the TMS asks for the status of a waybill it has not pushed",
    "qr-after-accept": "the TMS asks for a fresh QR of a waybill already accepted",
    "forged-waybill-qr": "the TMS shares a waybill code it built itself instead of the one the push answered",
    "stale-timestamp": "one call carries a timestamp 400 s old",
    "ms-timestamp": "one call carries its timestamp in milliseconds",
    "reuse-nonce": "one call reuses the nonce of the call before it",
    "bad-sign": "one call is signed over a signing string that includes an empty field",
    "uppercase-sign": "every call's sign is written in uppercase hex",
    "bad-id-check": "the TMS claims a driver code with an ID number whose check digit is wrong",
    "no-verification": "the TMS claims codes and pushes waybills but never verifies a driver (no lookup, no scan)",
}
CONSENT_TTL = 600  # seconds: long enough for one dispatch
VERIFY_ITEMS = ("qualification", "vehicle_licence")  # what a dispatch needs to check (D-DYM-CERTIFICATES)
ALL_ITEMS = (
    "qualification",
    "transport_permit",
    "business_licence",
    "id_card",
    "driving_licence",
    "vehicle_licence",
    "bank_account",
    "insurance_policy",
)


def operation_paths() -> dict[str, str]:
    """operation → path under the platform's base path (from specs/dym/platform.yaml)."""
    return {item["post"]["operationId"].rsplit(".", 1)[-1]: path for path, item in load_spec("dym/platform.yaml")["paths"].items()}


Send = Callable[[str, dict[str, Any]], dict[str, Any]]  # (path under the base, signed body) → reply document


def http_sender(target: str, *, timeout: float = 10.0, client: httpx.Client | None = None) -> Send:
    """POST to ``target`` + path (``target`` is the base: ``http://host:port/dym`` or a session's ``…/_session/<id>/dym``)."""
    http = client or httpx.Client(timeout=timeout)
    base = target.rstrip("/")

    def send(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = http.post(base + path, json=body)
        try:
            reply = response.json()
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            return {"code": f"HTTP {response.status_code}", "msg": response.text[:200]}
        return reply

    return send


@dataclass
class Caller:
    """One registered app's signed client (D-DYM-SIGN, D-DYM-TIMESTAMP, D-DYM-NONCE)."""

    send: Send
    app_id: str
    secret: str
    clock: Callable[[], float] = time.time
    defects: frozenset[str] = frozenset()
    calls: int = 0
    _last_nonce: str | None = None
    _paths: dict[str, str] = field(default_factory=operation_paths)

    def call(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        """Sign and send one call. A signing defect spoils the app's third call once; the client then sends it again,
        signed properly, as a client retrying after a refusal would."""
        self.calls += 1
        path = self._paths[operation]
        if self.calls == 3 and self.defects & {"reuse-nonce", "stale-timestamp", "ms-timestamp", "bad-sign"}:
            self.send(path, self._spoiled(body))
        document = signing.signed(body, self.app_id, self.secret, now=self.clock())
        if "uppercase-sign" in self.defects:
            document["sign"] = document["sign"].upper()
        self._last_nonce = document["nonce"]
        return self.send(path, document)

    def _spoiled(self, body: dict[str, Any]) -> dict[str, Any]:
        now, nonce = self.clock(), None
        if "reuse-nonce" in self.defects:
            nonce = self._last_nonce
        if "stale-timestamp" in self.defects:
            now -= 400
        if "ms-timestamp" in self.defects:
            now *= 1000
        document = signing.signed(body, self.app_id, self.secret, now=now, nonce=nonce)
        if "bad-sign" in self.defects:  # the empty field left in the signing string (D-DYM-SIGN leaves it out)
            document["remark"] = ""
            text = "&".join(f"{k}={signing._text(document[k])}" for k in sorted(document) if k != "sign")
            document["sign"] = hmac.new(self.secret.encode(), text.encode(), hashlib.sha256).hexdigest()
        return document


def identity(rng: random.Random) -> dict[str, str]:
    """A synthetic driver: an ID number with a valid GB 11643 check digit, a mobile, a Yunnan plate."""
    born = dt.date(1970, 1, 1) + dt.timedelta(days=rng.randrange(365 * 30))
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    plate = "云" + rng.choice("ACDEFGHJKLMNPQRS") + "".join(rng.choice(letters + "0123456789") for _ in range(4)) + str(rng.randrange(10))
    surname, given = rng.choice("张李王赵刘陈杨黄"), rng.choice(["海峰", "文华", "建国", "丽娟", "志强", "云飞"])
    return {
        "id_no": ids.make_id("5325" + f"{rng.randrange(1, 30):02d}", born, rng.randrange(1, 999)),
        "name": surname + given,
        "mobile": "13" + "".join(str(rng.randrange(10)) for _ in range(9)),
        "plate": plate,
    }


class ClientError(RuntimeError):
    """A step of the scenario answered something other than success where success was expected."""


def _ok(reply: dict[str, Any], what: str) -> dict[str, Any]:
    if reply.get("code") != "0":
        raise ClientError(f"{what}: code {reply.get('code')} {str(reply.get('msg', ''))[:160]}")
    return reply.get("data") or {}


@dataclass
class DriverApp:
    """A carrier app acting for one driver (the driver's token never leaves it but for the enterprise that claimed it)."""

    caller: Caller
    person: dict[str, str]
    code: str | None = None
    token: str | None = None
    qr: str | None = None

    def claim(self) -> None:
        data = _ok(self.caller.call("driver_claim", self.person), "driver claim")
        self.adopt(data["driver_code"], data["driver_token"], data["qr_content"])

    def adopt(self, code: str, token: str, qr: str) -> None:
        self.code, self.token, self.qr = code, token, qr

    def _mine(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"driver_code": self.code, "driver_token": self.token, **body}

    def bind(self, plate: str, trailer: str | None = None) -> dict[str, Any]:
        body = {"plate": plate, **({"trailer_plate": trailer} if trailer else {})}
        return _ok(self.caller.call("vehicle_bind", self._mine(body)), "vehicle bind")

    def capacity_code(self) -> str:
        return signing.capacity_code(signing.token_hash(self.token or ""), self.caller.clock())

    def grant(self, grantee: str, scope: Iterable[str], ttl: int = CONSENT_TTL) -> str:
        reply = self.caller.call("consent_grant", self._mine({"grantee": grantee, "scope": list(scope), "ttl_seconds": ttl}))
        return _ok(reply, "consent grant")["consent_id"]

    def revoke(self, consent_id: str) -> dict[str, Any]:
        return _ok(self.caller.call("consent_revoke", self._mine({"consent_id": consent_id})), "consent revoke")

    def accept(self, waybill_qr: str) -> dict[str, Any]:
        """Scan a waybill QR and accept it (the reply as answered: a public waybill may already be taken)."""
        return self.caller.call("waybill_accept", self._mine({"qr_content": waybill_qr}))


@dataclass
class Tms:
    """A logistics enterprise's TMS; ``defects`` (names of :data:`DEFECTS`) plant departures from the design."""

    caller: Caller
    name: str = "滇中物流有限公司"
    uscc: str | None = None
    defects: frozenset[str] = frozenset()
    log: list[str] = field(default_factory=list)

    def _note(self, line: str) -> None:
        self.log.append(line)

    def claim_enterprise(self) -> str | None:
        if self.uscc is None:
            return None
        reply = self.caller.call("enterprise_claim", {"uscc": self.uscc, "name": self.name, "mobile": "13800880000"})
        if reply.get("code") == "3002":  # the enterprise already holds its code
            return None
        return _ok(reply, "enterprise claim")["enterprise_code"]

    def claim_driver(self, app: DriverApp) -> None:
        """Claim a code for one of the enterprise's drivers (004 §一(二)2) and hand its token to the driver's app."""
        person = dict(app.person)
        if "bad-id-check" in self.defects:
            last = person["id_no"][-1]
            wrong = "0" if last != "0" else "1"
            reply = self.caller.call("driver_claim", {**person, "id_no": person["id_no"][:-1] + wrong})
            self._note(f"claim with a wrong check digit: {reply.get('code')}")
        data = _ok(self.caller.call("driver_claim", person), "driver claim")
        app.adopt(data["driver_code"], data["driver_token"], data["qr_content"])

    def lookup(self, app: DriverApp) -> dict[str, Any]:
        """One key field (the mobile) and the capacity code the driver's app shows (004 §二(二)2(1))."""
        body: dict[str, Any] = {"mobile": app.person["mobile"], "capacity_code": app.capacity_code()}
        if "lookup-all-keys" in self.defects:
            body |= {"id_no": app.person["id_no"], "plate": app.person["plate"]}
        return _ok(self.caller.call("driver_lookup", body), "driver lookup")

    def verify(self, app: DriverApp, items: Iterable[str] = VERIFY_ITEMS) -> dict[str, Any]:
        """Ask the driver's app for consent to exactly the items needed, then scan the driver's code for them."""
        items = list(items)
        if "verify-without-consent" in self.defects:
            reply = self.caller.call("scan_verify", {"qr_content": app.qr, "fields": items})
            self._note(f"scan without consent: {reply.get('code')}")
        scope = ALL_ITEMS if "wide-consent" in self.defects else items
        consent_id = app.grant(self.caller.app_id, scope)
        data = _ok(self.caller.call("scan_verify", {"qr_content": app.qr, "fields": items}), "scan verify")
        app.revoke(consent_id)  # the dispatch is checked: the driver withdraws the consent
        return data

    def push(self, waybill_no: str, *, driver: DriverApp | None = None) -> str:
        body: dict[str, Any] = {
            "waybill_no": waybill_no,
            "kind": "exclusive" if driver else "public",
            "origin": "昆明市官渡区",
            "destination": "红河州蒙自市",
            "goods": "水泥",
            "weight_kg": 31000,
        }
        if driver is not None:
            body["driver_code"] = driver.code
        data = _ok(self.caller.call("waybill_push", body), "waybill push")
        if "push-twice" in self.defects:
            self._note(f"pushed twice: {self.caller.call('waybill_push', body).get('code')}")
        qr = data["qr_content"]
        if "forged-waybill-qr" in self.defects:
            head, _, tag = qr.rpartition(".")
            qr = f"{head}.{'A' * len(tag)}" if tag != "A" * len(tag) else f"{head}.{'B' * len(tag)}"
        return qr

    def status(self, waybill_no: str) -> dict[str, Any]:
        return _ok(self.caller.call("waybill_status", {"waybill_no": waybill_no}), "waybill status")

    def scenario(self, drivers: list[DriverApp], *, prefix: str | None = None) -> dict[str, Any]:
        """The conforming session: the enterprise's code; one driver claimed by the TMS, the other by its own app;
        vehicles bound; a lookup and a consented verification per driver; an exclusive waybill for the first driver and
        a public one taken by the second; the status of both with their ledger receipts."""
        if len(drivers) < 2:
            raise ValueError("the scenario needs two drivers' apps")
        prefix = prefix or "WB-" + secrets.token_hex(4).upper()
        self.claim_enterprise()
        first, second = drivers[0], drivers[1]
        self.claim_driver(first)
        second.claim()
        for app in drivers:
            app.bind(app.person["plate"])
        for app in drivers:
            if "no-verification" in self.defects:
                break
            self.lookup(app)
            self.verify(app)
        exclusive, public = f"{prefix}-001", f"{prefix}-002"
        if "status-before-push" in self.defects:
            self._note(f"status before push: {self.caller.call('waybill_status', {'waybill_no': exclusive}).get('code')}")
        qr1 = self.push(exclusive, driver=first)
        qr2 = self.push(public)
        taken = first.accept(qr1)
        self._note(f"{exclusive} accepted by its driver: {taken.get('code')}")
        taken = second.accept(qr2)
        self._note(f"{public} accepted: {taken.get('code')}")
        out = {"waybills": {}, "log": self.log}
        for no in (exclusive, public):
            try:
                out["waybills"][no] = self.status(no)
            except ClientError as exc:
                self._note(str(exc))
        if "qr-after-accept" in self.defects:
            self._note(f"qr after accept: {self.caller.call('waybill_qr', {'waybill_no': exclusive}).get('code')}")
        return out
