"""The DUDU QR ticket scheme (D-DUDU-QR): the seed names key groups and key_id but not the ticket format.

A ticket is ASCII ``DD1.<key_id>.<payload>.<tag>``:

* payload = base64url (no padding) of compact, key-sorted JSON ``{"eid", "exp", "iat", "tid", "uid"}``;
* tag = base64url of the first 16 bytes of HMAC-SHA256(key, ASCII ``DD1.<key_id>.<payload>``);
* key = the 32 bytes of entry ``key_id`` of the enterprise's key group (lowercase hex in get_qrcode_keys, 003 §5.2).

The key signs (authenticates); nothing is encrypted, so a device verifies offline with the key group it holds.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import constant_time, hashes, hmac

from harness import limits
from harness.errors import HarnessError

PREFIX = "DD1"
TAG_BYTES = 16
DEFAULT_LIFETIME = 120  # seconds (D-DUDU-QR)
EARLY_TOLERANCE = 30  # a ticket may be checked up to 30 s before its iat (device clocks drift)
KEYS_PER_GROUP = 4  # the seed's example group has key_id 1–4


class TicketError(HarnessError, ValueError):
    """The string is not a DD1 ticket."""


@dataclass(frozen=True)
class Ticket:
    key_id: int
    eid: str
    exp: int
    iat: int
    tid: str
    uid: str
    signed_part: str
    tag: bytes

    def valid_at(self, epoch: float) -> bool:
        return self.iat - EARLY_TOLERANCE <= epoch <= self.exp


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def tag_for(key_hex: str, signed_part: str) -> bytes:
    mac = hmac.HMAC(bytes.fromhex(key_hex), hashes.SHA256())
    mac.update(signed_part.encode("ascii"))
    return mac.finalize()[:TAG_BYTES]


def new_key_group() -> list[dict[str, object]]:
    return [{"key_id": i, "key": secrets.token_hex(32)} for i in range(1, KEYS_PER_GROUP + 1)]


def make(key_id: int, key_hex: str, *, eid: str, uid: str, iat: int, lifetime: int = DEFAULT_LIFETIME, tid: str | None = None) -> str:
    """Issue a ticket (what a rider's app shows as a QR code)."""
    payload = {"eid": eid, "exp": iat + lifetime, "iat": iat, "tid": tid or secrets.token_hex(8), "uid": uid}
    body = _b64(json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    signed = f"{PREFIX}.{key_id}.{body}"
    return f"{signed}.{_b64(tag_for(key_hex, signed))}"


def _epoch(value: object, name: str) -> int:
    """A ticket time: a JSON integer (epoch seconds), never a float, a string or a boolean."""
    if type(value) is not int:
        raise TypeError(f"{name} is {type(value).__name__}, not an integer")
    return value


def parse(text: str) -> Ticket:
    parts = text.split(".")
    if len(parts) != 4 or parts[0] != PREFIX or not limits.ascii_digits(parts[1], limits.MAX_DIGIT_STRING):
        raise TicketError("not of the form DD1.<key_id>.<payload>.<tag>")
    try:
        payload = limits.loads(_unb64(parts[2]))  # no NaN, no 1e400, integers in the store range (harness.limits)
        tag = _unb64(parts[3])
        ticket = Ticket(
            int(parts[1]),
            str(payload["eid"]),
            _epoch(payload["exp"], "exp"),
            _epoch(payload["iat"], "iat"),
            str(payload["tid"]),
            str(payload["uid"]),
            ".".join(parts[:3]),
            tag,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise TicketError(f"payload or tag cannot be decoded: {exc}") from None
    if len(tag) != TAG_BYTES:
        raise TicketError(f"tag is {len(tag)} bytes, not {TAG_BYTES}")
    if _b64(tag) != parts[3] or _b64(_unb64(parts[2])) != parts[2]:  # one ticket, one spelling: no malleable padding bits
        raise TicketError("payload or tag is not canonical base64url")
    return ticket


def verify(ticket: Ticket, key_hex: str) -> bool:
    return constant_time.bytes_eq(tag_for(key_hex, ticket.signed_part), ticket.tag)
