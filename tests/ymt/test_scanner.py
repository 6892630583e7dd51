"""The done-when of the YMT platform, as a new user follows the README: enrol with `harness ymt …`, decode with the scene
scanner simulator (its HTTP sender replaced by the in-process app), be refused with the documented codes, and verify an
emergency code offline while the platform is down."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.schema import open_store
from harness.ymt import admin, crypto
from harness.ymt.scanner import Scanner
from tests.ymt import world


def _cli(db: Path | None, *args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(main, [*args, *(("--db", str(db)) if db is not None else ())])
    assert result.exit_code == code, (args, result.output)
    return result


def _json(db: Path, *args: str) -> dict[str, Any]:
    return json.loads(_cli(db, *args).stdout)


@pytest.fixture
def enrolled(served: Any, tmp_path: Path) -> dict[str, Any]:
    client, store = served
    db = store.path
    _cli(db, "ymt", "app-add", world.APP)
    user = _json(
        db,
        "ymt",
        "user-add",
        "--name",
        world.NAME,
        "--id-card",
        world.ID_CARD,
        "--veteran",
        "--app",
        world.APP,
        "--scope",
        "userName,idCard,tags",
    )
    merchant = _json(
        db,
        "ymt",
        "merchant-add",
        "--out",
        str(tmp_path / "m"),
        "--scene-name",
        "西湖公园东门",
        "--scene-type",
        "一码入园",
        "--fields",
        "concealName,userName",
    )
    assert "aesKey" not in merchant and (tmp_path / "m" / "merchant-key.pem").stat().st_mode & 0o077 == 0
    _cli(db, "ymt", "device-add", merchant["merchantId"], world.MAC)

    def send(path: str, body: dict[str, Any]) -> dict[str, Any]:
        return client.raw("POST", "/ymt" + path, json=body).json()

    scanner = Scanner.from_files(Path(merchant["config"]), world.MAC, send)
    return {"db": db, "store": store, "user": user, "merchant": merchant, "scanner": scanner, "send": send, "dir": tmp_path / "m"}


def _code(e: dict[str, Any]) -> str:
    return _cli(e["db"], "ymt", "code", e["user"]["userId"], "--app", world.APP).stdout.strip()


def test_a_scene_decodes_a_fresh_code_holding_only_its_registered_fields(enrolled: dict[str, Any]) -> None:
    result = enrolled["scanner"].decode(_code(enrolled))
    assert result.ok, result.reply
    assert result.fields is not None and result.fields["userName"] == world.NAME and result.fields["concealName"] == "*三"
    assert "idCard" not in result.fields and "tags" not in result.fields  # consented, not registered


def test_a_scene_is_refused_an_expired_code_a_bad_signature_a_stale_time_and_a_replay(enrolled: dict[str, Any]) -> None:
    scanner: Scanner = enrolled["scanner"]
    code = _code(enrolled)
    forger = Scanner(scanner.merchant_id, scanner.mac_id, admin.new_rsa_key(), scanner.aes_profile, scanner.aes_key, scanner.send)
    assert forger.decode(code).code == "PY2001"
    stale = crypto.format_time(crypto.datetime.now(crypto.UTC) - crypto.timedelta(seconds=400))
    assert scanner.decode(code, time=stale).code == "PY2002"
    request = scanner.request(code)
    assert enrolled["send"]("/qrcode/decode", request)["code"] == "PY0000"
    assert enrolled["send"]("/qrcode/decode", request)["code"] == "PY2003"
    enrolled["store"].execute("UPDATE ymt_codes SET expires = issued WHERE value = ?", (code,))
    expired = scanner.decode(code, time=crypto.format_time(crypto.datetime.now(crypto.UTC) - crypto.timedelta(seconds=5)))
    assert expired.code == "PY3002" and expired.fields is None


def test_while_down_the_scanner_verifies_an_emergency_code_offline(enrolled: dict[str, Any], tmp_path: Path) -> None:
    scanner: Scanner = enrolled["scanner"]
    kept = tmp_path / "trust.json"
    kept.write_text(json.dumps(scanner.fetch_trust_list((enrolled["dir"] / "trust-anchor.pem").read_text())), encoding="utf-8")
    emergency = enrolled["send"]("/emergency/code", {"accessToken": enrolled["user"]["accessToken"]})["response"]["emergencyCode"]
    _cli(enrolled["db"], "ymt", "down")
    assert scanner.decode(_code(enrolled)).code == "PY9002"
    log = tmp_path / "answers.jsonl"
    offline = [
        "ymt",
        "scan",
        "--config",
        enrolled["merchant"]["config"],
        "--mac",
        world.MAC,
        "--trust-list",
        str(kept),
        "--answers",
        str(log),
    ]
    verified = json.loads(_cli(None, *offline, "--code", emergency).stdout)
    assert verified["valid"] and verified["claims"]["ymt"] == {
        "nm": "*三",
        "ic": world.ID_CARD[0] + "*" * 14 + world.ID_CARD[-1],
        "tg": [1],
        "em": True,
    }
    forged = json.loads(_cli(None, *offline, "--code", emergency[:-4] + "0000", code=1).stdout)
    assert forged["valid"] is False and forged["reason"] in ("bad-base45", "bad-zlib", "bad-cose", "bad-signature")
    records = [json.loads(line) for line in log.read_text().splitlines()]  # what certify --answers grades
    assert [(r["merchantId"], r["valid"]) for r in records] == [
        (enrolled["merchant"]["merchantId"], True),
        (enrolled["merchant"]["merchantId"], False),
    ]
    _cli(enrolled["db"], "ymt", "up")
    assert scanner.decode(_code(enrolled)).ok


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("ymt", "device-add", "M00000000", "GATE-01"), "no merchant M00000000"),
        (("ymt", "user-add", "--name", "张三", "--id-card", "330102199001011230"), "check digit"),
        (("ymt", "merchant-add", "--public-key", "/nonexistent.pem"), "/nonexistent.pem"),
        (("ymt", "code", "U0", "--app", "nope"), "has not consented"),
    ],
)
def test_enrolment_errors_are_one_line_and_exit_2(tmp_path: Path, args: tuple[str, ...], says: str) -> None:
    result = _cli(tmp_path / "e.db", *args, code=2)
    assert says in result.output and "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_merchant_add_never_overwrites_another_merchants_files(tmp_path: Path) -> None:
    """A second merchant-add --out into the first merchant's folder overwrote its merchant-key.pem (the private key,
    which the store does not keep) with exit 0; an unknown --qrcode-types was stored. Both now leave nothing behind."""
    db, out = tmp_path / "m.db", tmp_path / "merchant"
    first = _json(db, "ymt", "merchant-add", "--out", str(out))
    key = (out / "merchant-key.pem").read_bytes()
    again = _cli(db, "ymt", "merchant-add", "--out", str(out), code=2)
    assert "already holds merchant-key.pem" in again.output and len(again.output.strip().splitlines()) == 1
    bogus = _cli(db, "ymt", "merchant-add", "--out", str(tmp_path / "other"), "--qrcode-types", "ymt,bogus", code=2)
    assert "bogus" in bogus.output and not (tmp_path / "other").exists()
    assert (out / "merchant-key.pem").read_bytes() == key
    assert json.loads((out / "merchant.json").read_text())["merchantId"] == first["merchantId"]
    assert [r["id"] for r in open_store(db).query("SELECT id FROM ymt_merchants")] == [first["merchantId"]]


def test_app_add_and_code_refuse_what_no_request_could_carry(tmp_path: Path) -> None:
    """`ymt app-add ''` stored an app no B.5 request can name (appId is 1–64 of [A-Za-z0-9_-]); `ymt code --type
    bogus` issued a code of no type; `--png` into a missing folder failed after the code was issued."""
    db = tmp_path / "c.db"
    for bad in ("", "a b", "x" * 65):
        assert "appId" in _cli(db, "ymt", "app-add", bad, code=2).output
    _cli(db, "ymt", "app-add", "park-app")
    user = _json(db, "ymt", "user-add", "--name", "张三", "--id-card", "11010519491231002X", "--app", "park-app", "--scope", "userName")
    assert "'bogus' is not one of" in _cli(db, "ymt", "code", user["userId"], "--app", "park-app", "--type", "bogus", code=2).output
    png = _cli(db, "ymt", "code", user["userId"], "--app", "park-app", "--png", str(tmp_path / "no" / "q.png"), code=2)
    assert "cannot write" in png.output and len(png.output.strip().splitlines()) == 1
    store = open_store(db)
    assert store.query_one("SELECT COUNT(*) FROM ymt_codes")[0] == 0
    assert [r["id"] for r in store.query("SELECT id FROM ymt_apps")] == ["park-app"]


def test_merchant_add_with_a_public_key_prints_the_wrapped_key_and_anchor(tmp_path: Path) -> None:
    key = world.merchant_key()
    pem = tmp_path / "pub.pem"
    pem.write_text(admin.public_pem(key.public_key()))
    out = _json(tmp_path / "k.db", "ymt", "merchant-add", "--public-key", str(pem), "--aes-profile", "AES-128-CBC")
    assert crypto.unwrap_key(key, out["aesKeyWrapped"]) == __import__("base64").b64decode(out["aesKey"]) and out["weak"] is True
    assert "BEGIN PUBLIC KEY" in out["trustAnchor"]


def test_gate_setup_makes_the_rush_of_loadtests_ymt_gate(served: Any, tmp_path: Path) -> None:
    client, store = served
    made = _json(store.path, "ymt", "gate-setup", "--out", str(tmp_path / "gate"), "--devices", "3", "--people", "1200")
    assert made["devices"] == 3 and made["people"] == 1200
    tokens = json.loads((tmp_path / "gate" / "people.json").read_text())
    people = [admin.user_row(store, r) for r in store.query("SELECT * FROM ymt_users")]  # sealed at rest: opened here
    assert len(people) == 1200 and all(admin.id_card_valid(p["id_card"]) for p in people)

    def send(path: str, body: dict[str, Any]) -> dict[str, Any]:
        return client.raw("POST", "/ymt" + path, json=body).json()

    scanner = Scanner.from_files(tmp_path / "gate" / "merchant.json", "GATE-0003", send)
    shown = send("/qrcode/generate", {"accessToken": tokens[-1], "latitude": "30.1", "longitude": "120.1"})
    import zxingcpp
    from PIL import Image

    value = zxingcpp.read_barcodes(Image.open(__import__("io").BytesIO(__import__("base64").b64decode(shown["response"]["qrcodeBase64"]))))[
        0
    ].text
    result = scanner.decode(value)
    assert result.ok and result.fields is not None and result.fields["userName"] == "乘客01199"
    assert _cli(store.path, "ymt", "gate-setup", "--out", str(tmp_path / "gate"), code=2).exit_code == 2


def test_the_scan_command_masks_the_decrypted_identity_on_the_console_unless_asked(
    enrolled: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from harness.ymt import cli as ymt_cli

    monkeypatch.setattr(ymt_cli, "_scanner", lambda *_: enrolled["scanner"])  # the in-process app instead of HTTP
    log = tmp_path / "answers.jsonl"
    scan = ["ymt", "scan", "--target", "http://in-process/ymt", "--config", enrolled["merchant"]["config"], "--mac", world.MAC]
    shown = _cli(None, *scan, "--answers", str(log), "--code", _code(enrolled)).stdout
    assert world.NAME not in shown
    assert json.loads(shown)["fields"] == {**json.loads(shown)["fields"], "userName": "张*", "concealName": "*三"}
    assert json.loads(log.read_text())["fields"]["userName"] == world.NAME  # the scene's own log keeps what it decrypted
    clear = json.loads(_cli(None, *scan, "--show-personal-data", "--code", _code(enrolled)).stdout)
    assert clear["fields"]["userName"] == world.NAME
