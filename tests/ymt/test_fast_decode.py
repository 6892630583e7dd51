"""B.4 decode on the fast path: the replay claim decided at commit, the cache of merchants and scanners, and parity
with the Connexion path (the same requests give the same envelope bytes and journal rows on both)."""

from __future__ import annotations

import asyncio
import functools
import json
import re
import shutil
import sqlite3
import warnings
from pathlib import Path
from typing import Any

import orjson
import pytest

from fixtures.dudu import AsgiClient
from harness import sealing
from harness.config import Settings
from harness.schema import open_store
from harness.ymt import admin, crypto, rules
from harness.ymt.platform import YmtPlatform
from tests.ymt import world
from tests.ymt.world import Scene

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from harness.server import create_app

DECODE = "/ymt/qrcode/decode"


def _decodes(store: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in store.query("SELECT * FROM journal WHERE operation = 'decode_qrcode' ORDER BY id")]


def _together(client: AsgiClient, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Send the bodies concurrently (one event loop iteration reads them all) and return the replies in order."""

    async def send_all() -> list[Any]:
        return await asyncio.gather(*(client.client.post(DECODE, json=b) for b in bodies))

    return [r.json() for r in client.loop.run_until_complete(send_all())]


# --- the replay claim ----------------------------------------------------------------------------------------------------
def test_two_concurrent_identical_decodes_give_exactly_one_answer(scene: Scene) -> None:
    code = scene.code()
    body = scene.decode_body(code)
    second = scene.decode_body(code, mac=world.MAC)  # another signed request in the same batch: not affected
    replies = _together(scene.client, [body, body, second])
    assert [r["code"] for r in replies] == ["PY0000", "PY2003", "PY0000"], replies
    assert replies[1]["violations"][0]["rule"] == "YMT-REPLAY" and "already received" in replies[1]["msg"]
    assert scene.open(replies[0], body)["userName"] == world.NAME
    rows = _decodes(scene.store)
    assert sorted(r["code"] for r in rows) == ["PY0000", "PY0000", "PY2003"]  # one journal row each
    refused = next(r for r in rows if r["code"] == "PY2003")
    verdicts = json.loads(refused["verdicts"])
    replay = [v for v in verdicts if v["rule"] == "YMT-REPLAY"]
    assert replay == [{**replay[0], "held": False}] and refused["outcome"] == "failed"  # no held verdict left beside it
    assert "response" not in json.loads(refused["reply_body"])  # the refusal, not the sealed answer, is journaled
    assert scene.store.query_one("SELECT COUNT(*) AS n FROM ymt_seen_requests")["n"] == 2
    assert scene.post("/qrcode/decode", body)["code"] == "PY2003"  # and later, by the rule itself


def test_a_claim_lost_at_commit_is_answered_as_a_replay(scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers: the second's look-up ran before the first committed. The PRIMARY KEY decides at commit."""
    body = scene.decode_body(scene.code())
    assert scene.post("/qrcode/decode", body)["code"] == "PY0000"
    blind = rules.LOOKUP_SQL.replace(rules.SEEN_SQL, rules.SEEN_SQL + " AND 1 = 0")
    monkeypatch.setattr(rules, "LOOKUP_SQL", blind)  # the look-up finds nothing, as in the other worker
    lost = scene.post("/qrcode/decode", body)
    assert lost["code"] == "PY2003" and lost["violations"][0]["rule"] == "YMT-REPLAY"
    last = _decodes(scene.store)[-1]
    assert last["code"] == "PY2003" and last["outcome"] == "failed"
    assert orjson.loads(last["reply_body"]) == lost
    assert scene.store.query_one("SELECT COUNT(*) AS n FROM ymt_seen_requests")["n"] == 1
    fresh = scene.decode_body(scene.code())  # the store is consistent afterwards: the next one goes through
    assert scene.post("/qrcode/decode", fresh)["code"] == "PY0000"


def test_a_refused_decode_claims_nothing(scene: Scene) -> None:
    body = {**scene.decode_body("YMTQ" + "A" * 24)}
    assert scene.post("/qrcode/decode", body)["code"] == "PY3001"
    assert scene.store.query_one("SELECT COUNT(*) AS n FROM ymt_seen_requests")["n"] == 0
    assert scene.post("/qrcode/decode", body)["code"] == "PY3001"  # the same refusal again, not a replay


# --- the cache of merchants and scanners -----------------------------------------------------------------------------------
def test_a_removed_scanner_is_refused_at_once(scene: Scene) -> None:
    assert scene.post("/qrcode/decode", scene.decode_body(scene.code()))["code"] == "PY0000"  # cached now
    assert admin.remove_device(scene.store, scene.merchant_id, world.MAC)
    assert scene.post("/qrcode/decode", scene.decode_body(scene.code()))["code"] == "PY2005"
    admin.add_device(scene.store, scene.merchant_id, world.MAC)
    assert scene.post("/qrcode/decode", scene.decode_body(scene.code()))["code"] == "PY0000"


def test_a_change_by_another_process_takes_effect_at_once(scene: Scene) -> None:
    """Another connection (a second worker, the CLI) changes the store: its data_version moves, the cache empties."""
    assert scene.post("/qrcode/decode", scene.decode_body(scene.code()))["code"] == "PY0000"
    with sqlite3.connect(scene.store.path) as other:
        other.execute("DELETE FROM ymt_devices WHERE merchant_id = ? AND mac_id = ?", (scene.merchant_id, world.MAC))
    assert scene.post("/qrcode/decode", scene.decode_body(scene.code()))["code"] == "PY2005"
    admin.add_device(scene.store, scene.merchant_id, world.MAC)
    rotated = admin.new_rsa_key()
    with sqlite3.connect(scene.store.path) as other:
        other.execute("UPDATE ymt_merchants SET public_key = ? WHERE id = ?", (admin.public_pem(rotated.public_key()), scene.merchant_id))
    assert scene.post("/qrcode/decode", scene.decode_body(scene.code()))["code"] == "PY2001"  # the old key no longer verifies
    assert scene.post("/qrcode/decode", scene.decode_body(scene.code(), key=rotated))["code"] == "PY0000"
    with sqlite3.connect(scene.store.path) as other:
        other.execute("INSERT INTO ymt_status (name, value, at) VALUES ('down', '1', 'now')")
    assert scene.post("/qrcode/decode", scene.decode_body(scene.code(), key=rotated))["code"] == "PY9002"


def test_a_scanner_key_rotated_through_the_interface_takes_effect_at_once(scene: Scene) -> None:
    own = admin.new_rsa_key()
    enrol = {"merchantId": scene.merchant_id, "macId": world.MAC, "publicKey": admin.public_pem(own.public_key())}
    assert scene.post("/merchant/device", enrol)["code"] == "PY0000"
    assert scene.post("/qrcode/decode", scene.decode_body(scene.code()))["code"] == "PY2001"  # the merchant's key: not the scanner's
    assert scene.post("/qrcode/decode", scene.decode_body(scene.code(), key=own))["code"] == "PY0000"
    newer = admin.new_rsa_key()
    assert scene.post("/merchant/device", {**enrol, "publicKey": admin.public_pem(newer.public_key())})["code"] == "PY0000"
    assert scene.post("/qrcode/decode", scene.decode_body(scene.code(), key=own))["code"] == "PY2001"
    assert scene.post("/qrcode/decode", scene.decode_body(scene.code(), key=newer))["code"] == "PY0000"


def test_decodes_and_codes_leave_the_cache_filled(scene: Scene) -> None:
    """A decode's claim and a shown code change no cached table: they must not empty the cache on every request."""
    platform = scene.client.app.state_platforms["ymt"]
    assert scene.post("/qrcode/decode", scene.decode_body(scene.code()))["code"] == "PY0000"
    assert platform.enrolment._entries
    cached = dict(platform.enrolment._entries)
    shown = scene.post("/qrcode/generate", {"accessToken": scene.token, "latitude": "30.2741", "longitude": "120.1551"})
    assert shown["code"] == "PY0000"
    assert platform.enrolment._entries == cached  # the code the interface issued emptied nothing
    assert scene.post("/qrcode/decode", scene.decode_body(scene.code()))["code"] == "PY0000"
    assert platform.enrolment._entries


def test_an_older_store_keeps_the_requests_it_has_seen(tmp_path: Path) -> None:
    """Schema step 3 rebuilds ymt_seen_requests with its key time first; the requests an older store had seen are still
    refused as replays, and the key still refuses a second claim."""
    db = tmp_path / "older.db"
    open_store(db).close()
    with sqlite3.connect(db) as older:  # the table as steps 1-2 left it, one request seen
        older.execute("DROP TABLE ymt_seen_requests")
        older.execute(
            "CREATE TABLE ymt_seen_requests (merchant_id TEXT NOT NULL, mac_id TEXT NOT NULL, time TEXT NOT NULL,"
            " sign_sha256 TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (merchant_id, mac_id, time, sign_sha256))"
        )
        older.execute("INSERT INTO ymt_seen_requests VALUES ('M1', 'S1', '20261201120000', 'ab', 1.0)")
        older.execute("UPDATE schema_versions SET version = 2 WHERE owner = 'ymt'")
    store = open_store(db)
    try:
        assert store.versions()["ymt"] == 3
        assert store.query_one(rules.SEEN_SQL, ("M1", "S1", "20261201120000", "ab")) is not None
        table = store.query_one("SELECT sql FROM sqlite_master WHERE name = 'ymt_seen_requests'")["sql"]
        assert "PRIMARY KEY (time, merchant_id, mac_id, sign_sha256)" in table
        with store.transaction(changes_state=False) as conn:
            assert conn.execute(rules.CLAIM_SQL, ("M1", "S1", "20261201120000", "ab", 2.0)).rowcount == 0
            assert conn.execute(rules.CLAIM_SQL, ("M1", "S1", "20261201120001", "ab", 2.0)).rowcount == 1
    finally:
        store.close()


# --- the cache of opened people (admin.OpenPerson) --------------------------------------------------------------------------
def _rename(conn: Any, scene: Scene, name: str) -> None:
    conn.execute("UPDATE ymt_users SET name = ? WHERE id = ?", (sealing.seal(scene.store, name, admin.NAME_PURPOSE), scene.user_id))


def _answered_name(scene: Scene, code: str | None = None) -> str:
    body = scene.decode_body(code or scene.code())
    reply = scene.post("/qrcode/decode", body)
    assert reply["code"] == "PY0000", reply
    return scene.open(reply, body)["userName"]


def test_a_person_changed_by_another_process_is_answered_changed_at_once(scene: Scene) -> None:
    platform = scene.client.app.state_platforms["ymt"]
    assert _answered_name(scene) == world.NAME
    assert platform.enrolment._people  # opened once, kept
    with sqlite3.connect(scene.store.path) as other:  # the CLI or another worker: data_version moves
        _rename(other, scene, "李四")
    assert _answered_name(scene) == "李四"
    assert len(platform.enrolment._people) == 1  # the older entry was dropped, not merely missed


def test_a_person_changed_through_the_platforms_handle_is_answered_changed_at_once(scene: Scene) -> None:
    platform = scene.client.app.state_platforms["ymt"]
    assert _answered_name(scene) == world.NAME
    with scene.store.transaction() as conn:  # Store.on_state_change empties the cache
        _rename(conn, scene, "王五")
    assert not platform.enrolment._people
    assert _answered_name(scene) == "王五"


def test_a_changed_person_is_never_answered_from_an_older_entry(scene: Scene) -> None:
    """Even a change no hook reported (a write declared as changing no state) misses the entry: its key is the stored,
    sealed values themselves."""
    code = scene.code()  # one code scanned twice (issuing another would call the change hooks)
    assert _answered_name(scene, code) == world.NAME
    with scene.store.transaction(changes_state=False) as conn:
        _rename(conn, scene, "赵六")
    assert _answered_name(scene, code) == "赵六"
    assert len(scene.client.app.state_platforms["ymt"].enrolment._people) == 2  # the older entry missed, not dropped


def test_the_cache_holds_people_in_memory_only(scene: Scene) -> None:
    """What the cache opened is journaled as keyed hashes, as before; the store keeps the person sealed."""
    assert _answered_name(scene) == world.NAME
    assert _answered_name(scene) == world.NAME  # the second answer from the cache
    rows = _decodes(scene.store)
    assert len(rows) == 2
    for row in rows:
        assert world.NAME not in row["reply_body"] and world.ID_CARD not in row["reply_body"]
        answer = json.loads(row["reply_body"])["response"]
        assert answer["userName"] == scene.client.app.state_platforms["ymt"].masker.secret(world.NAME)
    stored = scene.store.query_one("SELECT name, id_card FROM ymt_users WHERE id = ?", (scene.user_id,))
    assert str(stored["name"]).startswith("sealed:v1:") and str(stored["id_card"]).startswith("sealed:v1:")


# --- parity: the fast path and the Connexion path ------------------------------------------------------------------------------
KEYED = re.compile(r"hmac-sha256:[0-9a-f]+:")


def _traffic(scene: Scene) -> list[bytes]:
    code = scene.code()
    fresh = scene.decode_body(code)
    bodies: list[Any] = [
        fresh,
        fresh,  # a replay
        {**scene.decode_body(code), "sign": "eA=="},  # a bad signature
        {k: v for k, v in scene.decode_body(code).items() if k != "sign"},  # a missing field
        {**scene.decode_body(code), "merchantId": "M99999999"},
        scene.decode_body(code, mac="GATE-99"),
        scene.decode_body("YMTQ" + "A" * 24),
        scene.decode_body(code, time="20200101000000"),
        {**scene.decode_body(code), "extra": 1},
        b"{not json",
        b"",
    ]
    return [b if isinstance(b, bytes) else orjson.dumps(b) for b in bodies]


def _serve(db: Path, traffic: list[bytes], *, fast: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[list[bytes], list[dict[str, Any]]]:
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(YmtPlatform, "fast_operations", lambda self: {})
        store = open_store(db)
        app = create_app(Settings(db=db, validate_responses=True, profile="strict"), store)
        client = AsgiClient(app)
        try:
            wires = [client.raw("POST", DECODE, content=b, headers={"content-type": "application/json"}).content for b in traffic]
        finally:
            client.close()
        rows = []
        for row in [dict(r) for r in store.query("SELECT * FROM journal WHERE path = ? ORDER BY id", (DECODE,))]:
            entry = {k: v for k, v in row.items() if k not in ("id", "at", "duration_ms")}
            rows.append({k: KEYED.sub("<k>", v) if isinstance(v, str) else v for k, v in entry.items()})
        store.close()
    return wires, rows


def test_the_fast_path_and_the_connexion_path_answer_and_journal_a_decode_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    moment = admin.now()
    monkeypatch.setattr(admin, "now", lambda: moment)  # serverTime inside the sealed answer
    monkeypatch.setattr(crypto, "encrypt_reply", functools.partial(crypto.encrypt_reply, nonce=b"\x07" * 12))  # a fixed GCM nonce
    made = tmp_path / "world.db"
    store = open_store(made)
    scene = world.scene(None, store)
    traffic = _traffic(scene)
    store.close()
    for name in ("fast.db", "connexion.db"):  # two copies of one world: the same keys, codes and masking key
        shutil.copy(made, tmp_path / name)
        shutil.copy(made.with_name(made.name + ".seal-key"), tmp_path / (name + ".seal-key"))
    fast_wires, fast_rows = _serve(tmp_path / "fast.db", traffic, fast=True, monkeypatch=monkeypatch)
    slow_wires, slow_rows = _serve(tmp_path / "connexion.db", traffic, fast=False, monkeypatch=monkeypatch)
    assert len(fast_rows) == len(slow_rows) == len(traffic)
    assert json.loads(fast_wires[0])["code"] == "PY0000" and json.loads(fast_wires[1])["code"] == "PY2003"
    for body, fast, slow in zip(traffic, fast_wires, slow_wires, strict=True):
        assert fast == slow, body
    for fast_row, slow_row in zip(fast_rows, slow_rows, strict=True):
        assert fast_row == slow_row, fast_row["request_body"]


# --- the claim machinery itself (harness/unit_of_work.py, LoopGroupCommit) -------------------------------------------------
def test_a_lost_claim_fails_only_its_own_exchange_in_a_group_commit(tmp_path: Path) -> None:
    from harness.journal import Exchange, LoopGroupCommit
    from harness.unit_of_work import ClaimConflict

    store = open_store(tmp_path / "claims.db")
    commit = LoopGroupCommit(store)
    claim = "INSERT INTO ymt_seen_requests (merchant_id, mac_id, time, sign_sha256, at) VALUES (?, ?, ?, ?, 0) ON CONFLICT DO NOTHING"

    def exchange(key: str, note: str) -> Exchange:
        ex = Exchange(platform="ymt", method="POST", path=DECODE, query="", request_headers={}, request_body=note.encode())
        ex.work.claim(claim, ("M1", "S1", "t", key), lambda: RuntimeError(f"refused {note}"))
        ex.work.write("INSERT INTO ymt_status (name, value, at) VALUES (?, 'x', 'now')", (note,), cached=True)
        return ex

    async def three() -> list[Any]:
        batch = [exchange("k1", "first"), exchange("k1", "second"), exchange("k2", "third")]
        return await asyncio.gather(*(commit.record(e) for e in batch), return_exceptions=True)

    try:
        first, second, third = asyncio.run(three())
        assert isinstance(first, int) and isinstance(third, int)
        assert isinstance(second, ClaimConflict) and str(second.refusal()) == "refused second"
        assert [r["request_body"] for r in store.query("SELECT request_body FROM journal ORDER BY id")] == [b"first", b"third"]
        assert {r["name"] for r in store.query("SELECT name FROM ymt_status")} == {"first", "third"}  # the loser's writes: none
    finally:
        store.close()


def test_the_claim_and_the_sealed_people_on_either_engine(store_target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite and PostgreSQL alike: concurrent identical decodes give one answer, a person's data is sealed and found
    by ID number through the blind index."""
    import base64
    import os

    monkeypatch.setenv("HARNESS_SEAL_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())  # no key file beside a URL
    store = open_store(store_target)
    app = create_app(Settings(db=store_target, validate_responses=True), store)
    client = AsgiClient(app)
    try:
        scene = world.scene(client, store)
        body = scene.decode_body(scene.code())
        replies = _together(client, [body, body])
        assert sorted(r["code"] for r in replies) == ["PY0000", "PY2003"]
        row = store.query_one("SELECT name, id_card FROM ymt_users WHERE id = ?", (scene.user_id,))
        assert str(row["name"]).startswith("sealed:v1:") and str(row["id_card"]).startswith("sealed:v1:")
        found = admin.find_user_by_card(store, world.ID_CARD)
        assert found is not None and found["name"] == world.NAME
    finally:
        client.close()
        store.close()
