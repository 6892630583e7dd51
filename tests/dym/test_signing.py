"""The signing string and HMAC (D-DYM-SIGN), the waybill QR (D-DYM-WAYBILL-QR), the capacity code (D-DYM-CAPACITY-CODE)."""

from __future__ import annotations

import hashlib
import hmac

from harness.dym import signing


def test_signing_string_sorts_skips_empty_and_canonicalises() -> None:
    body = {"timestamp": 1764550800, "nonce": "n0000000000000001", "app_id": "ENT0000000000001", "sign": "x", "note": "", "gone": None}
    body["scope"] = ["id_card", "qualification"]
    body["ok"] = True
    text = signing.signing_string(body)
    assert text == 'app_id=ENT0000000000001&nonce=n0000000000000001&ok=true&scope=["id_card","qualification"]&timestamp=1764550800'
    assert signing.sign(body, "s3cret") == hmac.new(b"s3cret", text.encode(), hashlib.sha256).hexdigest()


def test_signed_adds_the_fields_and_verifies() -> None:
    out = signing.signed({"driver_code": "DYMD0123456789ABCDEF"}, "ENT0000000000001", "s3cret", now=1764550800.7, nonce="n0000000000000001")
    assert out["timestamp"] == 1764550800 and out["sign"] == signing.sign(out, "s3cret")


def test_waybill_qr_verifies_and_refuses_tampering_and_expiry() -> None:
    key = b"k" * 32
    qr = signing.waybill_qr(key, "ENT0000000000001", "WB-0001", 2000)
    assert signing.open_waybill_qr(key, qr, 1000) == (("ENT0000000000001", "WB-0001"), "")
    assert "does not verify" in signing.open_waybill_qr(key, qr.replace("WB-0001", "WB-0002"), 1000)[1]
    assert "does not verify" in signing.open_waybill_qr(key, qr.replace(".2000.", ".9999."), 1000)[1]
    assert "expired" in signing.open_waybill_qr(key, qr, 2001)[1]
    assert "not a waybill QR" in signing.open_waybill_qr(key, "DYM1:D:DYMD0123456789ABCDEF", 1000)[1]
    assert "not a waybill QR" in signing.open_waybill_qr(key, "DYMW1.a.b.1.é", 1000)[1]


def test_capacity_code_is_six_digits_and_accepts_the_previous_window() -> None:
    key = signing.token_hash("driver-token")
    code = signing.capacity_code(key, 1_000_000)
    assert len(code) == 6 and code.isdigit()
    assert signing.capacity_code_ok(key, code, 1_000_000 + signing.CAPACITY_STEP)
    assert not signing.capacity_code_ok(key, code, 1_000_000 + 2 * signing.CAPACITY_STEP + 1)


def test_driver_qr() -> None:
    assert signing.driver_of_qr("DYM1:D:DYMD0123456789ABCDEF") == "DYMD0123456789ABCDEF"
    assert signing.driver_of_qr("DYM1:D:DYMD0123") is None and signing.driver_of_qr("DYMW1.x") is None
