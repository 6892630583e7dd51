"""The dudu-device-backend certify role, graded from the journal: a well-behaved backend passes; each misbehaviour
fails the check that names its clause."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from fixtures import dudu as fx
from fixtures.dudu import AsgiClient as Client
from harness import masking
from harness.conformance.model import CheckFinished, RunFinished, RunStarted
from harness.dudu import admin
from harness.dudu.certify import DuduDeviceBackendRole


def _grade(store: Any) -> tuple[str, dict[str, Any]]:
    events = list(DuduDeviceBackendRole(store, fx.ENTERPRISE).run(seed=1))
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished) and events[-1].is_terminal
    results = {e.result.check_id: e.result for e in events if isinstance(e, CheckFinished)}
    return events[-1].verdict, results


def _space_heartbeats(store: Any, seconds: float) -> None:
    """Journal times as if the heartbeats had come `seconds` apart (tests do not sleep)."""
    rows = store.query("SELECT id FROM journal WHERE platform = 'dudu' ORDER BY id")
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    for i, row in enumerate(rows):
        store.execute("UPDATE journal SET at = ? WHERE id = ?", ((start + dt.timedelta(seconds=i * seconds)).isoformat(), row["id"]))


def _device_session(client: Client, token: str, *, skip_log: int | None = None, refresh: bool = True) -> None:
    """A device: heartbeat, fetch what changed, go offline for three swipes, log them (maybe skipping one), heartbeat."""
    hb = client.post("location_report", fx.heartbeat(offline_seq=0))
    held = {"version_code_all": hb["version_code_all"], "version_code_add": hb["version_code_add"], "line_version_code_all": "0"}
    if refresh:
        client.post("get_card_list", {"token": token, "device_id": fx.DEVICE, "type": 1})
        line = client.post("get_line_card_list", {"token": token, "device_id": fx.DEVICE})
        held["line_version_code_all"] = line["version"]
    for seq in (1, 2, 3):
        if seq != skip_log:
            client.post("card_check_log", fx.card_log(seq))
    for _ in range(3):
        client.post("location_report", fx.heartbeat(offline_seq=3, **held))


def test_a_well_behaved_backend_passes(client: Client, store: Any, token: str) -> None:
    _device_session(client, token)
    _space_heartbeats(store, 2)
    verdict, results = _grade(store)
    assert verdict == "passed", {k: (r.status, r.message) for k, r in results.items()}
    assert results["DUDU-CERT-OFFLINE"].status == "passed" and "3 offline event" in results["DUDU-CERT-OFFLINE"].message


def test_a_backend_that_skips_one_offline_log_fails_naming_4_3(client: Client, store: Any, token: str) -> None:
    _device_session(client, token, skip_log=2)
    _space_heartbeats(store, 2)
    verdict, results = _grade(store)
    offline = results["DUDU-CERT-OFFLINE"]
    assert verdict == "failed" and offline.status == "failed"
    assert "003 §4.3" in offline.clause and "§4.3" in offline.message and f"{fx.DEVICE} seq 2" in offline.message
    assert offline.evidence and offline.evidence[0].request["body"]["offline_seq"] == 3


def test_missed_heartbeats_fail_the_cadence_check(client: Client, store: Any, token: str) -> None:
    for _ in range(3):
        client.post("location_report", fx.heartbeat())
    _space_heartbeats(store, 30)  # the platform asked for 5 s
    _, results = _grade(store)
    assert results["DUDU-CERT-HEARTBEAT"].status == "failed" and fx.DEVICE in results["DUDU-CERT-HEARTBEAT"].message


def test_lists_not_fetched_after_a_version_change_fail(client: Client, store: Any, token: str) -> None:
    _device_session(client, token, refresh=False)
    _space_heartbeats(store, 2)
    _, results = _grade(store)
    assert results["DUDU-CERT-LISTS"].status == "failed" and "card list" in results["DUDU-CERT-LISTS"].message


def test_keys_not_refreshed_and_stale_offline_tickets_fail(client: Client, store: Any, token: str) -> None:
    old = client.post("get_qrcode_keys", {"token": token})["version_code"]
    stale_ticket = admin.make_ticket(store, fx.ENTERPRISE)
    admin.rotate_keys(store, fx.ENTERPRISE)
    store.execute("UPDATE dudu_key_groups SET created = created - 3600 WHERE version_code = ?", (int(old),))
    for _ in range(3):
        client.post("location_report", fx.heartbeat(key_version_code=old))
    client.post("offline_qrcode_log", {"device_id": fx.DEVICE, "qr_code": stale_ticket, "time": fx.device_time(), "status": "0", "seq": 1})
    client.post("location_report", fx.heartbeat(key_version_code=old, offline_seq=1))
    _, results = _grade(store)
    keys = results["DUDU-CERT-KEYS"]
    assert keys.status == "failed" and "kept key group" in keys.message


def test_a_seed_only_device_that_saw_a_new_key_version_and_never_fetched_fails(client: Client, store: Any, token: str) -> None:
    """003 §3.1's heartbeat has no key_version_code: what the device holds is what it fetched (§5.2)."""
    client.post("location_report", fx.heartbeat())
    client.post("get_qrcode_keys", {"req_id": f"{fx.DEVICE}-keys", "token": token})
    client.post("location_report", fx.heartbeat())
    admin.rotate_keys(store, fx.ENTERPRISE)
    for _ in range(3):
        client.post("location_report", fx.heartbeat())
    _space_heartbeats(store, 2)
    keys = _grade(store)[1]["DUDU-CERT-KEYS"]
    assert keys.status == "failed" and "kept its key group after rotation" in keys.message, keys.message


def test_a_seed_only_device_that_fetches_after_a_rotation_passes(client: Client, store: Any, token: str) -> None:
    client.post("location_report", fx.heartbeat())
    client.post("get_qrcode_keys", {"req_id": f"{fx.DEVICE}-keys", "token": token})
    admin.rotate_keys(store, fx.ENTERPRISE)
    client.post("location_report", fx.heartbeat())
    client.post("get_qrcode_keys", {"req_id": f"{fx.DEVICE}-keys", "token": token})
    for _ in range(3):
        client.post("location_report", fx.heartbeat())
    _space_heartbeats(store, 2)
    keys = _grade(store)[1]["DUDU-CERT-KEYS"]
    assert keys.status == "passed" and "1 rotation" in keys.message, keys.message


def test_an_empty_journal_fails_with_a_reason(store: Any) -> None:
    verdict, results = _grade(store)
    assert verdict == "failed" and "no exchange" in results["DUDU-CERT-HEARTBEAT"].message


def test_the_cli_command_exits_0_for_a_good_backend_and_1_naming_4_3_for_a_lost_log(
    client: Client, store: Any, token: str, tmp_path
) -> None:
    import json

    from click.testing import CliRunner

    from harness.cli import main

    _device_session(client, token, skip_log=2)
    _space_heartbeats(store, 2)
    args = ["certify", "dudu-device-backend", "--enterprise", fx.ENTERPRISE, "--db", str(store.path), "--quiet", "--seed", "1"]
    result = CliRunner().invoke(main, [*args, "--report", str(tmp_path / "lost")])
    assert result.exit_code == 1, result.output
    report = json.loads((tmp_path / "lost" / "report.json").read_text(encoding="utf-8"))
    offline = next(c for c in report["checks"] if c["id"] == "DUDU-CERT-OFFLINE")
    assert offline["status"] == "failed" and "003 §4.3" in offline["clause"]


def test_the_cli_command_exits_2_for_an_unknown_enterprise(store: Any, tmp_path) -> None:
    from click.testing import CliRunner

    from harness.cli import main

    args = ["certify", "dudu-device-backend", "--enterprise", "no-such", "--db", str(store.path), "--report", str(tmp_path / "r")]
    assert CliRunner().invoke(main, args).exit_code == 2


# --- every kind of evidence is graded -------------------------------------------------------------------------------
def test_a_key_refresh_is_credited_although_get_qrcode_keys_carries_no_device_id(served: Any) -> None:
    """003 §5.2 get_qrcode_keys carries req_id and token only: the fetch is credited through the device's token."""
    from tests.dudu.device_sim import session

    client, store = served
    session(client, store)  # rotates the key group mid-session; the device fetches it and reports the new version
    _, results = _grade(store)
    keys = results["DUDU-CERT-KEYS"]
    assert keys.status == "passed" and "1 rotation" in keys.message, keys.message


def test_key_fetches_are_attributed_by_req_id_then_token_then_to_the_whole_enterprise(client: Client, store: Any, token: str) -> None:
    from harness.dudu.certify import load_fleet

    admin.add_devices(store, fx.ENTERPRISE, ["DEV00002"], fx.LINE)
    client.post("location_report", fx.heartbeat())
    client.post("location_report", fx.heartbeat("DEV00002"))
    by_req_id = client.post("get_qrcode_keys", {"req_id": "DEV00002-keys", "token": token})
    other = client.post("get_token", {"enterprise_id": fx.ENTERPRISE, "secret": fx.SECRET})["token"]
    client.post("get_card_list", {"token": other, "device_id": fx.DEVICE, "type": 1})
    by_token = client.post("get_qrcode_keys", {"token": other})
    for_all = client.post("get_qrcode_keys", {"token": token})  # a token no device call used: the backend's own
    assert by_req_id["ret_code"] == by_token["ret_code"] == for_all["ret_code"] == 0
    fleet = load_fleet(store, fx.ENTERPRISE)
    credited = [sorted(devices) for _, devices in sorted(fleet.key_fetches.items())]
    assert credited == [["DEV00002"], [fx.DEVICE], [fx.DEVICE, "DEV00002"]]
    shown = json.dumps([(c.evidence().request, c.evidence().reply) for c in fleet.all_calls()], ensure_ascii=False)
    assert token not in shown and other not in shown and fx.SECRET not in shown  # tokens, secrets and keys redacted
    assert all(k["key"] not in shown for k in admin.key_group(store, fx.ENTERPRISE)[1])


def test_refused_calls_fail_the_role_naming_the_rules_clause(client: Client, store: Any, token: str) -> None:
    """A backend whose every online card check was refused as malformed no longer passes."""
    _device_session(client, token)
    for _ in range(2):
        assert client.post("card_check", fx.card_check(time="261345250000"))["ret_code"] == 1001
    _space_heartbeats(store, 2)
    verdict, results = _grade(store)
    calls = results["DUDU-CERT-CALLS"]
    assert verdict == "failed" and calls.status == "failed" and calls.clause.startswith("003 time")
    assert "card_check (ret_code 1001): DUDU-TIME" in calls.message and calls.evidence[0].reply["body"]["ret_code"] == 1001


def test_a_failed_should_verdict_is_a_warning_naming_its_decision(client: Client, store: Any, token: str) -> None:
    _device_session(client, token)
    _space_heartbeats(store, 2)
    row = store.query_one("SELECT id, verdicts FROM journal WHERE operation = 'location_report' ORDER BY id LIMIT 1")
    should = {"rule": "SCHEMA", "clause": "003 §3.1 check_mode int", "held": False, "message": "check_mode as the string '0'"}
    should |= {"field": "check_mode", "level": "SHOULD", "decision": "D-DUDU-NUMSTR"}
    store.execute("UPDATE journal SET verdicts = ? WHERE id = ?", (json.dumps([*json.loads(row["verdicts"]), should]), row["id"]))
    events = list(DuduDeviceBackendRole(store, fx.ENTERPRISE).run(seed=1))
    calls = [e.result for e in events if isinstance(e, CheckFinished) and e.result.check_id == "DUDU-CERT-CALLS"]
    assert [(r.status, r.decision, r.clause) for r in calls] == [("warning", "D-DUDU-NUMSTR", "003 §3.1 check_mode int")]
    assert "D-DUDU-NUMSTR" in calls[0].message and events[-1].verdict == "passed"


def test_an_expired_token_retried_is_a_warning_not_a_failure(client: Client, store: Any, token: str) -> None:
    _device_session(client, token)
    store.execute("UPDATE dudu_tokens SET expires = 0 WHERE token = ?", (masking.hide(store, token),))
    assert client.post("get_card_list", {"token": token, "device_id": fx.DEVICE, "type": 1})["ret_code"] == 1004
    _space_heartbeats(store, 2)
    verdict, results = _grade(store)
    assert results["DUDU-CERT-CALLS"].status == "warning" and results["DUDU-CERT-CALLS"].decision == "D-DUDU-TOKEN"
    assert verdict == "passed"


def test_an_offline_card_accepted_against_the_whitelist_the_device_held_fails(client: Client, store: Any, token: str) -> None:
    _device_session(client, token)
    client.post("card_check_log", fx.card_log(4, card_id="99999999"))  # not on the list it fetched, logged as accepted
    client.post("location_report", fx.heartbeat(offline_seq=4))
    _space_heartbeats(store, 2)
    verdict, results = _grade(store)
    cards = results["DUDU-CERT-OFFLINE-CARDS"]
    assert verdict == "failed" and cards.status == "failed" and "accepted offline card 99999999" in cards.message
    assert cards.clause.startswith("003 一、2") and cards.evidence[0].request["body"]["card_id"] == "99999999"


def test_an_offline_ticket_the_devices_keys_could_not_verify_fails(client: Client, store: Any, token: str) -> None:
    """The ticket is signed by the enterprise's current group, but the device never fetched a key group."""
    _device_session(client, token)
    ticket = admin.make_ticket(store, fx.ENTERPRISE)
    client.post("offline_qrcode_log", {"device_id": fx.DEVICE, "qr_code": ticket, "time": fx.device_time(), "status": "0", "seq": 4})
    client.post("location_report", fx.heartbeat(offline_seq=4))
    _space_heartbeats(store, 2)
    verdict, results = _grade(store)
    tickets = results["DUDU-CERT-OFFLINE-TICKETS"]
    assert verdict == "failed" and tickets.status == "failed" and "had fetched no key group" in tickets.message


def test_a_reused_seq_with_a_different_record_is_refused_and_warned(client: Client, store: Any, token: str) -> None:
    """The platform refuses the second record (1007: the device learns it, nothing is dropped unseen); the device did
    call the log interface, and seq is the harness's design: a WARNING naming D-DUDU-DUP-LOG, not the run's failure."""
    _device_session(client, token)
    reply = client.post("card_check_log", fx.card_log(3, card_id=fx.CARDS[1]))
    assert reply["ret_code"] == 1007 and "seq 3 already holds a different record" in reply["violations"][0]["message"]
    client.post("card_check_log", fx.card_log(3))  # a true retry of seq 3 is fine
    _space_heartbeats(store, 2)
    verdict, results = _grade(store)
    offline = [r for r in results.values() if r.check_id == "DUDU-CERT-OFFLINE"]
    warned = results["DUDU-CERT-OFFLINE"]
    assert verdict == "passed" and warned.status == "warning" and warned.decision == "D-DUDU-DUP-LOG" and "003 §4.3" in warned.clause
    assert f"{fx.DEVICE} seq 3" in warned.message and "refused them (1007)" in warned.message and warned.evidence, offline


def _second_session(client: Client, store: Any, token: str, *, first_seq: int, skip: int | None) -> Any:
    """A second certification of the same device: heartbeat, three offline swipes numbered from ``first_seq``."""
    from harness.conformance.sessions import Window

    start = store.query_one("SELECT MAX(id) AS id FROM journal")["id"]
    held = {"version_code_all": "0", "version_code_add": "0", "line_version_code_all": "0"}
    hb = client.post("location_report", fx.heartbeat(offline_seq=first_seq - 1))
    held.update(version_code_all=hb["version_code_all"], version_code_add=hb["version_code_add"])
    client.post("get_card_list", {"token": token, "device_id": fx.DEVICE, "type": 1})
    held["line_version_code_all"] = client.post("get_line_card_list", {"token": token, "device_id": fx.DEVICE})["version"]
    for n, seq in enumerate(range(first_seq, first_seq + 3)):
        if seq != skip:
            client.post("card_check_log", fx.card_log(seq, card_id=fx.CARDS[1], time=f"2601021200{n:02d}"))
    for _ in range(3):
        client.post("location_report", fx.heartbeat(offline_seq=first_seq + 2, **held))
    _space_heartbeats(store, 2)
    events = list(DuduDeviceBackendRole(store, fx.ENTERPRISE, window=Window(after_id=start, session="s2")).run(seed=1))
    results: dict[str, Any] = {}
    for e in events:  # a check's failure stands for it over its warnings
        if isinstance(e, CheckFinished) and getattr(results.get(e.result.check_id), "status", None) != "failed":
            results[e.result.check_id] = e.result
    return results


def test_a_second_session_is_graded_on_its_own_logs_not_on_the_first_sessions(client: Client, store: Any, token: str) -> None:
    """Re-certification on the same device: a seq the second session never sent is missing although the first stored it."""
    _device_session(client, token)  # seqs 1–3 stored
    results = _second_session(client, store, token, first_seq=4, skip=5)
    offline = results["DUDU-CERT-OFFLINE"]
    assert offline.status == "failed" and f"{fx.DEVICE} seq 5" in offline.message, offline.message


def test_a_counter_that_restarts_in_a_later_session_is_refused_not_lost_unseen(client: Client, store: Any, token: str) -> None:
    _device_session(client, token)  # seqs 1–3 stored
    results = _second_session(client, store, token, first_seq=1, skip=2)
    offline = results["DUDU-CERT-OFFLINE"]  # seq 2 never sent in this session: that is the failure
    assert offline.status == "failed", offline.message
    assert "never logged" in offline.message and f"{fx.DEVICE} seq 2" in offline.message


def test_a_second_session_whose_counter_continues_passes(client: Client, store: Any, token: str) -> None:
    _device_session(client, token)
    results = _second_session(client, store, token, first_seq=4, skip=None)
    offline = results["DUDU-CERT-OFFLINE"]
    assert offline.status == "passed" and "3 offline event" in offline.message, offline.message


def test_nothing_to_judge_is_skipped_with_the_reason(client: Client, store: Any) -> None:
    for _ in range(2):
        client.post("location_report", fx.heartbeat())
    _space_heartbeats(store, 2)
    _, results = _grade(store)
    for check_id in ("DUDU-CERT-LISTS", "DUDU-CERT-KEYS", "DUDU-CERT-OFFLINE-CARDS", "DUDU-CERT-OFFLINE-TICKETS"):
        assert results[check_id].status == "skipped" and results[check_id].message, check_id
    assert results["DUDU-CERT-HEARTBEAT"].status == "passed"


def test_a_heartbeat_refused_only_for_a_should_verdict_still_counts_as_sent(client: Client, store: Any, token: str) -> None:
    """A form the seed shows that the strict reading refuses (journaled as a SHOULD verdict) is a warning, not a gap."""
    _device_session(client, token)
    _space_heartbeats(store, 6)
    beats = store.query("SELECT id FROM journal WHERE operation = 'location_report' ORDER BY id")
    refused = {"req_id": "hb-1", "ret_code": 1001, "ret_msg": "check_mode as a string"}
    should = {"rule": "SCHEMA", "clause": "003 §3.1 check_mode int", "held": False, "level": "SHOULD", "decision": "D-DUDU-NUMSTR"}
    store.execute(
        "UPDATE journal SET reply_body = ?, verdicts = ?, code = '1001' WHERE id = ?",
        (json.dumps(refused), json.dumps([should]), beats[2]["id"]),
    )
    verdict, results = _grade(store)
    assert results["DUDU-CERT-HEARTBEAT"].status == "passed", results["DUDU-CERT-HEARTBEAT"].message
    assert results["DUDU-CERT-CALLS"].status == "warning" and results["DUDU-CERT-CALLS"].decision == "D-DUDU-NUMSTR"
    assert verdict == "passed"


def test_since_grades_a_fresh_window_without_blaming_what_came_before(served: Any) -> None:
    """With --since, lists fetched before the window are unknown (not graded) and seqs logged before it are logged."""
    from tests.dudu.device_sim import session

    client, store = served
    session(client, store)
    keys = store.query_one("SELECT MAX(id) AS id FROM journal WHERE operation = 'get_qrcode_keys'")["id"]
    events = list(DuduDeviceBackendRole(store, fx.ENTERPRISE, after_id=keys).run(seed=1))
    results = {e.result.check_id: e.result for e in events if isinstance(e, CheckFinished)}
    assert events[-1].verdict == "passed", {k: (r.status, r.message) for k, r in results.items()}
    assert results["DUDU-CERT-OFFLINE"].status == "passed"  # seqs 1–5 were logged before the window
    assert results["DUDU-CERT-OFFLINE-CARDS"].status == "skipped"  # the list it held was fetched before the window
    assert results["DUDU-CERT-OFFLINE-TICKETS"].status == "passed"  # the group it reports holding (key_version_code)


def test_a_digit_string_for_a_mode_is_one_warning_per_field_not_one_per_keyword(client: Client, store: Any) -> None:
    """003 §3.1's reply example writes "check_mode":"1": a device that sends it so breaks type and enum of one field."""
    for _ in range(3):
        client.post("location_report", fx.heartbeat(check_mode="0", white_mode="1"))
    _space_heartbeats(store, 2)
    events = list(DuduDeviceBackendRole(store, fx.ENTERPRISE).run(seed=1))
    calls = [e.result for e in events if isinstance(e, CheckFinished) and e.result.check_id == "DUDU-CERT-CALLS"]
    warned = sorted(r.message.split("(field ")[1].split(")")[0] for r in calls if r.status == "warning")
    assert warned == ["body.check_mode", "body.white_mode"], [(r.status, r.message) for r in calls]
    assert all(r.decision == "D-DUDU-NUMSTR" for r in calls)


def _set_times(store: Any, seconds: list[float]) -> None:
    """Journal times of the dudu exchanges, oldest first, at the given offsets (tests do not sleep)."""
    rows = store.query("SELECT id FROM journal WHERE platform = 'dudu' ORDER BY id")
    assert len(rows) == len(seconds)
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    for row, s in zip(rows, seconds, strict=True):
        store.execute("UPDATE journal SET at = ? WHERE id = ?", ((start + dt.timedelta(seconds=s)).isoformat(), row["id"]))


def test_a_log_sent_right_after_a_heartbeat_does_not_excuse_a_long_silence(client: Client, store: Any) -> None:
    """The device logged its offline swipes at once (so it was online) and then stayed silent for 55 s: a gap."""
    client.post("location_report", fx.heartbeat(offline_seq=1))
    client.post("card_check_log", fx.card_log(1))
    client.post("location_report", fx.heartbeat(offline_seq=1))
    _set_times(store, [0, 1, 56])  # interval 5 s: 11 s allowed
    _, results = _grade(store)
    beat = results["DUDU-CERT-HEARTBEAT"]
    assert beat.status == "failed" and fx.DEVICE in beat.message, beat.message


def test_a_device_that_comes_back_and_catches_up_on_its_logs_is_excused(client: Client, store: Any) -> None:
    """Offline for 55 s (no heartbeat), back: it logs what it decided offline and heartbeats on time again."""
    client.post("location_report", fx.heartbeat(offline_seq=0))
    client.post("card_check_log", fx.card_log(1))
    client.post("location_report", fx.heartbeat(offline_seq=1))
    _set_times(store, [0, 55, 58])
    _, results = _grade(store)
    assert results["DUDU-CERT-HEARTBEAT"].status == "passed", results["DUDU-CERT-HEARTBEAT"].message


def test_a_session_call_naming_no_device_is_graded_as_the_vendors_refused_call(client: Client, store: Any, token: str) -> None:
    """A heartbeat without device_id (or with an unregistered one) sent under the session's base path is refused 1001/1003
    and names none of the enterprise's devices: it is still the vendor's call (docs/certify.md) and fails
    DUDU-CERT-CALLS, not dropped while the device's other heartbeats pass."""
    from harness.conformance import sessions

    s = sessions.start(store, "dudu-device-backend", {"enterprise": fx.ENTERPRISE})
    base = f"/_session/{s.id}/dudu"

    def post(operation: str, body: Any = None, **kwargs: Any) -> dict[str, Any]:
        response = client.raw("POST", f"{base}/{operation}", json=body, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    _device_session(client, token)  # untagged and conforming: in the window too
    no_device = {k: v for k, v in fx.heartbeat(offline_seq=3).items() if k != "device_id"}
    assert post("location_report", no_device)["ret_code"] == 1001
    assert post("location_report", {**fx.heartbeat(offline_seq=3), "device_id": "NO-SUCH-DEVICE"})["ret_code"] == 1003
    assert post("get_qrcode_keys", {"token": "0" * 32})["ret_code"] == 1004
    _space_heartbeats(store, 2)
    events = list(DuduDeviceBackendRole(store, fx.ENTERPRISE, window=sessions.finish(store, s.id).window).run(seed=1))
    failed = [
        e.result for e in events if isinstance(e, CheckFinished) and e.result.check_id == "DUDU-CERT-CALLS" and e.result.status == "failed"
    ]
    text = " | ".join(r.message for r in failed)
    assert "location_report (ret_code 1001)" in text and "'device_id' is a required property" in text, text
    assert "location_report (ret_code 1003)" in text and "get_qrcode_keys (ret_code 1004)" in text, text
    assert isinstance(events[-1], RunFinished) and events[-1].verdict == "failed"


def test_a_rotation_in_the_last_heartbeats_is_not_reported_as_followed_by_a_fetch(client: Client, store: Any, token: str) -> None:
    """The device fetches its first key group (it reported key_version_code "0"), then the group rotates and the run
    ends two heartbeats later with no fetch: that rotation is not graded yet, and DUDU-CERT-KEYS must say so, not
    "1 rotation(s), each followed by a fetch" (the only fetch was the first one, before the rotation)."""
    hb = client.post("location_report", fx.heartbeat(key_version_code="0"))
    keys = client.post("get_qrcode_keys", {"req_id": fx.DEVICE, "token": token})
    assert keys["ret_code"] == 0 and keys["version_code"] == hb["version_code"]
    for _ in range(2):
        client.post("location_report", fx.heartbeat(key_version_code=keys["version_code"]))
    admin.rotate_keys(store, fx.ENTERPRISE)
    for _ in range(2):  # the new group is announced; the device keeps the old one and the run ends
        assert client.post("location_report", fx.heartbeat(key_version_code=keys["version_code"]))["version_code"] != keys["version_code"]
    _space_heartbeats(store, 2)
    _, results = _grade(store)
    message = results["DUDU-CERT-KEYS"].message
    assert "rotation(s), each followed by a fetch" not in message, message
    assert "first fetch" in message and "not graded" in message and f"{fx.DEVICE} key group" in message, message


def test_an_unknown_field_in_get_token_warns_naming_the_extra_fields_decision(tolerant: tuple[Client, Any]) -> None:
    """An unknown request field is D-DUDU-EXTRA-FIELDS' case in every interface, the designed get_token included (it
    named D-DUDU-TOKEN, the decision that designs the interface, not the one that accepts the field)."""
    client, store = tolerant
    reply = client.post("get_token", {"enterprise_id": fx.ENTERPRISE, "secret": fx.SECRET, "is_free": 1})
    assert reply["ret_code"] == 0, reply
    _, results = _grade(store)
    calls = results["DUDU-CERT-CALLS"]
    assert calls.status == "warning" and calls.decision == "D-DUDU-EXTRA-FIELDS" and "get_token" in calls.message, calls


def test_a_steady_cadence_twice_the_interval_is_a_warning_not_on_time(client: Client, store: Any, token: str) -> None:
    """The platform returns heartbeat_interval 5 and the device heartbeats every 10 s: every gap is within the
    tolerance (2 × 5 + 1 s), so nothing fails, but the device never keeps the interval 003 一、3 names; it read
    "heartbeat on time". A device at 5 s (with jitter up to 6 s) still passes."""
    for _ in range(6):
        assert client.post("location_report", fx.heartbeat())["heartbeat_interval"] == 5
    _space_heartbeats(store, 10)
    _, results = _grade(store)
    beat = results["DUDU-CERT-HEARTBEAT"]
    assert beat.status == "warning" and beat.decision == "D-DUDU-INTERVAL" and "every 10.0 s" in beat.message, beat
    _space_heartbeats(store, 6)
    assert _grade(store)[1]["DUDU-CERT-HEARTBEAT"].status == "passed"


def test_a_steady_slow_cadence_in_offline_mode_is_judged_too(client: Client, store: Any, token: str) -> None:
    """In the platform's offline mode a reader logs each swipe between its heartbeats; those gaps are no outage and
    count for the cadence: heartbeats every 10 s (5 asked), one offline log in each gap, still warn."""
    client.post("location_report", fx.heartbeat(offline_seq=0))
    for seq in (1, 2, 3, 4):
        client.post("card_check_log", fx.card_log(seq))
        client.post("location_report", fx.heartbeat(offline_seq=seq))
    _space_heartbeats(store, 5)  # rows 5 s apart: each heartbeat 10 s after the one before, a log in between
    beat = _grade(store)[1]["DUDU-CERT-HEARTBEAT"]
    assert beat.status == "warning" and beat.decision == "D-DUDU-INTERVAL" and "every 10.0 s" in beat.message, beat
