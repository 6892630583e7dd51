"""Secrets the platforms must use again (a DYM application's HMAC secret, a YMT merchant's AES reply key) are sealed
at rest under a key kept outside the store (harness/sealing.py): after traffic of both, the database files hold
neither in clear, the platforms still verify and encrypt with them, and a store opened with another key says so in
one line."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from harness import sealing
from harness.config import Settings
from harness.errors import StoreError
from harness.schema import open_store
from harness.server import create_app
from tests.dym.conftest import _world
from tests.ymt import world as ymt_world
from tests.ymt.conftest import Client


def _store_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(db.parent.glob(db.name + "*")) if not p.name.endswith(".seal-key"))


def test_ymt_reply_keys_are_sealed_and_still_encrypt(tmp_path: Path) -> None:
    db = tmp_path / "y.db"
    store = open_store(db)
    client = Client(create_app(Settings(db=db), store))
    try:
        scene = ymt_world.scene(client, store)
        body = scene.decode_body(scene.code())
        reply = scene.post("/qrcode/decode", body)
        assert reply["code"] == "PY0000" and scene.open(reply, body)["userName"] == ymt_world.NAME  # encrypted with the key
        stored = store.query_one("SELECT aes_key FROM ymt_merchants WHERE id = ?", (scene.merchant_id,))["aes_key"]
        assert sealing.is_sealed(stored)
    finally:
        client.close()
        store.close()
    raw = _store_bytes(db)
    assert scene.aes_key not in raw and base64.b64encode(scene.aes_key) not in raw
    assert (tmp_path / "y.db.seal-key").stat().st_mode & 0o077 == 0  # the key file is the owner's alone


def test_dym_app_secrets_are_sealed_and_still_verify(tmp_path: Path) -> None:
    gen = _world(tmp_path, "tolerant")
    world = next(gen)
    try:
        from tests.dym.conftest import DRIVER_A

        assert world.enterprise.call("driver_claim", DRIVER_A)["code"] == "0"  # signed with the secret, verified
        secrets = [world.enterprise.app.secret, world.carrier.app.secret, world.regulator.app.secret]
        rows = world.store.query("SELECT secret FROM dym_apps")
        assert rows and all(sealing.is_sealed(r["secret"]) for r in rows)
    finally:
        gen.close()
    raw = _store_bytes(world.db)
    for secret in secrets:
        assert secret.encode() not in raw


def test_another_key_is_refused_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(tmp_path / "k.db")
    sealed = sealing.seal(store, b"reply key", "ymt-merchant-aes-key")
    assert sealing.unseal(store, sealed, "ymt-merchant-aes-key") == b"reply key"
    assert sealing.unseal(store, b"legacy clear value", "ymt-merchant-aes-key") == b"legacy clear value"  # older stores
    with pytest.raises(StoreError, match="does not open"):
        sealing.unseal(store, sealed, "dym-app-secret")  # bound to its purpose
    other = open_store(tmp_path / "k.db")
    monkeypatch.setenv(sealing.ENV, base64.urlsafe_b64encode(b"\x01" * 32).decode())
    with pytest.raises(StoreError, match="does not open with this store's sealing key"):
        sealing.unseal(other, sealed, "ymt-merchant-aes-key")
    monkeypatch.setenv(sealing.ENV, "short")
    with pytest.raises(Exception, match="32 bytes"):
        sealing.seal(open_store(tmp_path / "j.db"), b"x", "p")
    store.close()
    other.close()


def test_the_harness_own_private_keys_are_sealed_at_rest(tmp_path: Path) -> None:
    """The store's test CA key (and every key kept by pki.stored_identity) is sealed; one an older version kept in clear
    is sealed the first time it is read, and the identity is the same."""
    from cryptography.hazmat.primitives import serialization

    from harness import pki
    from harness.schema import open_store

    store = open_store(tmp_path / "h.db")
    key, cert = pki.ca(store)
    stored = store.query_one("SELECT key_pem FROM pki_ca WHERE id = 1")[0]
    assert "PRIVATE KEY" not in str(stored) and str(stored).startswith("sealed:")
    clear = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    store.execute("UPDATE pki_ca SET key_pem = ? WHERE id = 1", (clear,))  # as an older version kept it
    again, cert_again = pki.ca(store)
    assert again.private_numbers() == key.private_numbers() and cert_again == cert
    assert "PRIVATE KEY" not in str(store.query_one("SELECT key_pem FROM pki_ca WHERE id = 1")[0])
    store.close()


def test_the_platforms_own_keys_are_sealed_at_rest(tmp_path: Path) -> None:
    """The DYM waybill key and ledger signing key, and the YMT issuer, anchor and code keys live in the store sealed."""
    from harness.config import Settings
    from harness.server.app import create_app
    from harness.ymt import admin

    app = create_app(Settings(db=tmp_path / "h.db"))
    store = app.state_store  # type: ignore[attr-defined]
    keys = admin.platform_keys(store)
    assert keys.code_key and keys.issuer
    rows = [
        *(r[0] for r in store.query("SELECT key FROM dym_keys")),
        *(r[0] for r in store.query("SELECT signer FROM ledger_keys")),
        *(r[0] for r in store.query("SELECT value FROM ymt_keys WHERE name <> 'certificate'")),
    ]
    assert len(rows) >= 5
    for value in rows:
        text = bytes(value).decode() if isinstance(value, bytes | memoryview) else str(value)
        assert text.startswith("sealed:"), text[:40]
    assert (tmp_path / "h.db").read_bytes().find(b"PRIVATE KEY") == -1
