"""Certify role ymt-platform and its defect table examples/defects/ymt-platform.yaml: the harness's own YMT platform
(served on a loopback port) passes with no FAILED and no WARNING; each planted defect (an ASGI wrapper tampering with
its replies, DEFECTS below) makes its listed checks FAILED (MUST) or WARNING (SHOULD, or `warns`), naming their clause.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import io
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import qrcode
import yaml
from click.testing import CliRunner

from harness.cli import main
from harness.conformance.model import CheckFinished, CheckResult, RunFinished, RunStarted
from harness.conformance.roles import CommonOptions, role_class
from harness.errors import ConfigError
from harness.store import Store
from harness.ymt import admin, crypto, platform_role
from harness.ymt.platform_role import PlatformRole
from tests.ymt.served_platform import ServedPlatform

ROOT = Path(__file__).resolve().parents[2]
TABLE = yaml.safe_load((ROOT / "examples/defects/ymt-platform.yaml").read_text(encoding="utf-8"))
GARBAGE = base64.b64encode(os.urandom(60)).decode("ascii")
GIF = "R0lGODlhAQABAAAAACw="

Tamper = Callable[[str, Any, Any], Any]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedPlatform]:
    served = ServedPlatform(tmp_path_factory.mktemp("ymt-platform"))
    yield served
    served.close()


def enrolled_with(tamper: Tamper | None) -> Any:
    """A defect of the merchant's enrolment rather than of a reply (``tamper.aes_profile``): the role enrols its
    merchant on the harness with that profile."""
    profile = getattr(tamper, "aes_profile", None)
    if profile is None:
        return contextlib.nullcontext()
    return mock.patch.object(platform_role, "enrol_on_harness", functools.partial(platform_role.enrol_on_harness, aes_profile=profile))


def certify(platform: ServedPlatform, tmp_path: Path, tamper: Tamper | None = None) -> tuple[RunStarted, list[CheckResult], RunFinished]:
    platform.app.tamper = tamper
    try:
        with enrolled_with(tamper):
            role = role_class("ymt-platform")(CommonOptions(tmp_path, 7, platform.db, "strict"), target=platform.url, setup_harness=True)
        events = list(role.run(7))
    finally:
        platform.app.tamper = None
    return events[0], [e.result for e in events if isinstance(e, CheckFinished)], events[-1]


# --- the planted defects ----------------------------------------------------------------------------------------------
def _ok(reply: Any) -> bool:
    return isinstance(reply, dict) and reply.get("code") == "PY0000"


def _success(response: Any) -> dict[str, Any]:
    return {"code": "PY0000", "msg": "", "response": response}


def accept(where: str, code: str, response: Any = GARBAGE) -> Tamper:
    """The refusal ``code`` of ``where`` becomes a success."""

    def tamper(path: str, request: Any, reply: Any) -> Any:
        if path == where and isinstance(reply, dict) and reply.get("code") == code:
            return _success(response)
        return None

    return tamper


def edit(where: str | tuple[str, ...], change: Callable[[Any], Any]) -> Tamper:
    """``change(response)`` edits the successful replies of ``where`` in place (or returns a whole new reply)."""
    paths = (where,) if isinstance(where, str) else where

    def tamper(path: str, request: Any, reply: Any) -> Any:
        if path in paths and _ok(reply):
            replaced = change(reply["response"])
            return replaced if replaced is not None else reply
        return None

    return tamper


def each_tag(change: Callable[[dict[str, Any]], None]) -> Tamper:
    return edit("/user/tags", lambda tags: [change(t) for t in tags] and None)


def exchange_codes(reused: bool) -> Tamper:
    """B.5 answers PY0000 to an invented code (``reused`` False) or to one it exchanged before (True)."""
    exchanged: set[str] = set()

    def tamper(path: str, request: Any, reply: Any) -> Any:
        if path != "/oauth/token" or not isinstance(request, dict):
            return None
        code = request.get("code")
        if _ok(reply):
            exchanged.add(code)
        elif isinstance(reply, dict) and reply.get("code") == "PY2007" and (code in exchanged) == reused:
            return _success({"accessToken": "T" * 32, "expiresIn": 7200, "expiresAt": "2030-01-01 00:00:00", "scope": []})
        return None

    return tamper


def unregistered_field(store: Store) -> Tamper:
    """The decoded answer gains idCard (the merchant registered concealName, concealCard, tags), sealed again."""

    def tamper(path: str, request: Any, reply: Any) -> Any:
        if path != "/qrcode/decode" or not _ok(reply):
            return None
        merchant = store.query_one("SELECT * FROM ymt_merchants WHERE id = ?", (request["merchantId"],))
        key = admin.reply_key(store, merchant)
        aad = crypto.reply_aad(request["merchantId"], request["macId"], request["time"])
        plain = json.loads(crypto.decrypt_reply(merchant["aes_profile"], key, reply["response"], aad=aad))
        plain["idCard"] = "11010519491231002X"
        return _success(crypto.encrypt_reply(merchant["aes_profile"], key, json.dumps(plain).encode(), aad=aad))

    return tamper


def _qr(text: str) -> str:
    out = io.BytesIO()
    qrcode.make(text).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode("ascii")


def _flip_signature(document: dict[str, Any]) -> None:
    raw = bytearray(base64.b64decode(document["signature"]))
    raw[5] ^= 0x01
    document["signature"] = base64.b64encode(bytes(raw)).decode("ascii")


def _break_code(response: dict[str, Any]) -> None:
    text = response["emergencyCode"]
    middle = len(text) // 2
    response["emergencyCode"] = text[:middle] + ("1" if text[middle] != "1" else "2") + text[middle + 1 :]


def _rename(reply: Any) -> Any:
    if isinstance(reply, dict) and "msg" in reply:
        reply["message"] = reply.pop("msg")
        return reply
    return None


def _code_zero(path: str, request: Any, reply: Any) -> Any:
    if path == "/user/tags" and _ok(reply):
        return {**reply, "code": "0"}
    return None


def _refusal(change: Callable[[dict[str, Any]], Any]) -> Tamper:
    def tamper(path: str, request: Any, reply: Any) -> Any:
        if path == "/qrcode/generate" and isinstance(reply, dict) and reply.get("code") == "PY2006":
            return change(reply)
        return None

    return tamper


def legacy_profile(profile: str) -> Tamper:
    def tamper(path: str, request: Any, reply: Any) -> Any:
        return None  # the replies are the platform's own: it encrypts with the profile the merchant registered

    tamper.aes_profile = profile  # type: ignore[attr-defined]
    return tamper


def _unmask(response: dict[str, Any]) -> None:
    response.update(concealName="欧阳明月", concealCard=response.get("idCard") or "330106196001010012")


DEFECTS: dict[str, Callable[[Store], Tamper]] = {
    "invented-auth-code-accepted": lambda s: exchange_codes(reused=False),
    "no-access-token": lambda s: edit("/oauth/token", lambda r: r.pop("accessToken") and None),
    "token-snake-case": lambda s: edit(
        "/oauth/token", lambda r: r.update(access_token=r.pop("accessToken"), expires_in=r.pop("expiresIn")) and None
    ),
    "no-token-expiry": lambda s: edit("/oauth/token", lambda r: [r.pop("expiresIn"), r.pop("expiresAt")] and None),
    "auth-code-reusable": lambda s: exchange_codes(reused=True),
    "invented-token-accepted": lambda s: accept("/qrcode/generate", "PY2006", {}),
    "b1-without-qrcode-type": lambda s: edit("/qrcode/generate", lambda r: r.pop("qrcodeType") and None),
    "b3-without-idcard": lambda s: edit("/qrcode/channel", lambda r: r.pop("idCard") and None),
    "b3-table-spellings": lambda s: edit(
        "/qrcode/channel", lambda r: r.update(concelName=r.pop("concealName"), userNmae=r.pop("userName"))
    ),
    "b3-qr-not-png": lambda s: edit("/qrcode/channel", lambda r: r.update(qrcodeBase64=GIF)),
    "qr-holds-id-number": lambda s: edit("/qrcode/channel", lambda r: r.update(qrcodeBase64=_qr(f"YMT|{r['idCard']}|{r['userName']}"))),
    "tag-number-as-string": lambda s: each_tag(lambda t: t.update(no=str(t["no"]))),
    "tag-icon-table-spelling": lambda s: each_tag(lambda t: t.update(Icon=t.pop("icon"))),
    "tag-text-empty": lambda s: each_tag(lambda t: t.update(text="")),
    "tag-colour-out-of-range": lambda s: each_tag(lambda t: t.update(backgroundColor=12)),
    "unmasked-name": lambda s: edit(("/qrcode/generate", "/qrcode/channel"), lambda r: r.update(concealName="欧阳明月")),
    "unmasked-everywhere": lambda s: edit(("/qrcode/generate", "/qrcode/channel"), _unmask),
    "card-masked-otherwise": lambda s: edit(
        "/qrcode/generate", lambda r: r.update(concealCard=r["concealCard"][0] + "*" * 13 + "0" + r["concealCard"][-1])
    ),
    "server-time-iso": lambda s: edit("/qrcode/generate", lambda r: r.update(serverTime=r["serverTime"].replace(" ", "T"))),
    "server-time-example-form": lambda s: edit("/qrcode/generate", lambda r: r.update(serverTime=r["serverTime"].replace(" ", ""))),
    "decode-answer-not-decryptable": lambda s: edit("/qrcode/decode", lambda r: _success(GARBAGE)),
    "decode-unregistered-field": unregistered_field,
    "decode-legacy-aes-cbc": lambda s: legacy_profile(crypto.AES_128_CBC),
    "decode-any-code": lambda s: accept("/qrcode/decode", "PY3001"),
    "signature-not-checked": lambda s: accept("/qrcode/decode", "PY2001"),
    "merchant-not-checked": lambda s: accept("/qrcode/decode", "PY2004"),
    "device-not-checked": lambda s: accept("/qrcode/decode", "PY2005"),
    "time-not-checked": lambda s: accept("/qrcode/decode", "PY2002"),
    "replay-not-checked": lambda s: accept("/qrcode/decode", "PY2003"),
    "expired-code-decoded": lambda s: accept("/qrcode/decode", "PY3002"),
    "revoked-code-decoded": lambda s: accept("/qrcode/decode", "PY3003"),
    "trust-list-signature-broken": lambda s: edit("/emergency/trust-list", _flip_signature),
    "emergency-code-broken": lambda s: edit("/emergency/code", _break_code),
    "down-still-serves": lambda s: accept("/qrcode/generate", "PY9002", {}),
    "no-envelope": lambda s: edit("/user/tags", lambda tags: tags),
    "message-not-msg": lambda s: lambda path, request, reply: _rename(reply),
    "success-code-zero": lambda s: _code_zero,
    "refusal-code-outside-table": lambda s: _refusal(lambda r: {**r, "code": "E401"}),
    "refusal-http-401": lambda s: _refusal(lambda r: (401, r)),
}


# --- the table --------------------------------------------------------------------------------------------------------
def test_table_names_every_must_and_should_check() -> None:
    checks = role_class(TABLE["role"]).checks
    named = {c for row in TABLE["defects"] for c in [*row.get("fails", ()), *row.get("warns", ())]}
    assert {c.id for c in checks if c.level in ("MUST", "SHOULD")} <= named
    assert named <= {c.id for c in checks}
    assert [row["name"] for row in TABLE["defects"]] == list(DEFECTS)  # every planted defect is a row, in order
    assert TABLE["test"] == "tests/ymt/test_platform_role.py" and (ROOT / TABLE["vendor"]).is_file()


def test_a_field_left_out_is_not_judged_as_a_mask(platform: ServedPlatform, tmp_path: Path) -> None:
    """B.1 without concealCard fails b1-fields for what it is; the mask checks judge only values that were shown, so
    they do not also call the missing field "hides fewer than 8 characters" (a regulator would read a leak)."""
    _, results, finished = certify(platform, tmp_path, edit("/qrcode/generate", lambda r: r.pop("concealCard") and None))
    by_id = {r.check_id: r for r in results}
    assert by_id["b1-fields"].status == "failed" and "concealCard" in by_id["b1-fields"].message
    assert by_id["mask"].status == "passed", by_id["mask"].message
    assert by_id["mask-form"].status == "passed", by_id["mask-form"].message
    assert finished.verdict == "failed"


def test_a_success_without_response_says_where_its_answer_went(platform: ServedPlatform, tmp_path: Path) -> None:
    """B.5 answering {"code": "PY0000", "msg": "", "data": {...}}: b5-exchange names what the reply held instead of
    response, not just "PY0000 ''" (which reads as a success to a regulator)."""

    def to_data(path: str, request: Any, reply: Any) -> Any:
        if path == "/oauth/token" and _ok(reply):
            return {"code": "PY0000", "msg": "", "data": reply["response"]}
        return None

    _, results, _ = certify(platform, tmp_path, to_data)
    b5 = next(r for r in results if r.check_id == "b5-exchange")
    assert b5.status == "failed"
    assert "no response (the reply holds data instead)" in b5.message, b5.message


def test_the_conforming_platform_passes(platform: ServedPlatform, tmp_path: Path) -> None:
    started, results, finished = certify(platform, tmp_path)
    assert finished.verdict == "passed"
    assert not [r for r in results if r.status != "passed"], [(r.check_id, r.status, r.message) for r in results]
    assert {r.check_id for r in results} == {c.id for c in PlatformRole.checks}
    assert started.certification_valid is False  # plain http on loopback: a development run
    text = json.dumps([[e.request, e.reply] for r in results for e in r.evidence], ensure_ascii=False)
    assert "欧阳明月" not in text and "330106" not in text  # personal data never in clear in the evidence


@pytest.mark.parametrize("row", TABLE["defects"], ids=[row["name"] for row in TABLE["defects"]])
def test_planted_defect_fails_its_checks(platform: ServedPlatform, tmp_path: Path, row: dict[str, Any]) -> None:
    _, results, finished = certify(platform, tmp_path, DEFECTS[row["name"]](platform.store))
    checks = PlatformRole.checks
    by_id: dict[str, list[CheckResult]] = {}
    for result in results:
        by_id.setdefault(result.check_id, []).append(result)
    for check_id, warns in [*((c, False) for c in row.get("fails", ())), *((c, True) for c in row.get("warns", ()))]:
        check = checks.get(check_id)
        expected = "failed" if check.level == "MUST" and not warns else "warning"
        hit = [r for r in by_id.get(check_id, []) if r.status == expected]
        assert hit, (check_id, [(r.status, r.message) for r in by_id.get(check_id, [])])
        assert check.clause.split(";")[0] in hit[0].clause, (check_id, hit[0].clause)
        if warns:
            assert hit[0].decision, (check_id, hit[0].message)  # a seed's own form names the reading it followed
    if "says" in row:
        assert any(row["says"] in r.message for r in results if r.status in ("failed", "warning")), [r.message for r in results]
    for r in results:
        if r.status in ("failed", "warning"):  # every finding carries the exchange(s) it judged
            assert any(e.request and e.reply for e in r.evidence), (r.check_id, r.message)
        if r.status == "warning":  # and a warning names the decision it rests on
            assert r.decision, (r.check_id, r.message)
    text = json.dumps([[r.message, [[e.note, e.request, e.reply] for e in r.evidence]] for r in results], ensure_ascii=False)
    assert "欧阳明月" not in text and not re.search(r"330106[0-9]{11}", text)  # the person never in clear
    must = any(checks.get(c).level == "MUST" for c in row.get("fails", ()))
    assert finished.verdict == ("failed" if must else "passed"), [(r.check_id, r.status) for r in results if r.status == "failed"]


# --- a vendor's platform: the enrolment from --config ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("switch", "mapped"), [(False, False), (True, False), (False, True)], ids=["no-switch", "control-api-switch", "paths"]
)
def test_config_enrolment_made_with_the_cli(platform: ServedPlatform, tmp_path: Path, switch: bool, mapped: bool) -> None:
    """What a tester does by hand on the harness (docs/ymt.md): merchant-add --out, device-add, app-add, and a
    person's consent (channel simulator); the config file names it all."""
    from harness.ymt import channel

    db = ["--db", str(platform.db)]
    runner = CliRunner()
    out = tmp_path / "merchant"
    made = runner.invoke(main, ["ymt", "merchant-add", "--out", str(out), "--fields", "concealName,concealCard,tags", *db])
    assert made.exit_code == 0, made.output
    merchant_id = json.loads(made.stdout)["merchantId"]
    assert runner.invoke(main, ["ymt", "device-add", merchant_id, "GATE-09", *db]).exit_code == 0
    app_id = f"city-app-{int(switch)}{int(mapped)}"
    assert runner.invoke(main, ["ymt", "app-add", app_id, *db]).exit_code == 0
    app = channel.ChannelApp(channel.http_transport(platform.url), app_id)
    first17 = "33010219800515771"
    user = app.realname("赵六", first17 + admin.id_check_digit(first17))
    consent = app.consent(user.detail["userId"], ["concealName", "concealCard", "userName", "idCard", "tags"])
    config = {  # merchant.json as merchant-add --out wrote it (its key and trust anchor beside it), with the scanner
        "appId": app_id,
        "authorisationCode": consent.detail["_code"],
        "merchant": {"file": "merchant/merchant.json", "macId": "GATE-09", "fields": ["concealName", "concealCard", "tags"]},
    }
    if switch:  # how this target is marked down and up: the harness's control API (loopback)
        status = platform.url.removesuffix("/ymt") + "/_harness/ymt/status"
        config.update(down={"url": status, "body": {"down": True}}, up={"url": status, "body": {"down": False}})
    if mapped:  # a platform serving the interfaces at URLs of its own (here: the harness's, given as full URLs)
        config["paths"] = {p: platform.url + p for p in platform_role.ROLE_PATHS}
    path = tmp_path / "platform.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    role = role_class("ymt-platform")(CommonOptions(tmp_path, 3, platform.db, "strict"), target=platform.url, config=path)
    events = list(role.run(3))
    results = {e.result.check_id: e.result for e in events if isinstance(e, CheckFinished)}
    assert events[-1].verdict == "passed", [(r.check_id, r.message) for r in results.values() if r.status == "failed"]
    # what the config did not give is skipped, saying why: no expired code, no way to mark the target down
    assert results["b4-expired"].status == "skipped" and "expiredCode" in results["b4-expired"].message
    assert results["down-emergency"].status == ("passed" if switch else "skipped"), results["down-emergency"].message
    assert not admin.is_down(platform.store)
    assert results["b2-tags"].status == "skipped"  # the person has no tags: nothing to judge
    assert results["trust-list"].status == results["emergency-code"].status == "passed"  # the anchor beside merchant.json


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ("appId: a\nmerchant: {merchantId: M1, aesKey: AAAA, privateKeyFile: k.pem}\n", "authorisationCode is required"),
        ("- a\n", "not a YAML mapping"),
        ("appId: a\nauthorisationCode: c\n", "merchant is required"),
        ("appId: a\nauthorisationCode: c\nmerchant: {merchantId: M1, aesKey: '***'}\n", "not base64"),
        ("appId: a\nauthorisationCode: c\nmerchant: {merchantId: M1, aesKey: AAAA, macId: G1, privateKeyFile: none.pem}\n", "none.pem"),
        ("PATHSpaths: [a]\n", "paths is a mapping"),
        ("PATHSpaths: {/qrcode/decodex: /d}\n", "not an interface the role calls"),
        ("PATHSpaths: {/qrcode/decode: decode}\n", "must map to a path starting with /"),
    ],
)
def test_a_bad_config_is_one_clear_error(tmp_path: Path, config: str, says: str) -> None:
    (tmp_path / "k.pem").write_bytes(admin.private_pem(admin.new_rsa_key()) if "PATHS" in config else b"")
    config = config.replace(
        "PATHS", "appId: a\nauthorisationCode: c\nmerchant: {merchantId: M1, aesKey: AAAA, macId: G1, privateKeyFile: k.pem}\n"
    )
    path = tmp_path / "c.yaml"
    path.write_text(config, encoding="utf-8")
    with pytest.raises(ConfigError, match=says):
        PlatformRole(target="http://127.0.0.1:9/ymt", config=path)


def test_a_config_that_is_not_yaml_is_one_line(tmp_path: Path) -> None:
    """The parser's own message spans four lines (the mark and a caret); the CLI prints one line."""
    path = tmp_path / "c.yaml"
    path.write_text("merchant: [\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        PlatformRole(target="http://127.0.0.1:9/ymt", config=path)
    assert "\n" not in str(caught.value), str(caught.value)
    assert "not valid YAML" in str(caught.value) and "at line 2, column 1" in str(caught.value)


def test_cli_certify_on_the_harness_and_bad_arguments(platform: ServedPlatform, tmp_path: Path) -> None:
    report = tmp_path / "report"
    args = ["certify", "ymt-platform", "--target", platform.url, "--setup-harness", "--db", str(platform.db), "--report", str(report)]
    result = CliRunner().invoke(main, [*args, "--quiet"])
    assert result.exit_code == 0, result.output
    assert (report / "report.json").is_file()
    written = " ".join(f.read_text(encoding="utf-8", errors="replace") for f in report.rglob("*") if f.is_file())
    assert "欧阳明月" not in written and not re.search(r"330106[0-9]{11}[0-9X]", written)  # the person, never in clear
    for bad, says in (
        (["--target", "ftp://x", "--setup-harness"], "--target must be"),
        (["--target", "http://127.0.0.1:9/ymt"], "exactly one of"),
        (["--target", "http://127.0.0.1:9/ymt", "--setup-harness", "--db", str(tmp_path / "x.db")], "cannot reach"),
    ):
        refused = CliRunner().invoke(main, ["certify", "ymt-platform", *bad, "--report", str(tmp_path / "r2")])
        assert refused.exit_code == 2, refused.output
        assert says in refused.stderr and "Traceback" not in refused.output
    # A target that is not the harness: one clear line, and nothing enrolled in the store (no half-done state).
    from harness.schema import open_store

    untouched = tmp_path / "untouched.db"
    open_store(untouched).close()
    args = ["certify", "ymt-platform", "--target", platform.url.replace("/ymt", "/dudu"), "--setup-harness", "--db", str(untouched)]
    refused = CliRunner().invoke(main, [*args, "--report", str(tmp_path / "r3")])
    assert refused.exit_code == 2 and "does not answer in YMT's envelope" in refused.stderr, refused.output
    store = open_store(untouched)
    try:
        assert store.query("SELECT id FROM ymt_apps") == [] and store.query("SELECT id FROM ymt_users") == []
    finally:
        store.close()


@pytest.mark.parametrize("role", ["ymt-platform", "ymt-emergency-verifier"])
def test_check_levels_agree_with_the_requirements_they_name(role: str) -> None:
    """A MUST or SHOULD check names requirements of its own level (specs/ymt/requirements.yaml), so a report's coverage
    and its verdict say the same thing; the catalogue also assigns each such requirement to the role."""
    from harness.conformance import catalogue

    known = catalogue.by_id("ymt")
    for check in role_class(role).checks:
        assert check.requirements, check.id
        for rid in check.requirements:
            assert rid in known, (check.id, rid)
            if check.level != "REVIEW":
                assert known[rid].level == check.level, (check.id, check.level, rid, known[rid].level)
                assert role in known[rid].roles, (check.id, rid)


def test_a_platform_without_the_emergency_code_is_skipped_there_not_failed(platform: ServedPlatform, tmp_path: Path) -> None:
    """Offering the emergency code is optional (001 §7.2.2 可): a platform that answers its paths with a bare 404 is
    skipped there, saying why, and its 404s are not judged as envelopes."""

    def no_emergency(path: str, request: Any, reply: Any) -> Any:
        return (404, {"detail": "Not Found"}) if path.startswith("/emergency/") else None

    _, results, finished = certify(platform, tmp_path, no_emergency)
    by_id = {r.check_id: r for r in results}
    assert finished.verdict == "passed"
    assert by_id["trust-list"].status == by_id["emergency-code"].status == "skipped"
    assert "optional" in by_id["emergency-code"].message
    assert by_id["envelope"].status == by_id["http-status"].status == by_id["down-emergency"].status == "passed"


def test_docs_list_every_check_with_its_level() -> None:
    text = (ROOT / "docs/ymt.md").read_text(encoding="utf-8").split("## Certify role `ymt-platform`", 1)[1]
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) >= 3 and cells[1] in ("MUST", "SHOULD", "REVIEW"):
            rows[cells[0]] = cells[1]
    assert rows == {c.id: c.level for c in PlatformRole.checks}


def test_a_legacy_profile_is_flagged_weak_naming_its_decision(platform: ServedPlatform, tmp_path: Path) -> None:
    """docs/ymt.md and D-YMT-AES: the legacy profiles are allowed for a merchant registered with one, flagged weak in
    every report; the warning says why."""
    _, results, finished = certify(platform, tmp_path, legacy_profile(crypto.AES_128_CBC))
    by_id = {r.check_id: r for r in results}
    assert by_id["b4-decode"].status == "passed" and finished.verdict == "passed"
    flagged = by_id["b4-aes-profile"]
    assert flagged.status == "warning" and flagged.decision == "D-YMT-AES", flagged
    assert "weak" in flagged.message and "zero IV" in flagged.message and "integrity" in flagged.message


MOBILE = "13912345678"


def test_a_platform_that_does_not_mask_never_puts_the_person_in_a_report(platform: ServedPlatform, tmp_path: Path) -> None:
    """A platform answering the full name and ID number as concealName / concealCard (and a mobile besides): the role
    fails mask and warns mask-form, saying what is wrong (lengths, positions in clear) without the values; report.json,
    report.html, junit.xml, the manifest and the console never show the name, the ID number or the mobile in clear."""
    person: dict[str, str] = {}

    def unmasked(path: str, request: Any, reply: Any) -> Any:
        response = reply.get("response") if _ok(reply) else None
        if not isinstance(response, dict):
            return None
        if path == "/qrcode/channel":
            person.update(name=response["userName"], card=response["idCard"])
        if path in ("/qrcode/generate", "/qrcode/channel") and person:
            response.update(concealName=person["name"], concealCard=person["card"], mobile=MOBILE)
            return reply
        return None

    report = tmp_path / "report"
    args = ["certify", "ymt-platform", "--target", platform.url, "--setup-harness", "--db", str(platform.db), "--report", str(report)]
    platform.app.tamper = unmasked
    try:
        result = CliRunner().invoke(main, args)
    finally:
        platform.app.tamper = None
    assert result.exit_code == 1, result.output
    checks = {c["id"]: c for c in json.loads((report / "report.json").read_text(encoding="utf-8"))["checks"]}
    assert checks["mask"]["status"] == "failed" and "concealName has no *" in checks["mask"]["message"]
    assert "concealCard is the full ID number" in checks["mask"]["message"]
    assert checks["mask-form"]["status"] == "warning" and "none masked" in checks["mask-form"]["message"]
    assert person["name"] == "欧阳明月" and len(person["card"]) == 18
    for name in ("report.json", "report.html", "junit.xml", "manifest.json"):
        assert (report / name).is_file(), name
    shown = {f.name: f.read_text(encoding="utf-8", errors="replace") for f in report.iterdir() if f.suffix in (".json", ".html", ".xml")}
    shown["console"] = result.output
    for where, text in shown.items():
        for value in (person["name"], person["card"], person["card"].lower(), MOBILE):
            assert value not in text, (where, value)


def test_an_http_target_names_no_option_the_role_does_not_have(platform: ServedPlatform, tmp_path: Path) -> None:
    role = role_class("ymt-platform")(CommonOptions(tmp_path, 7, platform.db, "strict"), target=platform.url, setup_harness=True)
    events = role.run(7)
    started = next(events)
    warned = next(events)
    events.close()
    assert started.certification_valid is False
    assert "http://, not https://" in warned.message and "--allow-insecure-http" not in warned.message
    assert "--allow-insecure-http" not in json.dumps(started.options)


def test_every_should_check_names_the_decision_its_warning_rests_on() -> None:
    from harness.decisions import decisions

    should = {c.id for c in PlatformRole.checks if c.level == "SHOULD"}
    assert set(platform_role.SHOULD_DECISIONS) == should
    assert set(platform_role.SHOULD_DECISIONS.values()) <= set(decisions())


def test_mapped_paths_send_each_interface_where_the_platform_serves_it() -> None:
    import httpx

    from harness.ymt import channel

    seen: list[str] = []

    def send(path: str, body: dict[str, Any]) -> channel.Reply:
        seen.append(path)
        return channel.Reply(path, body, 200, "{}", {})

    def direct(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"code": "PY0000"})

    with httpx.Client(transport=httpx.MockTransport(direct)) as client:
        mapped = platform_role.mapped_transport(
            send, {"/qrcode/decode": "/api/v2/scan/decode", "/emergency/code": "https://em.example.gov.cn/code"}, client
        )
        mapped("/qrcode/decode", {})
        mapped("/user/tags", {})
        assert mapped("/emergency/code", {"accessToken": "t"}).document == {"code": "PY0000"}
    assert seen == ["/api/v2/scan/decode", "/user/tags", "https://em.example.gov.cn/code"]
    assert platform_role.mapped_transport(send, {}) is send
