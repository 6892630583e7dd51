"""No secret at rest in clear: after a scenario of each platform, the store's files (database and WAL) hold none of
the passwords, enterprise secrets or tokens it used; the journal shows them as keyed hashes that still match."""

from __future__ import annotations

import asyncio
import contextlib
import json
import timeit
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from fixtures import dudu as fx
from harness import masking
from harness.cli import main
from harness.config import Settings
from harness.dudu import admin
from harness.journal import Exchange
from harness.schema import open_store
from harness.server import create_app
from harness.zjpx import accounts

ZJPX_PASSWORD = "Pa55-word-zjpx-42"


def post(app: Any, path: str, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://harness") as client:
            return await client.post(path, json=body, headers=headers)

    response = asyncio.run(go())
    assert response.status_code == 200, response.text
    return response.json()


def store_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(db.parent.glob(db.name + "*")))


def journal_cli(db: Path) -> str:
    result = CliRunner().invoke(main, ["journal", "--json", "--limit", "100", "--db", str(db)])
    assert result.exit_code == 0, result.output
    return result.output


def assert_absent(db: Path, *secrets: str) -> None:
    raw = store_bytes(db)
    shown = journal_cli(db)
    for secret in secrets:
        assert secret and secret.encode() not in raw, f"{secret!r} is in the store in clear"
        assert secret not in shown, f"{secret!r} is shown by `harness journal`"


def test_zjpx_passwords_and_tokens_never_reach_the_store(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    store = open_store(db)
    app = create_app(Settings(db=db), store)
    account = accounts.add_account(store, "platform-x", ZJPX_PASSWORD, "测试学习平台")
    head = {"deviceType": "TYPE_PC", "timestamp": "1587107195", "deviceId": "0a1b2c3d4e5f", "userToken": ""}
    tokens = []
    for _ in range(2):
        reply = post(
            app, "/zjpx/api/v1/thlogin", {"headers": head, "data": {"studyPlatformAcount": account.account, "passWord": ZJPX_PASSWORD}}
        )
        assert reply["returnCode"] == "0", reply
        tokens.append(reply["returnData"]["acceptToken"])
    wrong = post(app, "/zjpx/api/v1/thlogin", {"headers": head, "data": {"studyPlatformAcount": "nobody", "passWord": "guess-1234"}})
    assert wrong["returnCode"] != "0"
    for token in tokens:  # the token in use, under both header spellings
        post(app, "/zjpx/api/v1/authentication", {"headers": {**head, "userToken": token}, "data": {}})
        post(app, "/zjpx/api/v1/authentication", {"headers": {**head, "userToken": "", "user_token": token}, "data": {}})
    assert accounts.find_token(store, tokens[0]) is not None  # the platform still recognises its tokens
    entries = app.state_journal.query(platform="zjpx", operation="thlogin", limit=None, ascending=True)
    passwords = [json.loads(e["request_body"])["data"]["passWord"] for e in entries]
    assert passwords[0] == passwords[1] == masking.hide(store, ZJPX_PASSWORD)  # same secret, same mask: rows still match
    assert passwords[0].startswith("hmac-sha256:") and passwords[2] != passwords[0]
    assert entries[0]["reply"]["returnData"]["acceptToken"] == masking.hide(store, tokens[0])
    store.close()
    assert_absent(db, ZJPX_PASSWORD, "guess-1234", *tokens)


def test_dudu_secrets_and_tokens_never_reach_the_store(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    store = open_store(db)
    app = create_app(Settings(db=db), store)
    fx.world(store)
    fleet = admin.add_fleet(store, "399", ["F00001"], "L9", ["10000001"], secret="fleet-secret-399")
    client = fx.AsgiClient(app)
    try:
        token = client.post("get_token", {"enterprise_id": fx.ENTERPRISE, "secret": fx.SECRET})["token"]
        assert client.post("get_token", {"enterprise_id": fx.ENTERPRISE, "secret": "wrong-secret-1"})["ret_code"] == 1005
        assert client.post("get_token", {"enterprise_id": "404", "secret": "wrong-secret-2"})["ret_code"] == 1005
        other = client.post("get_token", {"enterprise_id": "399", "secret": fleet.secret})["token"]
        assert client.post("get_card_list", {"token": token, "device_id": fx.DEVICE, "type": 1})["ret_code"] == 0
        assert client.post("get_line_card_list", {"token": token, "device_id": fx.DEVICE})["ret_code"] == 0
        assert client.post("get_qrcode_keys", {"token": token, "req_id": "k1"})["ret_code"] == 0
        assert client.post("location_report", fx.heartbeat())["ret_code"] == 0
        assert client.post("card_check", fx.card_check())["ret_code"] == 0
    finally:
        client.close()
    entries = app.state_journal.query(platform="dudu", operation="get_card_list", limit=None)
    assert json.loads(entries[0]["request_body"])["token"] == masking.hide(store, token)
    store.close()
    assert_absent(db, fx.SECRET, "wrong-secret-1", "wrong-secret-2", "fleet-secret-399", token, other)


def test_yxc_credential_headers_are_masked_and_codes_kept(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    store = open_store(db)
    app = create_app(Settings(db=db), store)
    post(app, "/yxc/student", {"inscode": "x"}, headers={"authorization": "Bearer yxc-bearer-secret-77"})
    entry = app.state_journal.query(platform="yxc", limit=1)[0]
    assert entry["request_headers"]["authorization"].startswith("Bearer hmac-sha256:")
    store.close()
    assert_absent(db, "yxc-bearer-secret-77")


def test_masking_keeps_the_rest_of_the_body_byte_for_byte(tmp_path: Path) -> None:
    m = masking.masker(open_store(tmp_path / "h.db"), {"token", "passWord"})
    body = b'{"a": 1.50, "token" : "ab\\"cd1234", "n": {"passWord": 12345678}, "msg": "say \\"token\\": \\"x\\""}'
    masked = m.json_bytes(body)
    doc = json.loads(masked)
    assert doc["a"] == 1.5 and b'"a": 1.50' in masked and doc["msg"] == 'say "token": "x"'
    assert doc["token"] == m.secret('ab"cd1234') and doc["n"]["passWord"] == m.secret("12345678")
    assert m.json_bytes(masked) == masked  # idempotent
    assert m.secret("abc").endswith(":…") and m.secret("abcdefgh").endswith(":…gh") and m.secret("a" * 32).endswith(":…aaaa")
    assert m.query("a=1&token=sekrit-sekrit&b=2") == f"a=1&token={m.secret('sekrit-sekrit')}&b=2"


def test_masking_costs_nothing_on_a_heartbeat_and_little_on_a_token(tmp_path: Path) -> None:
    store = open_store(tmp_path / "h.db")
    m = masking.masker(store, {"secret", "token"})
    heartbeat = json.dumps(fx.heartbeat()).encode()
    with_token = json.dumps({"token": "0123456789abcdef0123456789abcdef", "device_id": fx.DEVICE, "type": 1}).encode()

    def cost(body: bytes) -> float:
        def once() -> None:
            e = Exchange("dudu", "POST", "/dudu/x", "", {"content-type": "application/json"}, body, reply_body=b'{"ret_code":0}')
            e.masker = m
            masking.mask_exchange(e)

        return min(timeit.repeat(once, number=2000, repeat=3)) / 2000

    baseline = min(timeit.repeat(lambda: Exchange("dudu", "POST", "/dudu/x", "", {}, heartbeat), number=2000, repeat=3)) / 2000
    hb, tok = cost(heartbeat), cost(with_token)
    assert hb - baseline < 20e-6 and tok < 100e-6, (baseline, hb, tok)  # measured: heartbeat ~1 µs, token ~5 µs


def test_replies_are_scanned_unless_their_schema_names_no_secret(tmp_path: Path) -> None:
    """The journal skips scanning a delivered reply only when the operation's reply schema names no secret field; a
    request is always scanned, so a token sent where none belongs is masked all the same."""
    db = tmp_path / "h.db"
    store = open_store(db)
    app = create_app(Settings(db=db), store)
    fx.world(store)
    client = fx.AsgiClient(app)
    try:
        token = client.post("get_token", {"enterprise_id": fx.ENTERPRISE, "secret": fx.SECRET})["token"]
        assert client.post("location_report", {**fx.heartbeat(), "token": token})["ret_code"] == 0
    finally:
        client.close()
    from harness.server import fastpath

    routes = fastpath.compile_operations([app.state_platforms["dudu"]], False)
    assert routes["/dudu/location_report"].reply_secret_free
    assert not routes["/dudu/get_token"].reply_secret_free  # its reply carries the token
    beat = app.state_journal.query(platform="dudu", operation="location_report", limit=1)[0]
    assert json.loads(beat["request_body"])["token"] == masking.hide(store, token)
    store.close()
    assert_absent(db, fx.SECRET, token)


def test_dym_personal_data_is_sealed_at_rest_and_masked_in_the_journal(tmp_path: Path) -> None:
    """A full DYM scenario (claims, plates bound and bound again, consent, scan-to-verify with certificates, lookups by
    every key, violations, waybills): the store's files hold none of the personal values in clear (table rows, ledger
    openings, journal), the journal and `harness journal` show them masked, and the platform still finds its rows by
    each value (blind indexes) and refuses a second claim of the same ID number or USCC."""
    from harness.dym import personal, signing
    from tests.dym.conftest import DRIVER_A, DRIVER_B, _world

    worlds = _world(tmp_path, "tolerant")
    world = next(worlds)
    ent = {"uscc": "91350100M000100Y43", "name": "昆明货运有限公司", "mobile": "13900000001"}
    trailer, second = "云L1234挂", "云A7K902"
    try:
        a = world.enterprise.call("driver_claim", DRIVER_A)["data"]
        world.enterprise.call("driver_claim", DRIVER_B)
        assert world.enterprise.call("driver_claim", {**DRIVER_A, "id_no": DRIVER_A["id_no"].lower()})["code"] == "3002"
        assert world.enterprise.call("enterprise_claim", ent)["code"] == "0"
        assert world.enterprise.call("enterprise_claim", ent)["code"] == "3002"
        auth = {"driver_code": a["driver_code"], "driver_token": a["driver_token"]}
        assert world.carrier.call("vehicle_bind", {**auth, "plate": second})["code"] == "0"
        bound = world.carrier.call("vehicle_bind", {**auth, "plate": second, "trailer_plate": trailer})["data"]["vehicles"]
        assert bound == [{"plate": second, "trailer_plate": trailer}, {"plate": DRIVER_A["plate"], "trailer_plate": None}]
        grant = {**auth, "grantee": world.enterprise.app.app_id, "scope": ["id_card", "qualification", "vehicle_licence"]}
        assert world.carrier.call("consent_grant", {**grant, "ttl_seconds": 3600})["code"] == "0"
        scan = {"qr_content": a["qr_content"], "fields": ["id_card", "qualification", "vehicle_licence"]}
        certificates = world.enterprise.call("scan_verify", scan)["data"]["certificates"]
        assert certificates["id_card"] == {"id_no": DRIVER_A["id_no"], "name": DRIVER_A["name"]}
        assert certificates["vehicle_licence"]["plates"] == [second, DRIVER_A["plate"]]
        code = signing.capacity_code(signing.token_hash(a["driver_token"]), world.clock())
        for key in ({"id_no": DRIVER_A["id_no"]}, {"mobile": DRIVER_A["mobile"]}, {"plate": second}):
            found = world.enterprise.call("driver_lookup", {**key, "capacity_code": code})
            assert found["code"] == "0" and found["data"]["driver_code"] == a["driver_code"], found
        report = {"driver_code": a["driver_code"], "kind": "violation", "description": "超限运输", "deadline": int(world.clock()) + 3600}
        assert world.regulator.call("violation_report", report)["code"] == "0"
        rows = world.store.query("SELECT id_no, id_no_bi, name FROM dym_drivers")
        assert all(r["id_no"].startswith("sealed:v1:") and r["name"].startswith("sealed:v1:") for r in rows)
        assert {r["id_no_bi"] for r in rows} == {personal.blind(world.store, "id_no", d["id_no"]) for d in (DRIVER_A, DRIVER_B)}
        enterprise = world.store.query_one("SELECT uscc, uscc_bi, name, mobile FROM dym_enterprises")
        assert all(enterprise[c].startswith("sealed:v1:") for c in ("uscc", "name", "mobile"))
        assert personal.open_row(world.store, "dym_enterprises", enterprise)["uscc"] == ent["uscc"]
        assert enterprise["uscc_bi"] == personal.blind(world.store, "uscc", ent["uscc"])
    finally:
        with contextlib.suppress(StopIteration):
            next(worlds)
    values = [*(DRIVER_A[k] for k in ("id_no", "name", "mobile", "plate")), *(DRIVER_B[k] for k in ("id_no", "name", "mobile"))]
    # An enterprise's unified code is a legal person's public registration, kept in the public ledger entry by design
    # (D-DYM-LEDGER commits personal fields only); its table row is sealed like the rest (checked above).
    assert_absent(world.db, *values, ent["name"], ent["mobile"], second, trailer)
    store = open_store(world.db)  # the journal, written: the personal fields in their masked form, the same per value
    claims = [json.loads(r["request_body"]) for r in store.query("SELECT request_body FROM journal WHERE operation = 'driver_claim'")]
    assert claims[0]["id_no"] == masking.hide(store, DRIVER_A["id_no"]) and claims[0]["name"] == masking.hide(store, DRIVER_A["name"])
    scans = [json.loads(r["reply_body"]) for r in store.query("SELECT reply_body FROM journal WHERE operation = 'scan_verify'")]
    assert scans[0]["data"]["certificates"]["id_card"]["id_no"] == masking.hide(store, DRIVER_A["id_no"])
    store.close()


def test_dym_rows_stored_in_clear_are_sealed_by_the_schema_step(tmp_path: Path) -> None:
    """A store made before sealing (DYM at version 2, ledger at 1) holding a driver, a plate, an enterprise and a ledger
    opening in clear: opening it seals them, fills the blind indexes, and the platform still knows the driver."""
    from harness import ledger as ledger_pkg
    from harness.dym import personal
    from harness.dym import state as dym_state
    from harness.store import Schema, Store
    from tests.dym.conftest import DRIVER_A, _world

    db = tmp_path / "dym-tolerant.db"
    old = Store(db, schemas=[Schema("ledger", ledger_pkg.SCHEMA.steps[:1]), Schema("dym", dym_state.SCHEMA.steps[:2])])
    with old.transaction() as conn:
        conn.execute(
            "INSERT INTO dym_drivers (driver_code, app_id, id_no, name, mobile, plate, token_hash, status_at, created)"
            " VALUES ('DYMD00000000000000AA', 'ENT0000000000001', ?, ?, ?, ?, 'x', 0, 0)",
            (DRIVER_A["id_no"], DRIVER_A["name"], DRIVER_A["mobile"], DRIVER_A["plate"]),
        )
        conn.execute("INSERT INTO dym_vehicles (driver_code, plate, bound) VALUES ('DYMD00000000000000AA', ?, 0)", (DRIVER_A["plate"],))
        conn.execute(
            "INSERT INTO dym_enterprises (enterprise_code, app_id, uscc, name, mobile, created) VALUES ('DYME1', 'ENT0000000000001', ?, ?, ?, 0)",
            ("91350100M000100Y43", "昆明货运有限公司", "13900000001"),
        )
        conn.execute("INSERT INTO ledger_openings (idx, path, salt, value) VALUES (0, '/name', x'00', ?)", (json.dumps(DRIVER_A["name"]),))
    old.close()
    worlds = _world(tmp_path, "tolerant")
    world = next(worlds)
    try:
        assert world.store.versions()["dym"] == dym_state.SCHEMA.version
        assert world.enterprise.call("driver_claim", DRIVER_A)["code"] == "3002"  # the uniqueness rests on the blind index
        assert (
            world.enterprise.call("enterprise_claim", {"uscc": "91350100M000100Y43", "name": "x公司", "mobile": "13900000002"})["code"]
            == "3002"
        )
        driver = world.platform._driver("DYMD00000000000000AA")
        assert {k: driver[k] for k in DRIVER_A} == DRIVER_A and driver["id_no_bi"] == personal.blind(
            world.store, "id_no", DRIVER_A["id_no"]
        )
        assert world.platform._vehicles("DYMD00000000000000AA") == [{"plate": DRIVER_A["plate"], "trailer_plate": None}]
        conn = world.store.new_connection()
        assert [o.value for o in world.platform.ledger.openings(conn, 0)] == [DRIVER_A["name"]]
        conn.close()
    finally:
        with contextlib.suppress(StopIteration):
            next(worlds)
    assert_absent(db, DRIVER_A["id_no"], DRIVER_A["name"], DRIVER_A["mobile"], DRIVER_A["plate"], "91350100M000100Y43", "昆明货运有限公司")


YMT_PEOPLE = [  # name, the first 17 characters of the ID number (its GB 11643 check digit is computed), mobile
    ("欧阳明月", "11010519850312123", "13912345678"),
    ("李四海", "44030419920704321", "18698765432"),
]


def test_ymt_personal_data_is_sealed_at_rest(tmp_path: Path) -> None:
    """A full YMT scenario (real-name check with mobile, consent, B.5, B.1, B.2, B.3, B.4 answering name and ID number,
    the emergency code, a person added by the CLI's function): no name, ID number or mobile is in the store files (the
    database and its WAL, while serving and after) nor shown by `harness journal`; the decode still answers them."""
    from harness.ymt import admin as ymt_admin
    from tests.ymt import world as ymt_world

    db = tmp_path / "y.db"
    store = open_store(db)
    app = create_app(Settings(db=db), store)
    client = fx.AsgiClient(app)
    people = [(name, first + ymt_admin.id_check_digit(first), mobile) for name, first, mobile in YMT_PEOPLE]
    third = "11010519900101123" + ymt_admin.id_check_digit("11010519900101123")

    def ymt(path: str, body: Any) -> dict[str, Any]:
        reply = client.raw("POST", "/ymt" + path, json=body).json()
        assert reply["code"] == "PY0000", (path, reply)
        return reply["response"]

    try:
        ymt_admin.add_app(store, ymt_world.APP)
        key = ymt_world.merchant_key()
        merchant = ymt_admin.add_merchant(
            store, public_key=ymt_admin.public_pem(key.public_key()), fields=("concealName", "concealCard", "userName", "idCard")
        )
        ymt_admin.add_device(store, merchant.merchant_id, ymt_world.MAC)
        answers = []
        for name, id_card, mobile in people:
            person = ymt("/user/realname", {"appId": ymt_world.APP, "name": name, "idType": "01", "idCard": id_card, "mobile": mobile})
            again = ymt("/user/realname", {"appId": ymt_world.APP, "name": name, "idType": "01", "idCard": id_card.lower()})
            assert again["userId"] == person["userId"]  # found again through the blind index
            granted = ymt("/user/consent", {"userId": person["userId"], "appId": ymt_world.APP, "scope": ["userName", "idCard", "tags"]})
            token = ymt("/oauth/token", {"code": granted["code"], "appId": ymt_world.APP})["accessToken"]
            where = {"accessToken": token, "latitude": "30.2741", "longitude": "120.1551"}
            ymt("/user/tags", {"accessToken": token})
            assert ymt("/qrcode/channel", where)["idCard"] == id_card
            ymt("/emergency/code", {"accessToken": token})
            ymt("/qrcode/generate", where)
            scene = ymt_world.Scene(client, store, person["userId"], token, merchant.merchant_id, merchant.aes_key, key)
            body = scene.decode_body(scene.code())
            reply = client.raw("POST", "/ymt/qrcode/decode", json=body).json()
            answers.append(scene.open(reply, body))
        extra = ymt_admin.add_user(store, "王五六", third, mobile="13700001111")
        with pytest.raises(ymt_admin.YmtError):  # the ID number is still unique, through the blind index
            ymt_admin.add_user(store, "王五七", third)
        assert ymt_admin.find_user(store, extra.user_id)["mobile"] == "13700001111"
        assert [(a["userName"], a["idCard"]) for a in answers] == [(n, c) for n, c, _ in people]
        assert store_bytes(db) and (tmp_path / "y.db-wal").exists()
        personal = [v for person in people for v in person] + ["王五六", third, "13700001111"]
        raw = store_bytes(db)  # while serving: the WAL holds every recent write
        for value in personal:
            assert value.encode() not in raw, f"{value!r} is in the store in clear"
        row = store.query_one("SELECT * FROM ymt_users WHERE id = ?", (extra.user_id,))
        assert all(sealing_prefixed(row[c]) for c in ("name", "id_card", "mobile")) and len(row["id_card_index"]) == 64
    finally:
        client.close()
        store.close()
    assert_absent(db, *personal)


def sealing_prefixed(value: Any) -> bool:
    from harness import sealing

    return sealing.is_sealed(value)
