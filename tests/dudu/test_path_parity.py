"""The fast path and the Connexion path are one product: for every fast operation the same requests give the same
envelope bytes and the same journal rows (ignoring id, time and duration) whichever path serves them."""

from __future__ import annotations

import hashlib
import itertools
import re
import types
import warnings
from pathlib import Path
from typing import Any

import orjson
import pytest

from fixtures import dudu as fx
from fixtures.dudu import AsgiClient as Client
from harness.config import Settings
from harness.dudu.platform import DuduPlatform
from harness.journal import entry_from_row
from harness.schema import open_store

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from harness.server import create_app

WHEN = fx.device_time()
# What differs by the second between two runs of the same traffic, masked in both: the server's own clock.
# (DUDU list versions are the clock's seconds when the list last changed: fx.world made them.)
KEYED = re.compile(r"hmac-sha256:[0-9a-f]+:")
CLOCK = re.compile(rb'"(server_time|version_code)":"?[0-9: -]+"?')


def _traffic() -> list[tuple[str, bytes]]:
    token = "00" * 16  # the first token each run issues (token_hex is made deterministic below)
    heartbeat = fx.heartbeat(time=WHEN)
    bodies: list[tuple[str, Any]] = [
        ("get_token", {"req_id": "t", "enterprise_id": fx.ENTERPRISE, "secret": fx.SECRET}),
        ("get_token", {"req_id": "t2", "enterprise_id": fx.ENTERPRISE, "secret": "wrong"}),
        ("get_token", {}),
        ("location_report", heartbeat),
        ("location_report", {**heartbeat, "check_mode": "1", "req_id": "bad-type"}),
        ("location_report", {**heartbeat, "device_id": "NOPE"}),
        ("location_report", {**heartbeat, "surplus": 1}),
        ("location_report", b"{not json"),
        ("location_report", b"[]"),
        ("location_report", b""),
        ("location_report", b'{"device_id": "\xff\xfe"}'),
        ("location_report", b'{"device_id": 123456789012345678901234567890}'),
        ("get_card_list", {"token": token, "device_id": fx.DEVICE, "type": 1}),
        ("get_card_list", {"token": "f" * 32, "device_id": fx.DEVICE, "type": 1}),
        ("get_card_list", {"token": token, "device_id": fx.DEVICE, "type": 9}),
        ("card_check", fx.card_check(time=WHEN)),
        ("card_check", fx.card_check("99999999", time=WHEN)),
        ("card_check_log", fx.card_log(1, time=WHEN)),
        ("card_check_log", fx.card_log(1, time=WHEN)),
        ("card_check_log", fx.card_log(2, time="not a time")),
        ("get_line_card_list", {"token": token, "device_id": fx.DEVICE}),
        ("get_qrcode_keys", {"req_id": "k", "token": token}),
        ("get_qrcode_keys", {"req_id": "k"}),
        ("ticket_check", fx.ticket_check("DD1.not-a-ticket", time=WHEN)),
        ("ticket_check", fx.ticket_check("", time=WHEN)),
        ("offline_qrcode_log", {"device_id": fx.DEVICE, "qr_code": "DD1.x", "time": WHEN, "status": "0", "seq": 1}),
        ("offline_qrcode_log", {"device_id": fx.DEVICE, "qr_code": "DD1.x", "time": WHEN, "status": 7}),
    ]
    return [(op, body if isinstance(body, bytes) else orjson.dumps(body)) for op, body in bodies]


def _serve(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> tuple[list[bytes], list[dict[str, Any]]]:
    counter = itertools.count()
    # Only the platform's own tokens are numbered (patching the secrets module itself would also number whatever other
    # module happens to be imported, and so draw, first in one run and not the other).
    numbered = types.SimpleNamespace(token_hex=lambda n=16: f"{next(counter):0{2 * n}x}")
    for module in ("harness.dudu.platform", "harness.dudu.qr", "harness.dudu.admin"):
        monkeypatch.setattr(f"{module}.secrets", numbered)
    db = tmp_path / f"{name}.db"
    store = open_store(db)
    fx.world(store)
    app = create_app(Settings(db=db, validate_responses=True, profile="tolerant"), store)
    app.state_journal.start()
    client = Client(app)
    replies = []
    try:
        for op, body in _traffic():
            response = client.raw("POST", f"/dudu/{op}", content=body, headers={"content-type": "application/json"})
            replies.append(response.content)
    finally:
        client.close()
        app.state_journal.stop()
    rows = []
    for row, wire in zip(store.query("SELECT * FROM journal ORDER BY id"), replies, strict=True):
        assert entry_from_row(row)["reply_sha256"] == hashlib.sha256(wire).hexdigest()  # the digest of the bytes sent
        entry = {k: row[k] for k in row.keys() if k not in ("id", "at", "duration_ms", "reply_sha256")}
        entry["reply_body"] = CLOCK.sub(rb'"\1":"<clock>"', (entry["reply_body"] or "").encode()).decode()
        # each store masks secrets under its own key: the same secret's form differs only in the keyed digest
        for column in ("request_body", "reply_body", "verdicts", "query"):
            value = entry[column]
            if isinstance(value, str):
                entry[column] = KEYED.sub("hmac-sha256:<key>:", value)
            elif isinstance(value, bytes):
                entry[column] = KEYED.sub("hmac-sha256:<key>:", value.decode("utf-8", "replace"))
        rows.append(entry)
    store.close()
    return [CLOCK.sub(rb'"\1":"<clock>"', r) for r in replies], rows


def test_every_fast_operation_answers_and_journals_alike_on_both_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(tmp_path / "ops.db")
    offered = set(DuduPlatform(store, Settings(db=tmp_path / "ops.db")).fast_operations().values())
    store.close()
    fast_replies, fast_rows = _serve(tmp_path, "fast", monkeypatch)
    monkeypatch.setattr(DuduPlatform, "fast_operations", lambda self: {})  # every request then goes through Connexion
    slow_replies, slow_rows = _serve(tmp_path, "connexion", monkeypatch)
    assert offered and offered <= {op for op, _ in _traffic()}  # every fast operation is exercised
    assert len(fast_rows) == len(slow_rows) == len(_traffic())
    for (op, _), fast, slow in zip(_traffic(), fast_replies, slow_replies, strict=True):
        assert fast == slow, op
    for fast, slow in zip(fast_rows, slow_rows, strict=True):
        assert fast == slow, fast["operation"]
