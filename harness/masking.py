"""Masking personal data the way the platforms do it (concealName / concealCard), for reports and logs.

Three kinds of personal data appear in exchanges: 18-digit ID numbers (GB 11643), 11-digit mainland mobiles, and
names. Numbers are found anywhere in text; names only in fields known to hold a person's name, because a name
cannot be told from other Chinese text.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import re
import weakref
from typing import Any

from harness import limits

# Field names (compared case-insensitively) whose value is a person's name, an ID number or a phone number.
NAME_FIELDS = frozenset(
    {
        "name",
        "xm",
        "username",
        "stuname",
        "studentname",
        "teaname",  # ZJPX §2.1.2 教师姓名
        "coachname",
        "realname",
        "truename",
        "concealname",
        "xingming",
        "fullname",
    }
)
ID_FIELDS = frozenset({"idcard", "idno", "idnumber", "sfzh", "sfzhm", "cardno", "drilicence", "concealcard", "zjhm"})
MOBILE_FIELDS = frozenset({"mobile", "phone", "tel", "telephone", "sjhm", "lxdh", "mobilephone"})

# Bounded by anything but a letter or digit, so hex signatures, unified numbers (S + 15 digits) and 13-digit
# millisecond timestamps are left alone.
_ID_RE = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_MOBILE_RE = re.compile(r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])")


def mask_name(name: str) -> str:
    """张三丰 → 张*丰, 张三 → 张* (the platforms' concealName)."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_id(number: str) -> str:
    """440103199001011234 → 4401**********1234 (the platforms' concealCard)."""
    if len(number) <= 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def mask_mobile(number: str) -> str:
    """13812345678 → 138****5678."""
    return number[:3] + "****" + number[7:] if len(number) == 11 else mask_id(number)


def mask_text(text: str) -> str:
    """Mask every ID number and mobile number found in free text (query strings, messages, non-JSON bodies)."""
    text = _ID_RE.sub(lambda m: mask_id(m.group()), text)
    return _MOBILE_RE.sub(lambda m: mask_mobile(m.group()), text)


def mask_value(value: Any, key: str | None = None) -> Any:
    """Mask a decoded JSON value recursively; ``key`` is the field name the value sits under, if any."""
    if isinstance(value, dict):
        return {k: mask_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v, key) for v in value]
    if not isinstance(value, str | int) or isinstance(value, bool):
        return value
    field = (key or "").lower()
    text = str(value)
    if isinstance(value, str) and value.startswith(SECRET_PREFIX):
        return value  # already a keyed hash (the journal's form of a secret or personal field): masking it again hides
        # only the hash a reader matches calls by
    if field in NAME_FIELDS and isinstance(value, str):
        return mask_name(value)
    if field in ID_FIELDS:
        return mask_id(text)
    if field in MOBILE_FIELDS:
        return mask_mobile(text)
    if isinstance(value, int):
        masked = mask_text(text)
        return value if masked == text else masked
    return mask_text(value)


def mask_body(body: str | bytes | None) -> Any:
    """A request or reply body for a report: decoded JSON masked field by field, else masked text."""
    if body is None:
        return None
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            return f"<{len(body)} bytes of binary data>"
    try:
        document = limits.loads(body)  # a body nested 10,000 deep (refused when it came) is masked as text
    except ValueError:
        return mask_text(body)
    return mask_value(document)


# -- secrets ---------------------------------------------------------------------------------------------------------
# Passwords, enterprise secrets and tokens never reach the store, a report or a log in clear. Each platform declares the
# fields that hold them (``Platform.secret_fields``); :class:`SecretMasker` replaces each such value by a keyed hash
# with a short tail, ``hmac-sha256:<32 hex>:…<tail>``. The key lives in the store (table ``harness_keys``, made by
# harness.pki's schema), so the same secret masks to the same text in every row and every process on that store (two
# rows can still be matched, a token table can be keyed on it), and without the store's key a masked value cannot even
# be checked against a guess.

SECRET_PREFIX = "hmac-sha256:"
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
# Every spelling the set check catches at once; a header dict with other capitals takes the slow path.
_SECRET_HEADER_SPELLINGS = SECRET_HEADERS | {h.title() for h in SECRET_HEADERS} | {h.upper() for h in SECRET_HEADERS}


def _lowercase(headers: dict[str, str]) -> bool:
    """Whether every header name is lower case (as ASGI delivers them), so the set check above was exact."""
    for k in headers:
        if not k.islower():
            return not any(k.lower() in SECRET_HEADERS for k in headers)
    return True


_DIGEST_HEX = 32


_KEY_READ = "SELECT key FROM harness_keys WHERE name = 'masking'"
_KEY_MAKE = "INSERT INTO harness_keys (name, key, created_at) VALUES ('masking', ?, ?) ON CONFLICT DO NOTHING"


def store_key(store: Any) -> bytes:
    """The store's masking key (32 random bytes in ``harness_keys``), made on first use and cached per store handle."""
    return _key(store, lambda: store.query_one(_KEY_READ), lambda params: store.execute(_KEY_MAKE, params, changes_state=False))


def store_key_in(conn: Any, store: Any) -> bytes:
    """:func:`store_key` from inside a transaction on ``conn`` (a migration step): read or made through ``conn``."""
    return _key(store, lambda: conn.execute(_KEY_READ).fetchone(), lambda params: conn.execute(_KEY_MAKE, params))


def _key(store: Any, read: Any, make: Any) -> bytes:
    cached = _KEYS.get(store)
    if cached is not None:
        return cached
    import datetime as dt
    import secrets

    row = read()
    if row is None:  # ON CONFLICT DO NOTHING: when two processes race, the first key wins and both read it back
        make((secrets.token_bytes(32), dt.datetime.now(dt.UTC).isoformat(timespec="seconds")))
        row = read()
    key = bytes(row[0])
    _KEYS[store] = key
    return key


def secret_form(key: bytes, value: str) -> str:
    """``hmac-sha256:<32 hex of HMAC-SHA256(key, value)>:…<tail>``: the tail is at most 4 characters and at most a
    quarter of the secret (none below 4), so that a person can tell two tokens apart at a glance. Idempotent."""
    if value.startswith(SECRET_PREFIX):
        return value
    # surrogatepass: a refused body may carry a lone surrogate escape (harness.limits.UNICODE_CLAUSE); it is hashed too
    digest = hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:_DIGEST_HEX]
    tail = value[-min(4, len(value) // 4) :] if len(value) >= 4 else ""
    return f"{SECRET_PREFIX}{digest}:…{tail}"


class SecretMasker:
    """Masks the values of ``fields`` (exact JSON keys or query parameters) and of credential headers.

    Cheap when there is nothing to mask: a body is searched for each ``"field"`` (a few substring scans) before any
    regular expression runs, so a DUDU heartbeat pays well under a microsecond; a body that carries a token pays one
    regex pass and one HMAC."""

    def __init__(self, key: bytes, fields: Any = (), upper: Any = ()) -> None:
        self.key = key
        self.fields = frozenset(fields)
        # Fields whose value is hashed upper-cased (an ID number's check character is x or X; both are the same person),
        # so that a value matches its other spelling in another row: ``secret_for``.
        self.upper = frozenset(f.encode() for f in upper)
        names = b"|".join(re.escape(f.encode()) for f in sorted(self.fields)) or b"(?!)"
        self._needles = tuple(f'"{f}"'.encode() for f in sorted(self.fields))
        self._query_needles = tuple(f"{f}=" for f in sorted(self.fields))
        # "field" : "value" (escapes allowed), "field": number, or "field": ["value", ...] (a list of plates), anywhere in
        # the document; not inside a string (\").
        self._json = re.compile(
            rb'(?<!\\)"('
            + names
            + rb')"(\s*:\s*)(?:"((?:[^"\\]|\\.)*)"|(-?\d[\d.eE+-]*)|(\[\s*"(?:[^"\\]|\\.)*"(?:\s*,\s*"(?:[^"\\]|\\.)*")*\s*\]))'
        )
        self._query = re.compile(r"(?:^|(?<=[&?]))(" + names.decode() + r")=([^&]*)")

    def secret(self, value: str) -> str:
        """``hmac-sha256:<keyed hash>:…<tail>``; an already masked value is returned as it is."""
        return secret_form(self.key, value)

    def mentioned(self, request: bytes, reply: bytes, query: str) -> bool:
        """Whether a secret field's name occurs in either body (as a JSON key) or in the query: when not, there is
        nothing to mask (the usual case, decided by a few substring scans)."""
        for needle in self._needles:
            if needle in request or needle in reply:
                return True
        if query:
            for needle in self._query_needles:
                if needle in query:
                    return True
        return False

    def json_bytes(self, body: bytes, found: list[str] | None = None) -> bytes:
        """``body`` with every secret field's value masked, byte for byte the same elsewhere (evidence stays exact)."""
        if not body:
            return body
        for needle in self._needles:  # a loop, not any(genexpr): this runs for every journaled exchange
            if needle in body:
                break
        else:
            return body

        def replace(m: re.Match[bytes]) -> bytes:
            upper = m.group(1) in self.upper
            if m.group(5) is not None:  # a list of strings: each masked in place
                listed = _JSON_STRING.sub(lambda item: b'"%s"' % mask_one(item.group(1), None, upper), m.group(5))
                return b'"%s"%s%s' % (m.group(1), m.group(2), listed)
            return b'"%s"%s"%s"' % (m.group(1), m.group(2), mask_one(m.group(3), m.group(4), upper))

        def mask_one(string: bytes | None, number: bytes | None = None, upper: bool = False) -> bytes:
            raw = string if string is not None else number
            try:
                value = json.loads(b'"' + raw + b'"') if string is not None else raw.decode()
            except ValueError:
                value = raw.decode("utf-8", "replace")
            if value.startswith(SECRET_PREFIX):
                return raw
            if found is not None:
                found.append(value)
            return self.secret(value.upper() if upper else value).encode("utf-8")

        return self._json.sub(replace, body)

    def query(self, query: str, found: list[str] | None = None) -> str:
        if not query or not any(n in query for n in self._query_needles):
            return query

        def replace(m: re.Match[str]) -> str:
            if found is not None:
                found.append(m.group(2))
            return f"{m.group(1)}={self.secret(m.group(2))}"

        return self._query.sub(replace, query)

    def headers(self, headers: dict[str, str], found: list[str] | None = None, *, lowercase: bool = False) -> dict[str, str]:
        """``lowercase``: every name is known to be lower case (ASGI delivers them so), and one set check decides."""
        if _SECRET_HEADER_SPELLINGS.isdisjoint(headers) and (lowercase or _lowercase(headers)):
            return headers
        out = {}
        for k, v in headers.items():
            if k.lower() in SECRET_HEADERS and not v.startswith(SECRET_PREFIX):
                scheme, _, credentials = v.partition(" ")
                out[k] = f"{scheme} {self.secret(credentials)}" if credentials and scheme.isalpha() else self.secret(v)
                if found is not None:
                    found.append(credentials or v)
            else:
                out[k] = v
        return out

    def text(self, text: str, values: list[str]) -> str:
        """``text`` (a verdict's message) with each of ``values`` (secrets found in the same exchange) masked."""
        for value in values:
            if len(value) >= 4 and value in text:
                text = text.replace(value, self.secret(value))
        return text


_JSON_STRING = re.compile(rb'"((?:[^"\\]|\\.)*)"')
_KEYS: weakref.WeakKeyDictionary[Any, bytes] = weakref.WeakKeyDictionary()
_MASKERS: dict[str, SecretMasker] = {}  # per platform name: the masker of the platform made last (see mask_exchange)


def masker(store: Any, fields: Any = (), upper: Any = ()) -> SecretMasker:
    """The masker of ``fields`` under ``store``'s key (``upper``: those of them hashed upper-cased)."""
    return SecretMasker(store_key(store), fields, upper)


def hide(store: Any, value: str) -> str:
    """One secret as it is kept at rest (a token table's key, an enterprise's secret): the journal's masked form."""
    return secret_form(store_key(store), value)


def register(platform: str, secret_masker: SecretMasker) -> None:
    """The masker for exchanges of ``platform`` that carry none of their own (called by every Platform it makes)."""
    _MASKERS[platform] = secret_masker


def mask_exchange(exchange: Any) -> None:
    """Mask the secrets of a journal exchange in place: request headers, query, request body, reply body and the
    messages of its verdicts. Called by ``Exchange.row()`` before anything is stored; returns at once for an exchange
    without a secret field (a heartbeat)."""
    m = exchange.masker or _MASKERS.get(exchange.platform)
    if m is None:
        return
    headers = exchange.request_headers
    if _SECRET_HEADER_SPELLINGS.isdisjoint(headers) and (exchange.headers_lowercase or _lowercase(headers)):
        if not m.mentioned(exchange.request_body, b"" if exchange.reply_secret_free else exchange.reply_body, exchange.query):
            return  # nothing to mask: the usual case, decided without allocating
    found: list[str] = []
    exchange.request_headers = m.headers(headers, found, lowercase=exchange.headers_lowercase)
    exchange.query = m.query(exchange.query, found)
    # The digests stay those of the bytes that were sent: the journal proves what went over the wire.
    sent = exchange.request_body
    exchange.request_body = m.json_bytes(sent, found)
    if exchange.request_body is not sent and exchange.request_body != sent:
        exchange.request_sha256 = hashlib.sha256(sent).hexdigest()
    replied = exchange.reply_body
    if not exchange.reply_secret_free:
        exchange.reply_body = m.json_bytes(replied, found)
    if exchange.reply_sha256 is None and exchange.reply_body != replied:
        exchange.reply_sha256 = hashlib.sha256(replied).hexdigest()
    if found and exchange.verdicts:
        exchange.verdicts = [_masked_verdict(v, m, found) for v in exchange.verdicts]


def _masked_verdict(verdict: Any, m: SecretMasker, found: list[str]) -> Any:
    message = m.text(verdict.message, found)
    return verdict if message == verdict.message else dataclasses.replace(verdict, message=message)
