"""Y11 signing gate (D-YXC-SIGN, D-YXC-TS-WINDOW, D-YXC-CHECK-ORDER): 202 for certificates, 201 for timestamps."""

from __future__ import annotations

import json
import time

import pytest

from fixtures import files
from harness.signing import Signer

BODY = {"inscode": "x"}  # schema-invalid on purpose: the gate must answer before schema validation


def _now() -> int:
    return int(time.time() * 1000)


def test_conforming_upload_passes_and_returns_numeric_id(harness) -> None:
    reply = harness.upload("sfz", files.png())
    assert reply["errorcode"] == 0
    assert isinstance(reply["data"]["id"], int)


def test_missing_user_is_202(harness) -> None:
    data = json.dumps(BODY).encode()
    query = harness.signer.query(data)
    del query["user"]
    reply = harness.request("POST", "/yxc/coach", params=query, content=data, headers={"content-type": "application/json"}).json()
    assert reply["errorcode"] == 202
    assert reply["data"]["violations"][0]["rule"] == "YXC-SIGN-CERT"


def test_unenrolled_certificate_is_202(harness) -> None:
    stranger = Signer(harness.signer.private_key, "DEADBEEF")
    reply = harness.post_json("coach", BODY, signer=stranger)
    assert reply["errorcode"] == 202
    assert "not an enrolled certificate" in reply["message"]


def test_unknown_hash_version_is_202(harness) -> None:
    signer = Signer(harness.signer.private_key, harness.signer.serial_hex, "1.0.0.e7")
    data = json.dumps(BODY).encode()
    query = {"v": "1.0.0.e7", "ts": str(_now()), "sign": "00", "user": signer.serial_hex}
    reply = harness.request("POST", "/yxc/coach", params=query, content=data, headers={"content-type": "application/json"}).json()
    assert reply["errorcode"] == 202
    assert reply["data"]["violations"][0]["field"] == "v"


def test_each_hash_suffix_is_accepted(harness) -> None:
    for version in ("1.0.0.e1", "1.0.0.e2", "1.0.0.e3"):
        signer = Signer(harness.signer.private_key, harness.signer.serial_hex, version)
        assert harness.upload("sfz", files.png(), signer=signer)["errorcode"] == 0, version


def test_tampered_body_is_202(harness) -> None:
    data = json.dumps({"inscode": "1234567890123456"}).encode()
    reply = harness.post_json("coach", None, raw=data.replace(b"1234", b"9999"), sign_over=data)
    assert reply["errorcode"] == 202
    assert reply["data"]["violations"][0]["rule"] == "YXC-SIGN-VERIFY"


def test_tampered_upload_is_202(harness) -> None:
    original = files.png()
    query = harness.signer.query(original)
    reply = harness.request("POST", "/yxc/imageup/sfz", params=query, files={"file": ("a.png", files.png(color=(1, 2, 3)))}).json()
    assert reply["errorcode"] == 202


@pytest.mark.parametrize("harness", ["sqlite", "postgresql"], indirect=True)  # both stores
def test_stale_and_future_ts_are_201(harness) -> None:
    for ts in (_now() - 181_000, _now() + 181_000):
        reply = harness.upload("sfz", files.png(), ts=ts)
        assert reply["errorcode"] == 201, ts
        assert reply["data"]["violations"][0]["rule"] == "YXC-SIGN-TS-WINDOW"
    assert harness.upload("sfz", files.png(), ts=_now() - 170_000)["errorcode"] == 0


def test_ts_in_seconds_is_201(harness) -> None:
    reply = harness.upload("sfz", files.png(), ts=int(time.time()))
    assert reply["errorcode"] == 201
    assert "13-digit" in reply["message"]


@pytest.mark.parametrize("harness", ["sqlite", "postgresql"], indirect=True)  # both stores
def test_reused_ts_is_201_even_with_a_valid_signature(harness) -> None:
    ts = _now()
    assert harness.upload("sfz", files.png(), ts=ts)["errorcode"] == 0
    reply = harness.upload("sfz", files.png(), ts=ts)
    assert reply["errorcode"] == 201
    assert reply["data"]["violations"][0]["rule"] == "YXC-SIGN-TS-UNIQUE"


def test_lowercase_sign_is_refused_strict_and_accepted_tolerant(make_harness, tmp_path) -> None:
    strict = make_harness()
    data = files.png()
    query = strict.signer.query(data)
    query["sign"] = query["sign"].lower()
    assert strict.request("POST", "/yxc/imageup/sfz", params=query, files={"file": ("a", data)}).json()["errorcode"] == 202
    tolerant = make_harness(profile="tolerant", db=tmp_path / "tolerant.db")
    query = tolerant.signer.query(data)
    query["sign"] = query["sign"].lower()
    assert tolerant.request("POST", "/yxc/imageup/sfz", params=query, files={"file": ("a", data)}).json()["errorcode"] == 0


def test_gate_verdicts_are_journaled(harness) -> None:
    harness.upload("sfz", files.png())
    entry = harness.app.state_journal.query(limit=1)[0]
    rules = {v["rule"] for v in entry["verdicts"] if v["held"]}
    assert {"YXC-SIGN-CERT", "YXC-SIGN-TS-WINDOW", "YXC-SIGN-VERIFY", "YXC-SIGN-TS-UNIQUE", "YXC-FILE-FORMAT", "YXC-FILE-SIZE"} <= rules
    assert entry["vendor"] == harness.signer.serial_hex
    assert entry["operation"] == "imageup"


def test_user_with_the_leading_zero_openssl_prints_is_the_same_certificate(harness) -> None:
    # `openssl x509 -serial` prints an even number of hex digits (serial=070B02DF…); it is the same serial number.
    padded = Signer(harness.signer.private_key, "0" + harness.signer.serial_hex)
    reply = harness.upload("sfz", files.png(), signer=padded)
    assert reply["errorcode"] == 0, reply
    assert harness.upload("sfz", files.png(), signer=Signer(harness.signer.private_key, "00DEADBEEF"))["errorcode"] == 202


def test_a_standard_sha256withrsa_signature_is_refused_with_what_it_is(harness) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    data = json.dumps({"inscode": "1234567890123456"}).encode()
    ts = _now()
    standard = harness.signer.private_key.sign(data + ts.to_bytes(8, "big"), padding.PKCS1v15(), hashes.SHA256())
    query = {"v": "1.0.0.e2", "ts": str(ts), "sign": standard.hex().upper(), "user": harness.signer.serial_hex}
    reply = harness.request("POST", "/yxc/coach", params=query, content=data, headers={"content-type": "application/json"}).json()
    assert reply["errorcode"] == 202
    violation = reply["data"]["violations"][0]
    assert violation["rule"] == "YXC-SIGN-VERIFY"
    assert "verifies as PKCS#1 v1.5 with DigestInfo (SHA-256 over the payload and ts" in violation["message"]
    assert "without DigestInfo" in violation["message"] and "D-YXC-SIGN" in violation["message"]
    # Signed over the body alone: said too.
    alone = harness.signer.private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    query = {**query, "ts": str(ts + 1), "sign": alone.hex().upper()}
    reply = harness.request("POST", "/yxc/coach", params=query, content=data, headers={"content-type": "application/json"}).json()
    assert "over the payload alone (without the 8-byte ts)" in reply["data"]["violations"][0]["message"]
