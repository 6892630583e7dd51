"""harness.ymt.crypto: round trips and tamper cases for the signature, the reply ciphers, masking and emergency codes."""

from __future__ import annotations

import base64
import zlib
from datetime import UTC, datetime, timedelta

import base45
import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from fixtures.ymt import generate
from harness.errors import HarnessError
from harness.ymt import crypto

KEYS = generate.keys()
NOW = datetime(2025, 12, 1, 8, 0, 0, tzinfo=UTC)
REQUEST = {"merchantId": "M0001", "time": "20251201160000", "qrcod": "YMTQR0123456789ABCDEF", "macId": "GATE-01"}


# ---- signing string and SHA256withRSA


def test_signing_string_sorts_by_ascii_skips_empty_and_sign() -> None:
    fields = {"b": "2", "a": "1", "B": "0", "sign": "zzz", "empty": "", "none": None, "n": 5, "flag": True, "obj": {"y": 1, "x": "中"}}
    assert crypto.signing_string(fields) == 'B=0&a=1&b=2&flag=true&n=5&obj={"x":"中","y":1}'


def test_sign_round_trip_and_tamper() -> None:
    sign = crypto.sign_request(REQUEST, KEYS["rsa"])
    crypto.verify_request({**REQUEST, "sign": sign}, KEYS["rsa"].public_key())
    with pytest.raises(crypto.SignatureError):
        crypto.verify_request({**REQUEST, "qrcod": REQUEST["qrcod"] + "0", "sign": sign}, KEYS["rsa"].public_key())
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(crypto.SignatureError):
        crypto.verify_request({**REQUEST, "sign": sign}, other.public_key())
    # an empty extra field does not change the signing string, so the signature still verifies
    crypto.verify_request({**REQUEST, "extra": "", "sign": sign}, KEYS["rsa"].public_key())


def test_sign_forms_strict_and_tolerant() -> None:
    sign = crypto.sign_request(REQUEST, KEYS["rsa"])
    raw = base64.b64decode(sign)
    public = KEYS["rsa"].public_key()
    for form in (raw.hex(), raw.hex().upper(), base64.urlsafe_b64encode(raw).decode().rstrip("=")):
        with pytest.raises(crypto.SignatureError):
            crypto.verify_request({**REQUEST, "sign": form}, public)
        crypto.verify_request({**REQUEST, "sign": form}, public, tolerant=True)
    for bad in ("", None, "!!!not base64!!!"):
        with pytest.raises(crypto.SignatureError):
            crypto.verify_request({**REQUEST, "sign": bad}, public, tolerant=True)


# ---- time window and replay


def test_time_is_beijing_yyyymmddhhmmss_within_300_s() -> None:
    assert crypto.format_time(NOW) == "20251201160000"
    crypto.check_time("20251201160500", NOW)
    crypto.check_time("20251201155500", NOW)
    for text in ("20251201160501", "20251201155459"):
        with pytest.raises(crypto.TimeWindowError):
            crypto.check_time(text, NOW)
    for bad in ("2025120116000", "2025-12-01 16:00", "20251301160000", "20251201246000", "２０２５１２０１１６００００"):
        with pytest.raises(crypto.TimeWindowError):
            crypto.parse_time(bad)


def test_the_decode_time_check_in_posix_seconds_decides_and_words_as_check_time() -> None:
    """crypto.check_time_at (the decode's rule) against check_time: the same refusals, words and edges of the window,
    to the microsecond of the platform clock."""
    import random

    rng = random.Random(7)
    epoch = NOW.timestamp()
    cases = ["20251201160500", "20251201155500", "20251201160501", "20251201155459", "20251301160000", "20251201246000"]
    cases += ["20251201235960", "20250229120000", "20240229120000", "2025120116000", "２０２５１２０１１６００００", "2025-12-01 16:00"]
    for _ in range(2000):
        cases.append(crypto.format_time(NOW + timedelta(seconds=rng.uniform(-400, 400))))
    for text in cases:
        for now in (epoch, epoch + 0.4999995, epoch - 0.0000005, epoch + rng.uniform(-2, 2)):
            try:
                crypto.check_time(text, datetime.fromtimestamp(now, UTC))
                expected = None
            except crypto.TimeWindowError as exc:
                expected = str(exc)
            try:
                crypto.check_time_at(text, now)
                got = None
            except crypto.TimeWindowError as exc:
                got = str(exc)
            assert got == expected, (text, now)


def test_replay_inside_the_window_is_refused() -> None:
    guard = crypto.ReplayGuard()
    signed = {**REQUEST, "sign": "abc"}
    guard.check(signed, NOW)
    with pytest.raises(crypto.ReplayError):
        guard.check(signed, NOW + timedelta(seconds=10))
    guard.check({**signed, "time": "20251201160001"}, NOW)
    guard.check(signed, NOW + timedelta(seconds=601))  # forgotten after twice the window


# ---- reply encryption


@pytest.mark.parametrize("profile", crypto.AES_PROFILES)
def test_aes_round_trip(profile: str) -> None:
    key = bytes(range(crypto.KEY_SIZES[profile]))
    aad = crypto.reply_aad("M0001", "GATE-01", "20251201160000")
    for plaintext in (b"", b"x", '{"userName":"张三"}'.encode(), bytes(range(256))):
        text = crypto.encrypt_reply(profile, key, plaintext, aad=aad)
        assert crypto.decrypt_reply(profile, key, text, aad=aad) == plaintext


def test_gcm_refuses_tamper_wrong_aad_and_wrong_key() -> None:
    key = bytes(32)
    aad = crypto.reply_aad("M0001", "GATE-01", "20251201160000")
    text = crypto.encrypt_reply(crypto.AES_256_GCM, key, b"secret", aad=aad)
    data = bytearray(base64.b64decode(text))
    data[-1] ^= 1
    with pytest.raises(crypto.CipherError):
        crypto.decrypt_reply(crypto.AES_256_GCM, key, base64.b64encode(bytes(data)).decode(), aad=aad)
    with pytest.raises(crypto.CipherError):
        crypto.decrypt_reply(crypto.AES_256_GCM, key, text, aad=crypto.reply_aad("M0001", "GATE-02", "20251201160000"))
    with pytest.raises(crypto.CipherError):
        crypto.decrypt_reply(crypto.AES_256_GCM, bytes([1]) * 32, text, aad=aad)
    assert crypto.encrypt_reply(crypto.AES_256_GCM, key, b"same", aad=aad) != crypto.encrypt_reply(
        crypto.AES_256_GCM, key, b"same", aad=aad
    )


def test_legacy_profiles_are_weak_and_refuse_garbage() -> None:
    assert crypto.WEAK_PROFILES == {crypto.AES_128_CBC, crypto.AES_128_ECB}
    key = bytes(16)
    for profile in crypto.WEAK_PROFILES:
        # the weakness: equal plaintexts give equal cipher texts
        assert crypto.encrypt_reply(profile, key, b"same") == crypto.encrypt_reply(profile, key, b"same")
        with pytest.raises(crypto.CipherError):
            crypto.decrypt_reply(profile, key, base64.b64encode(b"short").decode())
        with pytest.raises(crypto.CipherError):
            crypto.decrypt_reply(profile, bytes([7]) * 16, crypto.encrypt_reply(profile, key, b"padding will break"))
    with pytest.raises(crypto.CipherError):
        crypto.encrypt_reply(crypto.AES_128_CBC, bytes(32), b"x")
    with pytest.raises(crypto.CipherError):
        crypto.encrypt_reply("AES-192-CFB", bytes(24), b"x")
    with pytest.raises(crypto.CipherError):
        crypto.decrypt_reply(crypto.AES_128_ECB, key, "not base64 ***")


def test_reply_key_wrapping_round_trip() -> None:
    for profile in crypto.AES_PROFILES:
        key = crypto.new_reply_key(profile)
        assert len(key) == crypto.KEY_SIZES[profile]
        assert crypto.unwrap_key(KEYS["rsa"], crypto.wrap_key(KEYS["rsa"].public_key(), key)) == key
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(crypto.CipherError):
        crypto.unwrap_key(other, crypto.wrap_key(KEYS["rsa"].public_key(), bytes(32)))
    with pytest.raises(crypto.CipherError):
        crypto.new_reply_key("AES-192-CFB")


# ---- masking


def test_masking_follows_the_seed_examples() -> None:
    assert crypto.conceal_name("张三") == "*三"
    assert crypto.conceal_name("欧阳娜娜") == "***娜"
    assert crypto.conceal_name("严") == "*"
    assert crypto.conceal_card("330102199001011234") == "3**************4"
    assert crypto.conceal_card("51010219900101123X") == "5**************X"
    assert len(crypto.conceal_card("330102199001011234")) == 16


# ---- emergency codes


def _trust(*entries: tuple[str, object]) -> crypto.TrustList:
    doc = crypto.make_trust_list(
        entries or [("YMT-TEST-ISSUER", KEYS["issuer_cert"])], KEYS["anchor"], version=2, issued_at=0, expires_at=2**40
    )
    return crypto.load_trust_list(doc, KEYS["anchor"].public_key(), NOW)


def _claims(**over: object) -> crypto.EmergencyClaims:
    base = crypto.emergency_claims("YMT-TEST-ISSUER", "张三", "330102199001011234", [1, 4], NOW)
    return crypto.EmergencyClaims(**{**base.__dict__, **over})


def test_emergency_round_trip_with_random_nonce() -> None:
    text = crypto.make_emergency(_claims(), KEYS["issuer"], KEYS["issuer_cert"])
    assert text.startswith("YMT1:") and all(c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:" for c in text[5:])
    result = crypto.verify_emergency(text, _trust(), NOW + timedelta(hours=1))
    assert result.claims == _claims() and result.kid == crypto.kid_for_certificate(KEYS["issuer_cert"])
    assert crypto.decode_emergency_unverified(text)["claims"]["ymt"]["nm"] == "*三"
    assert "张三" not in str(crypto.decode_emergency_unverified(text))


def test_emergency_claims_swapped_under_an_old_signature_fail() -> None:
    kid = crypto.kid_for_certificate(KEYS["issuer_cert"])
    good = crypto.encode_emergency(_claims(), KEYS["issuer"], kid)
    tag = cbor2.loads(good.cose)
    forged_payload = cbor2.dumps(_claims(tags=(1, 2, 3, 4)).as_cwt())
    forged = cbor2.dumps(cbor2.CBORTag(18, [tag.value[0], {}, forged_payload, tag.value[3]]))
    text = "YMT1:" + base45.b45encode(zlib.compress(forged)).decode()
    with pytest.raises(crypto.BadSignature):
        crypto.verify_emergency(text, _trust(), NOW)


@pytest.mark.parametrize(
    ("cose", "reason"),
    [
        (b"\xff\xfe not cbor", "bad-cose"),
        (cbor2.dumps(cbor2.CBORTag(98, [b"", {}, b"", b""])), "bad-cose"),
        (cbor2.dumps([b"", {}, b""]), "bad-cose"),
        (cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps({1: -8}), {}, b"", b""])), "bad-cose"),
        (cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps({1: -7}), {}, b"", b""])), "bad-cose"),
    ],
)
def test_malformed_cose_is_a_typed_failure(cose: bytes, reason: str) -> None:
    text = "YMT1:" + base45.b45encode(zlib.compress(cose)).decode()
    with pytest.raises(crypto.EmergencyCodeError) as info:
        crypto.verify_emergency(text, _trust(), NOW)
    assert info.value.reason == reason
    assert isinstance(info.value, HarnessError)


@pytest.mark.parametrize("text", ["", "YMT1", "ymt1:ABC", "YMT1:中文", "YMT1:GGW", "YMT1:A", None])
def test_garbage_never_raises_anything_but_a_typed_failure(text: object) -> None:
    with pytest.raises(crypto.EmergencyCodeError):
        crypto.verify_emergency(text, _trust(), NOW)  # type: ignore[arg-type]


def test_claims_without_the_emergency_flag_are_refused() -> None:
    kid = crypto.kid_for_certificate(KEYS["issuer_cert"])
    text = crypto.encode_emergency(_claims(emergency=False), KEYS["issuer"], kid).text
    with pytest.raises(crypto.BadClaims):
        crypto.verify_emergency(text, _trust(), NOW)


def test_validity_edges() -> None:
    text = crypto.make_emergency(_claims(), KEYS["issuer"], KEYS["issuer_cert"])
    trust = _trust()
    crypto.verify_emergency(text, trust, NOW - timedelta(seconds=60))
    with pytest.raises(crypto.NotYetValid):
        crypto.verify_emergency(text, trust, NOW - timedelta(seconds=61))
    crypto.verify_emergency(text, trust, NOW + timedelta(hours=24) - timedelta(seconds=1))
    with pytest.raises(crypto.Expired):
        crypto.verify_emergency(text, trust, NOW + timedelta(hours=24))


def test_unknown_kid_and_a_key_of_another_curve() -> None:
    text = crypto.make_emergency(_claims(), KEYS["rogue"], KEYS["rogue_cert"])
    with pytest.raises(crypto.UnknownKid):
        crypto.verify_emergency(text, _trust(), NOW)
    crypto.verify_emergency(text, _trust(("ROGUE", KEYS["rogue_cert"])), NOW)
    with pytest.raises(crypto.EmergencyCodeError):
        crypto.encode_emergency(_claims(), ec.generate_private_key(ec.SECP384R1()), b"12345678")


def test_trust_list_tamper_wrong_anchor_and_expiry() -> None:
    doc = crypto.make_trust_list([("YMT-TEST-ISSUER", KEYS["issuer_cert"])], KEYS["anchor"], version=1, issued_at=0, expires_at=2**40)
    anchor = KEYS["anchor"].public_key()
    crypto.load_trust_list(doc, anchor, NOW)
    tampered = {**doc, "trustList": {**doc["trustList"], "version": 9}}
    with pytest.raises(crypto.BadTrustList):
        crypto.load_trust_list(tampered, anchor)
    with pytest.raises(crypto.BadTrustList):
        crypto.load_trust_list(doc, KEYS["issuer"].public_key())
    swapped = crypto.make_trust_list([("YMT-TEST-ISSUER", KEYS["rogue_cert"])], KEYS["anchor"], version=1, issued_at=0, expires_at=2**40)
    swapped["trustList"]["keys"][0]["kid"] = doc["trustList"]["keys"][0]["kid"]  # a kid that is not its certificate's
    with pytest.raises(crypto.BadTrustList):
        crypto.load_trust_list(swapped, anchor)
    old = crypto.make_trust_list([], KEYS["anchor"], version=1, issued_at=0, expires_at=int(NOW.timestamp()) - 1)
    with pytest.raises(crypto.BadTrustList):
        crypto.load_trust_list(old, anchor, NOW)
    for garbage in ({}, {"trustList": {}, "signature": "x"}, {"trustList": [], "signature": base64.b64encode(bytes(64)).decode()}):
        with pytest.raises(crypto.BadTrustList):
            crypto.load_trust_list(garbage, anchor)


def test_mutated_codes_only_ever_fail_with_a_typed_failure() -> None:
    import random

    rng = random.Random(1)
    trust = _trust()
    good = crypto.encode_emergency(_claims(), KEYS["issuer"], crypto.kid_for_certificate(KEYS["issuer_cert"]))
    reasons = set()
    for i in range(400):
        layer = i % 3
        if layer == 0:  # flip a byte of the COSE message
            data = bytearray(good.cose)
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            text = "YMT1:" + base45.b45encode(zlib.compress(bytes(data))).decode()
        elif layer == 1:  # flip a byte of the compressed stream
            data = bytearray(good.compressed)
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            text = "YMT1:" + base45.b45encode(bytes(data)).decode()
        else:  # cut the text
            text = good.text[: rng.randrange(len(good.text))]
        try:
            crypto.verify_emergency(text, trust, NOW)
        except crypto.EmergencyCodeError as exc:
            reasons.add(exc.reason)
    assert {"bad-signature", "bad-zlib", "bad-cose"} <= reasons


def test_a_time_in_the_tables_literal_pattern_is_named_so() -> None:
    """表B.4 prints yyyyMMssHHmmss; a vendor that takes it literally sends the seconds where the day belongs. The
    refusal stays (D-YMT-TIME), and its words say which reading the time follows."""
    import datetime as dt

    now = dt.datetime(2026, 12, 1, 13, 45, 17, tzinfo=crypto.BEIJING)
    said = crypto.literal_pattern_reading("20261217134517", now)
    assert said and "yyyyMMssHHmmss" in said and "D-YMT-TIME" in said and "20261201" in said
    assert crypto.literal_pattern_reading("20261201134517", now) is None  # the right form
    assert crypto.literal_pattern_reading("20261217124517", now) is None  # an hour off: another mistake
    assert crypto.literal_pattern_reading("2026121713451", now) is None
    with pytest.raises(crypto.TimeWindowError):
        crypto.check_time("20261217134517", now)
