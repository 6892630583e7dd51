"""Bad input gets the platform's envelope, never a 500, an RFC 7807 body or a stack trace; nothing accepted is lost."""

from __future__ import annotations

import json

import pytest

from fixtures import files


def test_a_crash_inside_a_handler_is_an_envelope_with_an_incident_id(harness, monkeypatch) -> None:
    platform = harness.app.state_platforms["yxc"]

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(platform, "file_record", boom)
    reply = harness.post_json("student", {"inscode": "x" * 16})
    raw = json.dumps(reply, ensure_ascii=False)
    assert reply["errorcode"] in (1, 200)  # the body is invalid, so validation may answer first
    assert "Traceback" not in raw and "secret internals" not in raw


def test_internal_error_after_validation_is_errorcode_1(harness, monkeypatch) -> None:
    platform = harness.app.state_platforms["yxc"]
    monkeypatch.setattr("harness.yxc.platform.sniff", lambda data: (_ for _ in ()).throw(RuntimeError("secret internals")))
    reply = harness.upload("sfz", files.png())
    assert reply["errorcode"] == 1
    assert "incident" in reply["message"] and "secret" not in json.dumps(reply)
    assert platform is not None
    entry = harness.app.state_journal.query(limit=1)[0]
    assert entry["outcome"] == "failed" and entry["verdicts"][-1]["rule"] == "INTERNAL"


def test_no_reply_is_problem_json(harness) -> None:
    for path in ("/yxc/coach", "/yxc/imageup/sfz", "/yxc/x/y/z"):
        response = harness.request("PUT", path, content=b"\x00\xff")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        assert "errorcode" in response.json()


def test_oversized_body_is_refused_without_reading_it_all(harness) -> None:
    data = b"\x89PNG" + b"\0" * (harness.settings.max_body_bytes + 10)
    reply = harness.request(
        "POST", "/yxc/imageup/sfz", params=harness.signer.query(data), content=data, headers={"content-type": "application/octet-stream"}
    ).json()
    assert reply["errorcode"] == 200


def test_refused_calls_do_not_touch_accepted_state(harness) -> None:
    good = harness.upload("sfz", files.png())["data"]["id"]
    harness.upload("sfz", files.pdf())
    rows = harness.store.query("SELECT id FROM yxc_files")
    assert [r["id"] for r in rows] == [good]


def test_a_store_outage_is_logged_as_one_outage_not_a_traceback_per_exchange(caplog: pytest.LogCaptureFixture) -> None:
    """During a database outage every exchange fails alike: the first one is logged in one line, the rest are counted
    into the next line EVERY seconds later; any other failure keeps its traceback."""
    import logging

    from harness.server.exchange import _OutageLog
    from harness.store import StoreUnreachable

    outage = _OutageLog()
    lost = StoreUnreachable("store postgresql://harness@db/h unreachable: connection refused")
    with caplog.at_level(logging.ERROR, logger="harness.server"):
        for _ in range(50):
            try:
                raise RuntimeError("commit failed") from lost  # how the unit of work wraps it, or not at all
            except RuntimeError as exc:
                outage.failed("journal write failed on", "/dudu/location_report", "internal error", exc)
        assert len(caplog.records) == 1 and caplog.records[0].exc_info is None
        assert "unreachable" in caplog.records[0].getMessage()
        outage.logged_at -= outage.EVERY  # EVERY seconds later
        outage.failed("journal write failed on", "/dudu/location_report", "internal error", lost)
        assert "(49 more exchanges answered with the internal error" in caplog.records[-1].getMessage()
        try:
            raise KeyError("a bug")
        except KeyError as exc:
            outage.failed("unhandled error in", "/dudu/location_report", "internal error", exc)
        assert caplog.records[-1].exc_info is not None  # a real bug keeps its traceback
