"""Secrets the platform must use again, kept sealed at rest under a key that is not in the store.

Most secrets are only ever compared (a DUDU enterprise secret, a ZJPX password, a token): the store keeps their keyed
hash (harness/masking.py). Some must be used as they are: a DYM application's HMAC secret (the platform recomputes
every signature with it) and a YMT merchant's AES reply key (the platform encrypts every answer with it). Those are
sealed here — AES-256-GCM, a fresh 96-bit nonce per value, the value's purpose as associated data — so that a copy of
the database (a backup, `harness store copy`, a file sent with a bug report) holds none of them in clear.

The sealing key lives outside the store:

* ``HARNESS_SEAL_KEY`` (the environment): 32 bytes, URL-safe base64 — what several hosts sharing one PostgreSQL set;
* else, for a SQLite store, the file ``<database>.seal-key`` beside it (created 0600 on first use);
* else (PostgreSQL without the variable) ``harness-seal.key`` in the working directory, created 0600 on first use.

A value stored before sealing existed (no ``sealed:v1:`` prefix) is read as it is, so older stores keep working.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import weakref
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from harness.errors import ConfigError, StoreError

PREFIX = "sealed:v1:"
ENV = "HARNESS_SEAL_KEY"
_KEYS: weakref.WeakKeyDictionary[Any, bytes] = weakref.WeakKeyDictionary()


def key_file(store: Any) -> Path:
    """Where the sealing key of ``store`` is kept when ``HARNESS_SEAL_KEY`` is not set."""
    if getattr(store, "dialect", "sqlite") == "sqlite" and str(getattr(store, "path", ":memory:")) != ":memory:":
        path = Path(store.path)
        return path.with_name(path.name + ".seal-key")
    return Path("harness-seal.key")


def _decode(text: str, where: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise ConfigError(
            f"{where} must hold 32 bytes in URL-safe base64 (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    return key


def seal_key(store: Any) -> bytes:
    """The sealing key of ``store`` (see the module docstring), made on first use and cached per store handle."""
    cached = _KEYS.get(store)
    if cached is not None:
        return cached
    if os.environ.get(ENV):
        key = _decode(os.environ[ENV], ENV)
    else:
        path = key_file(store)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            key = _decode(path.read_text(encoding="ascii", errors="replace"), f"the sealing key file {path}")
        except OSError as exc:
            raise StoreError(f"cannot create the sealing key file {path}: {exc.strerror}") from None
        else:
            text = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(text + "\n")
            key = _decode(text, str(path))
    _KEYS[store] = key
    return key


def seal(store: Any, value: bytes | str, purpose: str) -> str:
    """``sealed:v1:<base64(nonce ‖ ciphertext ‖ tag)>`` of ``value`` for ``purpose`` (e.g. ``dym-app-secret``)."""
    data = value.encode("utf-8") if isinstance(value, str) else value
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(seal_key(store)).encrypt(nonce, data, purpose.encode())
    return PREFIX + base64.b64encode(nonce + sealed).decode("ascii")


def unseal(store: Any, stored: bytes | str | memoryview, purpose: str) -> bytes:
    """The value :func:`seal` sealed; a value stored in clear before sealing existed comes back as it is."""
    raw = bytes(stored) if isinstance(stored, memoryview | bytearray) else stored
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    if not text.startswith(PREFIX):
        return raw if isinstance(raw, bytes) else raw.encode("utf-8")
    try:
        blob = base64.b64decode(text[len(PREFIX) :], validate=True)
        return AESGCM(seal_key(store)).decrypt(blob[:12], blob[12:], purpose.encode())
    except (binascii.Error, ValueError, InvalidTag):
        raise StoreError(
            f"a sealed {purpose} does not open with this store's sealing key ({ENV} or {key_file(store)}): "
            "the key was changed or the value altered"
        ) from None


def is_sealed(stored: bytes | str | memoryview | None) -> bool:
    if stored is None:
        return False
    raw = bytes(stored) if isinstance(stored, memoryview | bytearray) else stored
    return (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw).startswith(PREFIX)
