"""The dudu-device-backend certify role, graded from the journal: a well-behaved backend passes; each misbehaviour
fails the check that names its clause."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fixtures import dudu as fx
from fixtures.dudu import AsgiClient as Client
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
