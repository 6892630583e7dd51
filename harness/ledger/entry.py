"""Ledger entries: canonical JSON (RFC 8785, JCS) of an event whose personal data is replaced by salted commitments.

A personal value (a field named like a name, ID number, phone or bank account, or any string holding an ID or
mobile number) becomes ``{"commitment": hex(SHA-256(salt || JCS(value)))}`` with a fresh 32-byte salt. The salt and
the value are kept apart from the public log (:class:`Opening`): whoever holds both can prove what was committed;
erasing them leaves the log public, verifiable and free of the person's data (a low-entropy ID number cannot be
guessed back without its salt).

Canonical form: the ``rfc8785`` package (pure Python, maintained by Trail of Bits). It sorts keys by UTF-16 code
units, writes non-ASCII as raw UTF-8, writes floats the ECMAScript way (``1.0`` → ``1``, ``-0.0`` → ``0``,
``1e21`` → ``1e+21``) and refuses NaN, infinities and integers beyond 2**53 - 1, so two parties that parse the same
event always hash the same bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import rfc8785

from harness.masking import ID_FIELDS, MOBILE_FIELDS, NAME_FIELDS, mask_text

PERSONAL_FIELDS = NAME_FIELDS | ID_FIELDS | MOBILE_FIELDS | frozenset({"bankaccount", "bankcard", "accountno", "drivername"})
SALT_BYTES = 32
ENTRY_VERSION = 1


class EntryError(ValueError):
    """An event that cannot be put in the ledger (not JSON-representable per RFC 8785)."""


def canonical(value: Any) -> bytes:
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise EntryError(f"event is not canonical JSON: {exc}") from exc


def commitment(salt: bytes, value: Any) -> str:
    return hashlib.sha256(salt + canonical(value)).hexdigest()


def _normal(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "")


def _personal(key: str | None, value: Any, fields: frozenset[str]) -> bool:
    if isinstance(value, dict | list) or value is None or isinstance(value, bool):
        return False
    if _normal(key or "") in fields:
        return True
    return isinstance(value, str) and mask_text(value) != value


@dataclass(frozen=True)
class Opening:
    """What opens one commitment: the JSON path of the field, its salt and its value (kept off the public log)."""

    path: str
    salt: bytes
    value: Any

    def matches(self, digest: str) -> bool:
        return hmac.compare_digest(commitment(self.salt, self.value), digest)


def commit(event: Any, *, personal: frozenset[str] = PERSONAL_FIELDS, salt: Any = None) -> tuple[Any, list[Opening]]:
    """The public form of ``event`` and the openings of the commitments it holds. ``personal``: the field names
    (compared lower-case, without ``_`` or ``-``) whose values are committed; ``salt`` (a callable returning bytes) is
    for reproducible tests only."""
    fields = frozenset(_normal(f) for f in personal)
    openings: list[Opening] = []
    make = salt or (lambda: secrets.token_bytes(SALT_BYTES))

    def walk(value: Any, key: str | None, path: str) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, str(k), f"{path}/{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, key, f"{path}/{i}") for i, v in enumerate(value)]
        if _personal(key, value, fields):
            s = make()
            openings.append(Opening(path, s, value))
            return {"commitment": commitment(s, value)}
        return value

    return walk(event, None, ""), openings


def entry_bytes(*, attestation_id: str, index: int, at: str, event: Any) -> bytes:
    """The leaf: the canonical JSON of ``{"at", "event", "id", "index", "v"}`` (members in JCS order, the event
    canonicalised once and spliced in: the same bytes as canonicalising the whole object, at a third of the cost)."""
    return b'{"at":%s,"event":%s,"id":%s,"index":%d,"v":%d}' % (
        canonical(at),
        canonical(event),
        canonical(attestation_id),
        index,
        ENTRY_VERSION,
    )
