"""Every DUDU rule: a conforming call passes, a violating call is caught with the right ret_code (and sound_no)."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pytest

from fixtures import dudu as fx
from fixtures.dudu import AsgiClient as Client
from harness import masking
from harness.dudu import admin, rules
from harness.dudu.rules import BEIJING
from harness.journal import Journal
from harness.specs import load_spec

# The core flow runs on both stores (SQLite, and PostgreSQL when the test cluster can start).
BOTH_ENGINES = pytest.mark.parametrize("served", ["sqlite", "postgresql"], indirect=True)


def _rules_failed(reply: dict[str, Any]) -> list[str]:
    return [v["rule"] for v in reply.get("violations", [])]


def _at(hour: int, minute: int = 0) -> str:
    now = dt.datetime.now(BEIJING)
    return fx.device_time(now.replace(hour=hour, minute=minute, second=0))


# --- codes and envelope ----------------------------------------------------------------------------------------------
def test_every_rule_code_is_in_the_spec_code_table() -> None:
    table = {int(k) for k in load_spec("dudu/platform.yaml")["x-codes"]}
    assert set(rules.CODES.values()) <= table
    for r in rules.RULES:
        assert r.clause.startswith("003") or "D-DUDU" in r.clause, r.id


def test_req_id_is_echoed_and_omitted_when_absent(client: Client) -> None:
    assert client.post("location_report", fx.heartbeat(req_id="abc-9"))["req_id"] == "abc-9"
    body = fx.heartbeat()
    del body["req_id"]
    assert "req_id" not in client.post("location_report", body)
    assert client.post("location_report", {**body, "req_id": "e1", "device_id": "NOPE"})["req_id"] == "e1"


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"device_id": "\xff\xfe"}', b"[]", b""],
    ids=["malformed", "not-utf8", "array", "empty"],
)
def test_unreadable_bodies_answer_1001(client: Client, content: bytes) -> None:
    reply = client.post("location_report", content=content, headers={"content-type": "application/json"})
    assert reply["ret_code"] == 1001 and reply["violations"][0]["rule"] == "SCHEMA"


def test_unknown_interface_and_wrong_method_answer_the_envelope(client: Client) -> None:
    assert client.post("no_such_thing", {})["ret_code"] == 1002
    response = client.raw("GET", "/dudu/location_report")
    assert response.status_code == 200 and response.json()["ret_code"] == 1002


def test_docs_are_served_by_connexion(client: Client) -> None:
    assert client.raw("GET", "/dudu/openapi.json").json()["info"]["title"].startswith("DUDU")
    assert client.raw("GET", "/dudu/ui/").status_code == 200


# --- token (designed, D-DUDU-TOKEN) -------------------------------------------------------------------------------------
@BOTH_ENGINES
def test_get_token(client: Client) -> None:
    reply = client.post("get_token", {"req_id": "t", "enterprise_id": fx.ENTERPRISE, "secret": fx.SECRET})
    assert reply["ret_code"] == 0 and len(reply["token"]) == 32 and reply["expires_in"] == 7200
    assert client.post("get_token", {"enterprise_id": fx.ENTERPRISE, "secret": "wrong"})["ret_code"] == 1005
    assert client.post("get_token", {"enterprise_id": "999", "secret": fx.SECRET})["ret_code"] == 1005


# --- heartbeat (D1, §3.1) --------------------------------------------------------------------------------------------
@BOTH_ENGINES
def test_heartbeat_reply_carries_the_platform_configuration(client: Client, store: Any) -> None:
    admin.configure(store, fx.ENTERPRISE, check_mode=1, check_start="07:45:00", check_end="21:30:00", heartbeat_interval=7)
    reply = client.post("location_report", fx.heartbeat())
    assert reply["ret_code"] == 0 and reply["enterprise_id"] == fx.ENTERPRISE
    served = dt.datetime.strptime(reply["server_time"], "%y%m%d%H%M%S").replace(tzinfo=BEIJING)
    assert abs((served - dt.datetime.now(BEIJING)).total_seconds()) < 5
    assert reply["check_mode"] == 1 and isinstance(reply["white_mode"], int)
    assert isinstance(reply["version_code"], str) and reply["version_code"].isdigit()
    assert reply["check_start_time_format"].endswith(" 07:45:00") and reply["check_end_time_format"].endswith(" 21:30:00")
    assert reply["heartbeat_interval"] == 7 and reply["offline_missing"] == 0
    assert reply["version_code_add"] == "1" and reply["line_version_code_all"] == "1"
    assert store.query_one("SELECT heartbeats FROM dudu_devices WHERE id = ?", (fx.DEVICE,))["heartbeats"] == 1


@BOTH_ENGINES
def test_heartbeat_from_an_unknown_device_answers_1003(client: Client) -> None:
    reply = client.post("location_report", fx.heartbeat("GHOST"))
    assert reply["ret_code"] == 1003 and _rules_failed(reply) == ["DUDU-DEVICE-KNOWN"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"check_mode": "1"}, "body.check_mode"),  # D-DUDU-NUMSTR: the example's string form
        ({"version_code_all": 13604572}, "body.version_code_all"),
        ({"time": "2025-01-01 12:00:00"}, "body.time"),  # D-DUDU-TIME
        ({"device_Id": "typo"}, "body.device_Id"),  # D-DUDU-EXTRA-FIELDS
        ({"check_mode": 2}, "body.check_mode"),
    ],
)
def test_strict_types_answer_1001_naming_the_field(client: Client, change: dict[str, Any], field: str) -> None:
    reply = client.post("location_report", fx.heartbeat(**change))
    assert reply["ret_code"] == 1001 and field in [v.get("field") for v in reply["violations"]], reply
    assert all(v["clause"] for v in reply["violations"])


def test_tolerant_profile_accepts_the_examples_forms(tolerant: tuple[Client, Any]) -> None:
    client, _ = tolerant
    body = fx.heartbeat(check_mode="1", version_code_all=13604572, time="2025-01-01 12:00:00", device_Id="typo", lng=113.2)
    assert client.post("location_report", body)["ret_code"] == 0
    assert client.post("location_report", fx.heartbeat(check_mode=2))["ret_code"] == 1001


def test_an_optional_reading_left_empty_is_accepted_with_a_warning_naming_the_decision(
    tolerant: tuple[Client, Any], client: Client
) -> None:
    """lng, lat, course and speed are optional (003 §3.1 是否必须 N): a reader without a GPS fix that sends them empty
    is served, with a SHOULD verdict naming D-DUDU-NUMSTR; the strict reading refuses "" (it is no decimal); "abc" is
    refused under every profile."""
    tolerant_client, _ = tolerant
    empty = fx.heartbeat(lng="", lat="", course="", speed="")
    reply = tolerant_client.post("location_report", empty)
    assert reply["ret_code"] == 0, reply
    assert tolerant_client.post("location_report", fx.heartbeat(lng="abc"))["ret_code"] == 1001
    refused = client.post("location_report", empty)
    assert refused["ret_code"] == 1001 and "body.lng" in [v.get("field") for v in refused["violations"]]


def test_not_a_real_calendar_time_answers_1001(client: Client) -> None:
    reply = client.post("location_report", fx.heartbeat(time="251399250000"))
    assert reply["ret_code"] == 1001 and _rules_failed(reply) == ["DUDU-TIME"]


@BOTH_ENGINES
def test_key_rotation_changes_the_heartbeat_version_code(client: Client, store: Any) -> None:
    before = client.post("location_report", fx.heartbeat())["version_code"]
    admin.rotate_keys(store, fx.ENTERPRISE)
    after = client.post("location_report", fx.heartbeat(key_version_code=before))["version_code"]
    assert int(after) > int(before)


# --- card lists (D2 §4.1, D5 §4.4) -------------------------------------------------------------------------------------
@BOTH_ENGINES
def test_full_list_then_incremental_holds_exactly_the_changes(client: Client, store: Any, token: str) -> None:
    full = client.post("get_card_list", {"token": token, "device_id": fx.DEVICE, "type": 1})
    assert full["ret_code"] == 0 and {c["card_no"] for c in full["list"]} == set(fx.CARDS)
    assert all(c["flag"] == 1 for c in full["list"]) and full["version"] == "1"
    client.post("location_report", fx.heartbeat(version_code_all="0", version_code_add=full["version"]))
    admin.set_cards(store, fx.ENTERPRISE, ["00070001"])
    admin.set_cards(store, fx.ENTERPRISE, [fx.CARDS[1]], flag=0)
    admin.set_cards(store, fx.ENTERPRISE, [fx.CARDS[2]], blacklisted=True)
    admin.set_cards(store, fx.ENTERPRISE, ["00070001"], flag=0)  # changed twice: sent once, in its latest state
    inc = client.post("get_card_list", {"token": token, "device_id": fx.DEVICE, "type": 2, "enterprise_id": fx.ENTERPRISE})
    assert inc["version"] == "5"
    assert sorted((c["card_no"], c["flag"]) for c in inc["list"]) == [(fx.CARDS[1], 0), (fx.CARDS[2], 0), ("00070001", 0)]
    client.post("location_report", fx.heartbeat(version_code_add=inc["version"]))
    assert client.post("get_card_list", {"token": token, "device_id": fx.DEVICE, "type": 2})["list"] == []


def test_a_full_rebuild_makes_incremental_answer_the_full_list(client: Client, store: Any, token: str) -> None:
    client.post("location_report", fx.heartbeat(version_code_add="1"))
    admin.reset_cards(store, fx.ENTERPRISE)
    hb = client.post("location_report", fx.heartbeat(version_code_add="1"))
    assert hb["version_code_all"] == hb["version_code_add"] == "2"
    inc = client.post("get_card_list", {"token": token, "device_id": fx.DEVICE, "type": 2})
    assert len(inc["list"]) == len(fx.CARDS)


@pytest.mark.parametrize("operation", ["get_card_list", "get_line_card_list"])
def test_list_token_and_enterprise_rules(client: Client, store: Any, token: str, operation: str) -> None:
    body: dict[str, Any] = {"token": token, "device_id": fx.DEVICE}
    if operation == "get_card_list":
        body["type"] = 1
    assert client.post(operation, body)["ret_code"] == 0
    assert client.post(operation, {**body, "token": "f" * 32})["ret_code"] == 1004
    assert client.post(operation, {**body, "device_id": "GHOST"})["ret_code"] == 1003
    assert client.post(operation, {**body, "enterprise_id": "399"})["ret_code"] == 1006
    other = admin.add_enterprise(store, "399", secret="s399")
    other_token = client.post("get_token", {"enterprise_id": "399", "secret": other.secret})["token"]
    assert client.post(operation, {**body, "token": other_token})["ret_code"] == 1004
    store.execute("UPDATE dudu_tokens SET expires = ? WHERE token = ?", (time.time() - 1, masking.hide(store, token)))
    reply = client.post(operation, body)
    assert reply["ret_code"] == 1004 and "expired" in reply["ret_msg"]


def test_line_whitelist(client: Client, store: Any, token: str) -> None:
    reply = client.post("get_line_card_list", {"token": token, "device_id": fx.DEVICE})
    assert reply["version"] == "1" and [c["card_no"] for c in reply["list"]] == list(fx.CARDS[:2])
    admin.set_line_cards(store, fx.LINE, [fx.CARDS[0]], flag=0)
    reply = client.post("get_line_card_list", {"token": token, "device_id": fx.DEVICE})
    assert reply["version"] == "2" and reply["list"][0] == {"card_no": fx.CARDS[0], "flag": 0}


# --- card checks (D3 §4.2) -----------------------------------------------------------------------------------------------
@BOTH_ENGINES
def test_card_check_passes_for_a_whitelisted_card(client: Client) -> None:
    reply = client.post("card_check", fx.card_check())
    assert reply == {"req_id": "cc-1", "ret_code": 0, "ret_msg": "成功", "sound_no": 0}


@pytest.mark.parametrize(
    ("setup", "card", "code", "sound", "rule"),
    [
        (lambda s: None, "99999999", 2001, 2, "DUDU-CARD-WHITELIST"),
        (lambda s: admin.set_cards(s, fx.ENTERPRISE, [fx.CARDS[0]], blacklisted=True), fx.CARDS[0], 2002, 3, "DUDU-CARD-BLACKLIST"),
        (lambda s: admin.set_cards(s, fx.ENTERPRISE, [fx.CARDS[0]], flag=0), fx.CARDS[0], 2003, 1, "DUDU-CARD-FLAG"),
        (lambda s: admin.configure(s, fx.ENTERPRISE, is_line_white=1), fx.CARDS[2], 2004, 4, "DUDU-CARD-LINE"),
        (
            lambda s: admin.configure(s, fx.ENTERPRISE, check_start="23:59:58", check_end="23:59:59"),
            fx.CARDS[0],
            2005,
            5,
            "DUDU-CHECK-WINDOW",
        ),
        (lambda s: admin.configure(s, fx.ENTERPRISE, card_mode=0), fx.CARDS[0], 2006, 1, "DUDU-CARD-ENABLED"),
    ],
)
def test_card_check_refusals(client: Client, store: Any, setup: Any, card: str, code: int, sound: int, rule: str) -> None:
    setup(store)
    body = fx.card_check(card, time=_at(12)) if code == 2005 else fx.card_check(card)
    reply = client.post("card_check", body)
    assert (reply["ret_code"], reply["sound_no"], _rules_failed(reply)) == (code, sound, [rule])


def test_whitelist_off_accepts_unknown_cards_but_not_blacklisted(client: Client, store: Any) -> None:
    admin.configure(store, fx.ENTERPRISE, white_mode=0)
    assert client.post("card_check", fx.card_check("99999999"))["ret_code"] == 0
    admin.set_cards(store, fx.ENTERPRISE, ["99999999"], blacklisted=True)
    assert client.post("card_check", fx.card_check("99999999"))["ret_code"] == 2002


def test_card_check_schema_refusal_still_carries_sound_no(client: Client) -> None:
    reply = client.post("card_check", fx.card_check(check_mode="0"))
    assert reply["ret_code"] == 1001 and reply["sound_no"] == 0


# --- offline logs and accounting (D4 §4.3, D8 §5.4, D-DUDU-OFFLINE-SEQ) ------------------------------------------------------
@BOTH_ENGINES
def test_offline_accounting_names_the_swipes_never_logged(client: Client, store: Any) -> None:
    assert client.post("card_check_log", fx.card_log(1))["ret_code"] == 0
    assert (
        client.post("offline_qrcode_log", {"device_id": fx.DEVICE, "qr_code": "DD1.x", "time": fx.device_time(), "seq": 3})["ret_code"] == 0
    )
    reply = client.post("location_report", fx.heartbeat(offline_seq=4))
    assert reply["offline_missing"] == 2
    assert admin.missing_offline(store, fx.DEVICE) == [2, 4]
    assert client.post("card_check_log", fx.card_log(2, status="1"))["ret_code"] == 0
    assert client.post("location_report", fx.heartbeat(offline_seq=4))["offline_missing"] == 1


@BOTH_ENGINES
def test_a_repeated_log_is_answered_0_and_stored_once(client: Client, store: Any) -> None:
    log = fx.card_log(7, time="260102120000")
    assert client.post("card_check_log", log)["ret_code"] == 0
    assert client.post("card_check_log", log)["ret_code"] == 0
    assert store.query_one("SELECT COUNT(*) AS n FROM dudu_offline_logs WHERE seq = 7")["n"] == 1
    # A different record under a seq already stored (a counter that restarted) is refused, not answered 0 and lost.
    other = client.post("card_check_log", {**log, "card_id": fx.CARDS[1]})
    assert other["ret_code"] == 1007 and other["violations"][0]["rule"] == "DUDU-LOG-ONCE"
    assert store.query_one("SELECT subject FROM dudu_offline_logs WHERE seq = 7")["subject"] == fx.CARDS[0]
    assert client.post("card_check_log", fx.card_log(None))["ret_code"] == 0  # seed-only devices are served


def test_log_rules(client: Client) -> None:
    assert client.post("card_check_log", fx.card_log(1, device_id="GHOST"))["ret_code"] == 1003
    assert client.post("card_check_log", fx.card_log(1, status=1))["ret_code"] == 1001  # D-DUDU-NUMSTR: status is a string
    assert client.post("card_check_log", fx.card_log(0))["ret_code"] == 1001


# --- keys and tickets (D6 §5.2, D7 §5.3, D-DUDU-QR) -------------------------------------------------------------------------
def test_key_group(client: Client, store: Any, token: str) -> None:
    reply = client.post("get_qrcode_keys", {"req_id": "k", "token": token})
    assert reply["ret_code"] == 0 and [k["key_id"] for k in reply["list"]] == [1, 2, 3, 4]
    assert isinstance(reply["version_code"], str)
    assert client.post("get_qrcode_keys", {"token": "nope"})["ret_code"] == 1004
    new = admin.rotate_keys(store, fx.ENTERPRISE)
    assert client.post("get_qrcode_keys", {"token": token})["version_code"] == str(new)


@BOTH_ENGINES
def test_a_valid_ticket_passes_once(client: Client, store: Any) -> None:
    ticket = admin.make_ticket(store, fx.ENTERPRISE, key_id=3)
    assert client.post("ticket_check", fx.ticket_check(ticket)) == {"req_id": "tc-1", "ret_code": 0, "ret_msg": "成功", "sound_no": 0}
    reply = client.post("ticket_check", fx.ticket_check(ticket))
    assert (reply["ret_code"], reply["sound_no"]) == (3004, 8)


def _tampered(ticket: str) -> str:
    """Flip a character in the middle of the tag (the last one also holds padding bits)."""
    head, tag = ticket.rsplit(".", 1)
    return f"{head}.{tag[:10]}{'A' if tag[10] != 'A' else 'B'}{tag[11:]}"


@pytest.mark.parametrize(
    ("make", "code", "rule"),
    [
        (lambda s: "not a ticket", 3001, "DUDU-QR-FORMAT"),
        (lambda s: _tampered(admin.make_ticket(s, fx.ENTERPRISE)), 3002, "DUDU-QR-KEY"),
        (lambda s: admin.make_ticket(s, fx.ENTERPRISE, iat=int(time.time()) - 600), 3003, "DUDU-QR-EXPIRY"),
        (lambda s: admin.make_ticket(s, fx.ENTERPRISE, iat=int(time.time()) + 600), 3003, "DUDU-QR-EXPIRY"),
        (lambda s: (admin.add_enterprise(s, "399"), admin.make_ticket(s, "399"))[1], 3007, "DUDU-QR-ENTERPRISE"),
        (lambda s: (admin.make_ticket(s, fx.ENTERPRISE), admin.rotate_keys(s, fx.ENTERPRISE))[0], 3005, "DUDU-QR-KEY-GROUP"),
        (lambda s: (admin.configure(s, fx.ENTERPRISE, qrcode_mode=0), admin.make_ticket(s, fx.ENTERPRISE))[1], 3006, "DUDU-QR-ENABLED"),
    ],
    ids=["format", "tag", "expired", "not-yet-valid", "other-enterprise", "superseded-group", "qr-off"],
)
def test_ticket_refusals(client: Client, store: Any, make: Any, code: int, rule: str) -> None:
    reply = client.post("ticket_check", fx.ticket_check(make(store)))
    assert (reply["ret_code"], _rules_failed(reply)) == (code, [rule]) and reply["sound_no"] > 0


def test_tolerant_accepts_the_previous_key_group_within_a_lifetime(tolerant: tuple[Client, Any]) -> None:
    client, store = tolerant
    ticket = admin.make_ticket(store, fx.ENTERPRISE)
    admin.rotate_keys(store, fx.ENTERPRISE)
    assert client.post("ticket_check", fx.ticket_check(ticket))["ret_code"] == 0


def test_ticket_outside_the_window_answers_2005(client: Client, store: Any) -> None:
    admin.configure(store, fx.ENTERPRISE, check_start="23:59:58", check_end="23:59:59")
    now = dt.datetime.now(BEIJING).replace(hour=12, minute=0, second=0)
    ticket = admin.make_ticket(store, fx.ENTERPRISE, iat=int(now.timestamp()))
    reply = client.post("ticket_check", fx.ticket_check(ticket, time=fx.device_time(now)))
    assert reply["ret_code"] == 2005


# --- journal -------------------------------------------------------------------------------------------------------------
@BOTH_ENGINES
def test_every_exchange_is_journaled_with_its_verdicts(client: Client, store: Any) -> None:
    client.post("card_check", fx.card_check())
    client.post("card_check", fx.card_check("99999999"))
    client.post("location_report", fx.heartbeat(check_mode="1"))
    entries = Journal(store).query(platform="dudu", limit=3)
    schema, refused, passed = entries
    # check_mode "1" (a digit string): only the file's own reading refuses it, so the strict profile refuses it but the
    # verdict is a SHOULD naming the decision, as under every profile
    assert schema["operation"] == "location_report" and schema["code"] == "1001" and schema["outcome"] == "warning"
    assert {(v.get("level"), v.get("decision")) for v in schema["verdicts"] if not v["held"]} == {("SHOULD", "D-DUDU-NUMSTR")}
    assert refused["code"] == "2001" and any(v["rule"] == "DUDU-CARD-WHITELIST" and not v["held"] for v in refused["verdicts"])
    assert passed["outcome"] == "held" and {v["rule"] for v in passed["verdicts"]} >= {"DUDU-DEVICE-KNOWN", "DUDU-CARD-WHITELIST"}
    assert json.loads(passed["request_body"])["card_id"] == fx.CARDS[0]


def test_the_connexion_path_answers_like_the_fast_path(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.config import Settings
    from harness.dudu.platform import DuduPlatform
    from harness.schema import open_store
    from harness.server import create_app

    monkeypatch.setattr(DuduPlatform, "fast_operations", lambda self: {})  # the fast path then serves nothing
    store = open_store(tmp_path / "c.db")
    fx.world(store)
    client = Client(create_app(Settings(db=tmp_path / "c.db", validate_responses=True, profile="strict"), store))
    try:
        assert client.post("location_report", fx.heartbeat())["ret_code"] == 0
        assert client.post("card_check", fx.card_check("99999999"))["ret_code"] == 2001
        reply = client.post("location_report", fx.heartbeat(check_mode="1", req_id="r"))
        assert reply["ret_code"] == 1001 and reply["req_id"] == "r"
        assert client.post("card_check_log", fx.card_log(1))["ret_code"] == 0
        assert store.query_one("SELECT COUNT(*) AS n FROM dudu_offline_logs")["n"] == 1
    finally:
        client.close()


@BOTH_ENGINES
def test_changes_from_another_connection_are_seen_at_once(client: Client, store: Any) -> None:
    """The device cache must never serve a row older than the store (another worker or the CLI changed it)."""
    from harness.schema import open_store

    assert client.post("location_report", fx.heartbeat())["heartbeat_interval"] == 5
    other = open_store(store.path)  # a second connection, as a CLI process or another uvicorn worker would have
    try:
        admin.configure(other, fx.ENTERPRISE, heartbeat_interval=9)
        assert client.post("location_report", fx.heartbeat())["heartbeat_interval"] == 9
        admin.add_device(other, fx.ENTERPRISE, "DEV-NEW", fx.LINE)
        assert client.post("location_report", fx.heartbeat("DEV-NEW"))["ret_code"] == 0
    finally:
        other.close()


@BOTH_ENGINES
def test_changes_through_the_same_store_are_seen_at_once(client: Client, store: Any) -> None:
    """The control API and in-process admin write through the server's own store handle, which data_version does not
    see: the store tells the device cache itself (Store.on_state_change)."""
    assert client.post("location_report", fx.heartbeat())["heartbeat_interval"] == 5
    admin.configure(store, fx.ENTERPRISE, heartbeat_interval=8)
    assert client.post("location_report", fx.heartbeat())["heartbeat_interval"] == 8


@BOTH_ENGINES
def test_a_unit_of_work_that_does_not_commit_empties_the_device_cache(client: Client, store: Any, monkeypatch: Any) -> None:
    """A heartbeat's device update is written through to the cache before its commit: if the commit fails, the cache
    must not keep a state the store never reached."""
    from harness.journal import LoopGroupCommit

    client.post("location_report", fx.heartbeat())
    before = store.query_one("SELECT version_add FROM dudu_devices WHERE id = ?", (fx.DEVICE,))["version_add"]
    real = LoopGroupCommit._flush

    def failing(self: Any) -> None:
        for _, work, _ in self._pending:
            work.write("INSERT INTO no_such_table VALUES (1)")
        real(self)

    monkeypatch.setattr(LoopGroupCommit, "_flush", failing)
    reply = client.post("location_report", fx.heartbeat(version_code_add="7"))
    assert reply["ret_code"] != 0  # unjournaled means unacknowledged
    monkeypatch.setattr(LoopGroupCommit, "_flush", real)
    assert store.query_one("SELECT version_add FROM dudu_devices WHERE id = ?", (fx.DEVICE,))["version_add"] == before
    platform = client.app.state_platforms["dudu"]
    assert fx.DEVICE not in platform._devices  # forgotten: the next read comes from the store


def test_the_device_cache_is_written_through_and_survives_unrelated_writes(tmp_path: Any) -> None:
    """Tokens, used tickets, offline logs and the platform's own device updates must not empty the device cache (a
    10,000-device fleet otherwise misses on nearly every request), and every cached row must equal the store's."""
    from harness.config import Settings
    from harness.dudu.platform import DEVICE_SQL
    from harness.schema import open_store
    from harness.server import create_app

    store = open_store(tmp_path / "w.db")
    fx.world(store, devices=3)
    app = create_app(Settings(db=tmp_path / "w.db"), store)
    platform = app.state_platforms["dudu"]
    client = Client(app)
    try:
        for device in ("DEV00001", "DEV00002", "DEV00003"):
            assert client.post("location_report", fx.heartbeat(device))["ret_code"] == 0
        cached = dict(platform._devices)
        assert set(cached) == {"DEV00001", "DEV00002", "DEV00003"}
        token = client.post("get_token", {"enterprise_id": fx.ENTERPRISE, "secret": fx.SECRET})["token"]
        assert client.post("ticket_check", fx.ticket_check(admin.make_ticket(store, fx.ENTERPRISE, key_id=1)))["ret_code"] == 0
        assert client.post("card_check_log", fx.card_log(4, device_id="DEV00002"))["ret_code"] == 0
        assert client.post("location_report", fx.heartbeat("DEV00001", version_code_add="7", offline_seq=2))["ret_code"] == 0
        assert client.post("get_card_list", {"token": token, "device_id": "DEV00003", "type": 1})["ret_code"] == 0
        assert all(platform._devices.get(d) is row for d, row in cached.items())  # the same objects: never emptied
        for device, row in platform._devices.items():
            assert row == dict(store.query_one(DEVICE_SQL, (device,))), device
        assert platform._devices["DEV00001"]["version_add"] == "7" and platform._devices["DEV00002"]["offline_seq"] == 4
        admin.configure(store, fx.ENTERPRISE, heartbeat_interval=9)  # any other change through this handle empties it
        assert client.post("location_report", fx.heartbeat("DEV00001"))["heartbeat_interval"] == 9
    finally:
        client.close()
        store.close()


@BOTH_ENGINES
def test_list_replies_are_journaled_once_per_content(client: Client, store: Any, token: str) -> None:
    first = client.post("get_card_list", {"token": token, "device_id": fx.DEVICE, "type": 1})
    client.post("get_card_list", {"token": token, "device_id": fx.DEVICE, "type": 1})
    entries = Journal(store).query(platform="dudu", operation="get_card_list", limit=2)
    refs = {e["reply"]["list"]["snapshot_sha256"] for e in entries}
    assert len(refs) == 1 and all(e["reply"]["list"]["count"] == len(fx.CARDS) for e in entries)
    row = store.query_one("SELECT body FROM dudu_list_snapshots WHERE sha256 = ?", (refs.pop(),))
    assert json.loads(row["body"]) == first["list"]  # the delivered list, reconstructible from the journal
