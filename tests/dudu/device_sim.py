"""A small deterministic DUDU device backend, the conforming reference the dudu-device-backend defects are planted in.

One device against the in-process ``harness serve`` (fixtures.dudu.AsgiClient), on a virtual clock: it heartbeats
every 5 s, fetches what the heartbeat says changed (card list full then incremental, line list, key group: 003 §3.1 →
§4.1, §4.4, §5.2), checks a card and a ticket online, goes offline twice and decides swipes and scans from the lists
and keys it holds, numbering every offline event (D-DUDU-OFFLINE-SEQ) and logging each with the seed's status (003
§4.3, §5.4). Between the two offline spells the platform goes down (a ``down`` drill fault, harness/faults.py): the
device's heartbeats and online checks are not answered, so it decides that swipe and scan offline and logs them once
the platform is back; then the enterprise whitelist changes and the key group rotates. After the session the
journal's times are set to the virtual clock, so that cadence is graded as the device kept it.

``session(client, store, defect)`` plays it with one planted defect (a name of :data:`DEFECTS`) or none.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from fixtures import dudu as fx
from harness import faults
from harness.dudu import admin, qr
from harness.dudu.rules import BEIJING
from harness.store import Store

DEFECTS = (
    "late-heartbeats",  # heartbeats 30 s apart where the platform asked for 5 s
    "drop-log",  # never sends the log of its second offline event
    "reuse-seq",  # numbers two different offline swipes with the same seq
    "no-list-refresh",  # ignores a changed whitelist version
    "no-key-refresh",  # ignores a key rotation
    "silent-no-key-refresh",  # ignores a key rotation and never reports key_version_code (the seed's §3.1 has none)
    "accept-unlisted-card",  # accepts offline a card its whitelist does not hold
    "blacklisted-as-unlisted",  # logs a refused blacklisted card with status 1 instead of 2
    "accept-forged-ticket",  # accepts offline a ticket no key of its group signed
    "refuse-valid-ticket",  # refuses offline a ticket valid under the group it holds
    "bad-time",  # sends an online card check whose time is not a calendar time
    "drop-outage-swipes",  # forgets a swipe and a scan the platform did not answer while it was down
    "drop-outage-swipe-card-seen-again",  # forgets them too; the same card is swiped (and logged) again later
)
# Not defects: forms the seed allows, which must pass (with a WARNING where the harness advises otherwise).
VARIANTS = (
    "seed-only",  # no seq in offline logs, no offline_seq / key_version_code in heartbeats (003 §4.3, §3.1 name none)
    "lazy-lists",  # fetches a changed card list only at the third heartbeat after the change (the seed sets no deadline)
)
UNKNOWN_CARD = "99999999"
BLACKLISTED = "00070000"
NEW_CARD = "00080000"


class Device:
    def __init__(self, client: fx.AsgiClient, store: Store, defect: str | None = None, device_id: str = fx.DEVICE) -> None:
        if defect is not None and defect not in DEFECTS + VARIANTS:
            raise ValueError(f"unknown defect {defect!r}")
        self.pending_fetch = 0  # lazy-lists: heartbeats to go before a changed list is fetched
        self.client, self.store, self.defect, self.device_id = client, store, defect, device_id
        self.clock = time.time() - 3600.0  # virtual: the session happened an hour ago
        self.times: list[float] = []
        self.token = ""
        self.versions = {"all": "0", "add": "0", "line": "0", "keys": ""}
        self.cards: dict[str, int] = {}
        self.line: dict[str, int] = {}
        self.keys: dict[int, str] = {}
        self.config: dict[str, Any] = {}
        self.seq = 0
        self.reused = False
        self.queue: list[tuple[str, dict[str, Any]]] = []

    # -- plumbing -----------------------------------------------------------------------------------------------------
    def post(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        self.times.append(self.clock)
        return self.client.post(operation, body)

    def attempt(self, operation: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """A call the platform may not answer (an outage): the reply, or None when it is not the platform's answer."""
        self.times.append(self.clock)
        response = self.client.raw("POST", f"/dudu/{operation}", json=body)
        try:
            reply = response.json()
        except ValueError:
            return None
        return reply if response.status_code == 200 and reply.get("ret_code") != 1099 else None

    def now_text(self) -> str:
        return fx.device_time(dt.datetime.fromtimestamp(self.clock, BEIJING))

    def wait(self, seconds: float) -> None:
        self.clock += seconds

    # -- behaviour ----------------------------------------------------------------------------------------------------
    def get_token(self) -> None:
        reply = self.post("get_token", {"req_id": self.device_id, "enterprise_id": fx.ENTERPRISE, "secret": fx.SECRET})
        self.token = reply["token"]

    def heartbeat(self) -> dict[str, Any]:
        body = fx.heartbeat(
            self.device_id,
            time=self.now_text(),
            version_code_all=self.versions["all"],
            version_code_add=self.versions["add"],
            line_version_code_all=self.versions["line"],
            offline_seq=self.seq,
        )
        if self.versions["keys"]:
            body["key_version_code"] = self.versions["keys"]
        if self.defect == "seed-only":
            body.pop("offline_seq", None)
            body.pop("key_version_code", None)
        if self.defect == "silent-no-key-refresh":
            body.pop("key_version_code", None)
        reply = self.post("location_report", body)
        assert reply["ret_code"] == 0, reply
        self.config = {k: reply[k] for k in ("white_mode", "is_line_white", "check_mode", "check_card_mode")}
        self.refresh(reply)
        return reply

    def refresh(self, reply: dict[str, Any]) -> None:
        if reply["version_code_all"] != self.versions["all"] or not self.cards:
            self.fetch_cards(1, reply["version_code_all"])
        elif reply["version_code_add"] != self.versions["add"] and self.defect == "lazy-lists":
            self.pending_fetch = self.pending_fetch - 1 if self.pending_fetch > 0 else 3
            if self.pending_fetch == 1:
                self.fetch_cards(2, reply["version_code_all"])
                self.pending_fetch = 0
        elif reply["version_code_add"] != self.versions["add"] and self.defect != "no-list-refresh":
            self.fetch_cards(2, reply["version_code_all"])
        if reply["line_version_code_all"] != self.versions["line"]:
            lines = self.post("get_line_card_list", {"token": self.token, "device_id": self.device_id})
            self.line = {c["card_no"]: int(c["flag"]) for c in lines["list"]}
            self.versions["line"] = str(lines["version"])
        if str(reply["version_code"]) != self.versions["keys"] and not (
            self.defect in ("no-key-refresh", "silent-no-key-refresh") and self.keys
        ):
            keys = self.post("get_qrcode_keys", {"token": self.token})  # 003 §5.2: req_id and token only
            self.keys = {int(k["key_id"]): k["key"] for k in keys["list"]}
            self.versions["keys"] = str(keys["version_code"])

    def fetch_cards(self, kind: int, version_all: str) -> None:
        reply = self.post("get_card_list", {"token": self.token, "device_id": self.device_id, "type": kind})
        delivered = {c["card_no"]: int(c["flag"]) for c in reply["list"]}
        self.cards = delivered if kind == 1 else {**self.cards, **delivered}
        self.versions["add"], self.versions["all"] = str(reply["version"]), version_all

    def ticket(self, keys: dict[int, str] | None = None, uid: str = "rider") -> str:
        keys = keys or self.keys
        key_id = min(keys)
        return qr.make(key_id, keys[key_id], eid=fx.ENTERPRISE, uid=uid, iat=int(self.clock))

    def card_decision(self, card: str) -> str:
        """The seed's status for a swipe decided offline: 0 正常, 1 不在白名单内, 2 在黑名单内 (flag 0)."""
        flag = self.cards.get(card)
        status = "1" if flag is None else "0" if flag == 1 else "2"
        if self.config.get("is_line_white") == 1 and status == "0" and self.line.get(card) != 1:
            status = "1"
        if self.defect == "accept-unlisted-card" and card == UNKNOWN_CARD:
            status = "0"
        if self.defect == "blacklisted-as-unlisted" and status == "2":
            status = "1"
        return status

    def ticket_decision(self, text: str) -> str:
        try:
            ticket = qr.parse(text)
        except qr.TicketError:
            return "1"
        key = self.keys.get(ticket.key_id)
        valid = ticket.eid == fx.ENTERPRISE and key is not None and qr.verify(ticket, key) and ticket.valid_at(self.clock)
        if self.defect == "accept-forged-ticket":
            return "0"
        if self.defect == "refuse-valid-ticket" and valid:
            return "1"
        return "0" if valid else "1"

    def offline(self, operation: str, fields: dict[str, Any]) -> None:
        if self.defect == "reuse-seq" and operation == "card_check_log" and self.seq == 1 and not self.reused:
            self.reused = True  # the defect numbers its second swipe like its first
        else:
            self.seq += 1
        self.queue.append(
            (
                operation,
                {"req_id": f"{self.device_id}-{self.seq}", "device_id": self.device_id, "time": self.now_text(), "seq": self.seq, **fields}
                if self.defect != "seed-only"
                else {"req_id": f"{self.device_id}-{self.seq}", "device_id": self.device_id, "time": self.now_text(), **fields},
            )
        )

    def swipe(self, card: str) -> None:
        """Online first (003 §4.2); not answered: decided offline and logged later, as in an offline spell."""
        body = fx.card_check(card, self.device_id, req_id=f"{self.device_id}-cc", time=self.now_text())
        if self.attempt("card_check", body) is None and not (self.defect or "").startswith("drop-outage-swipe"):
            self.swipe_offline(card)

    def scan(self, text: str) -> None:
        body = fx.ticket_check(text, self.device_id, req_id=f"{self.device_id}-tc", time=self.now_text())
        if self.attempt("ticket_check", body) is None and not (self.defect or "").startswith("drop-outage-swipe"):
            self.scan_offline(text)

    def beat_or_miss(self) -> None:
        """A heartbeat that may not be answered (the platform is down): the device carries on."""
        self.wait(5.0)
        body = fx.heartbeat(
            self.device_id,
            time=self.now_text(),
            version_code_all=self.versions["all"],
            version_code_add=self.versions["add"],
            line_version_code_all=self.versions["line"],
            offline_seq=self.seq,
        )
        if self.versions["keys"]:
            body["key_version_code"] = self.versions["keys"]
        if self.defect == "seed-only":
            body.pop("offline_seq", None)
            body.pop("key_version_code", None)
        if self.defect == "silent-no-key-refresh":
            body.pop("key_version_code", None)
        if self.attempt("location_report", body) is not None:
            raise AssertionError("the platform answered during its outage")

    def swipe_offline(self, card: str) -> None:
        self.offline("card_check_log", {"card_id": card, "status": self.card_decision(card)})

    def scan_offline(self, text: str) -> None:
        self.offline("offline_qrcode_log", {"qr_code": text, "status": self.ticket_decision(text)})

    def flush(self) -> None:
        for operation, body in self.queue:
            if self.defect == "drop-log" and body.get("seq") == 2:
                continue
            code = self.post(operation, body)["ret_code"]
            assert code == 0 or (self.defect == "reuse-seq" and code == 1007), code  # 1007: the seq already holds another record
        self.queue.clear()

    def beats(self, n: int) -> None:
        for _ in range(n):
            self.wait(30.0 if self.defect == "late-heartbeats" else 5.0)
            self.heartbeat()


def session(client: fx.AsgiClient, store: Store, defect: str | None = None) -> Device:
    """Play the whole session with at most one planted defect; returns the device (its journal times are set)."""
    admin.set_cards(store, fx.ENTERPRISE, [BLACKLISTED], blacklisted=True)
    first = store.query_one("SELECT COALESCE(MAX(id), 0) AS n FROM journal")["n"]
    d = Device(client, store, defect)
    d.get_token()
    d.heartbeat()
    d.beats(2)
    # online: a listed card and a ticket of the current group
    time_text = "261345250000" if defect == "bad-time" else d.now_text()
    d.post("card_check", fx.card_check(fx.CARDS[0], time=time_text))
    d.post("ticket_check", fx.ticket_check(d.ticket(uid="online"), time=d.now_text()))
    # offline: a listed card, an unknown card, the blacklisted card, a valid ticket, a forged ticket
    d.wait(5.0)
    d.swipe_offline(fx.CARDS[0])
    d.swipe_offline(UNKNOWN_CARD)
    d.swipe_offline(BLACKLISTED)
    d.scan_offline(d.ticket(uid="offline-1"))
    d.scan_offline(d.ticket(keys=dict.fromkeys(d.keys, "00" * 32), uid="forged"))
    d.wait(5.0)
    d.flush()
    d.heartbeat()
    d.beats(2)
    # the platform goes down (harness faults): a heartbeat, a swipe and a scan are not answered
    outage = faults.add(store, "down", "dudu")
    d.beat_or_miss()
    d.swipe(fx.CARDS[1])
    outage_ticket = d.ticket(uid="outage")
    d.scan(outage_ticket)
    d.beat_or_miss()
    faults.clear(store, [outage.id])
    d.flush()
    d.heartbeat()
    d.beats(2)
    if defect == "drop-outage-swipe-card-seen-again":  # the commuter's card again, later: a new swipe, not the lost one
        d.wait(5.0)
        d.swipe_offline(fx.CARDS[1])
        d.scan_offline(outage_ticket)
        d.flush()
        d.heartbeat()
    # the platform changes: a new card on the whitelist, then a new key group
    admin.set_cards(store, fx.ENTERPRISE, [NEW_CARD])
    d.beats(3)
    _, group = admin.key_group(store, fx.ENTERPRISE, admin.rotate_keys(store, fx.ENTERPRISE))
    new_keys = {int(k["key_id"]): k["key"] for k in group}
    d.beats(3)
    # offline again: the new card and a ticket of the new group
    d.wait(5.0)
    d.swipe_offline(NEW_CARD)
    d.scan_offline(d.ticket(keys=new_keys, uid="offline-2"))
    d.wait(5.0)
    d.flush()
    d.heartbeat()
    d.beats(3)
    rows = [r["id"] for r in store.query("SELECT id FROM journal WHERE id > ? AND platform = 'dudu' ORDER BY id", (first,))]
    assert len(rows) == len(d.times), (len(rows), len(d.times))
    for row, at in zip(rows, d.times, strict=True):
        store.execute("UPDATE journal SET at = ? WHERE id = ?", (dt.datetime.fromtimestamp(at, dt.UTC).isoformat(), row))
    return d
