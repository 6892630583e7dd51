"""Schemathesis hooks for fuzzing the harness's reference platforms (or a vendor's own implementation of them).

Loaded by ``schemathesis.toml`` (``hooks = "harness.fuzz"``) or ``SCHEMATHESIS_HOOKS=harness.fuzz``. It does three
things:

* **Signs every request** of a YXC spec (D-YXC-SIGN) with an enrolled vendor key, so generated requests reach the
  business rules instead of stopping at errorcode 202. The key comes from ``HARNESS_VENDOR_DIR`` (the ``--out`` folder
  of ``harness vendor add``) or ``HARNESS_VENDOR_KEY`` + ``HARNESS_VENDOR_CERT``.
* **Serializes JSON deterministically** (compact, UTF-8), so the signed bytes are exactly the bytes sent.
* **Tags every request** ``X-Harness-Origin: fuzz``: the harness journals it with ``origin = 'fuzz'``, and generated
  traffic is never certification evidence (harness/conformance/sessions.py), even inside a certification session.
* **Judges replies by the envelope** of every platform (YXC, ZJPX, DUDU, YMT, DYM), not the HTTP status (D-HTTP-STATUS:
  platforms answer HTTP 200 with a code):
  a negative case must get a non-zero code; a schema-valid, signed case must never be refused as malformed or
  unauthenticated, and a business refusal must name the rule and clause it enforces. ``schemathesis.toml`` turns the
  status-based built-ins (negative_data_rejection, positive_data_acceptance, ignored_auth, unsupported_method) off.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import schemathesis
from schemathesis import Case, CheckContext, Response

from harness.server.validators import SCHEMA_RULE
from harness.signing import Signer


@dataclass(frozen=True)
class Envelope:
    code_field: str
    ok: Any
    malformed: frozenset[Any]
    refused_credentials: frozenset[Any]
    violations: str  # where the harness lists failed rules in a refusal: that member's "violations", or "" for the top level


# DUDU, YMT and DYM: the hooks bring no credentials for them (no token, app or merchant signature), so a gate's refusal
# of a schema-valid case is a business refusal like any other (it must still name its rule and clause), not a defect.
ENVELOPES = {
    "yxc": Envelope("errorcode", 0, frozenset({200}), frozenset({201, 202, 100}), "data"),
    "zjpx": Envelope("returnCode", "0", frozenset({"2"}), frozenset({"3", "4"}), "returnData"),  # D-ZJPX-RETURNCODE
    "dudu": Envelope("ret_code", 0, frozenset({1001}), frozenset(), ""),  # D-DUDU-CODES
    "ymt": Envelope("code", "PY0000", frozenset({"PY1001", "PY1002", "PY1003"}), frozenset(), ""),  # D-YMT-CODES
    "dym": Envelope("code", "0", frozenset({"1001"}), frozenset(), ""),  # D-DYM-ENVELOPE, D-DYM-CODES
}


def _jsonable(value: Any) -> Any:
    # Negative cases may hold bytes; they go on the wire as text, and the signature covers exactly that text.
    return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_jsonable).encode("utf-8")


@schemathesis.serializer("application/json")
def _json_serializer(ctx: Any, value: Any) -> bytes:
    return canonical_json(value)


def _platform(case: Case) -> str | None:
    return case.operation.schema.raw_schema.get("x-platform")


def _signed_payload(case: Case) -> bytes:
    body = case.body
    if body is None or type(body).__name__ == "NotSet":
        return b""
    if case.media_type and case.media_type.startswith("multipart/"):
        data = body.get("file") if isinstance(body, dict) else None
        data = getattr(data, "data", data)  # schemathesis wraps generated binaries in Binary(str) with .data
        if isinstance(data, str):
            return data.encode("utf-8")
        return bytes(data) if isinstance(data, (bytes, bytearray)) else b""
    return canonical_json(body)


class _Timestamps:
    """Unique, increasing ts values: two requests in one millisecond would otherwise collide (errorcode 201)."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._last = max(int(time.time() * 1000), self._last + 1)
            return self._last


_TIMESTAMPS = _Timestamps()


def load_signer() -> Signer:
    directory = os.environ.get("HARNESS_VENDOR_DIR")
    if directory:
        return Signer.from_dir(directory)
    key, cert = os.environ.get("HARNESS_VENDOR_KEY"), os.environ.get("HARNESS_VENDOR_CERT")
    if key and cert:
        return Signer.from_pem_files(key, cert)
    raise RuntimeError(
        "harness.fuzz needs an enrolled vendor key: set HARNESS_VENDOR_DIR to the --out folder of `harness vendor add yxc`"
        " (or HARNESS_VENDOR_KEY and HARNESS_VENDOR_CERT)"
    )


def _require_signer() -> None:
    """Before any case of a signed YXC spec: the key must load, or the run stops here with one line and exit 2.

    Left to the auth hook, a missing key surfaces as Schemathesis' "Token fetch failed 3 times in a row" per
    operation, with this message buried in a traceback."""
    global _SIGNER
    if _SIGNER is not None:
        return
    try:
        _SIGNER = load_signer()
    except (RuntimeError, OSError, ValueError) as exc:  # SigningError is a ValueError; an unreadable or non-PEM file too
        text = str(exc)
        text = text if text.startswith("harness.fuzz") else f"harness.fuzz: {text}"
        if Path(sys.argv[0]).name not in ("schemathesis", "st"):
            raise RuntimeError(text) from None  # in-process use (pytest plugin, a script): an ordinary exception
        # The command line: Schemathesis would wrap any exception from a hook in a traceback; stop with one line.
        sys.stdout.flush()
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
        os._exit(2)


_SIGNER: Signer | None = None


@schemathesis.auth()
class YxcSigning:
    """Adds v, ts, sign and user (computed over the exact payload) to every request of a YXC spec."""

    def __init__(self) -> None:
        self._signer: Signer | None = None

    def get(self, case: Case, ctx: Any) -> Signer | None:
        if _platform(case) != "yxc":
            return None
        if self._signer is None:
            self._signer = _SIGNER or load_signer()
        return self._signer

    def set(self, case: Case, data: Signer | None, ctx: Any) -> None:
        if data is None:
            return
        case.query = {**(case.query or {}), **data.query(_signed_payload(case), _TIMESTAMPS.next())}


def _envelope(case: Case, response: Response) -> tuple[Envelope, dict[str, Any]] | None:
    envelope = ENVELOPES.get(_platform(case) or "")
    if envelope is None:
        return None
    try:
        document = response.json()
    except ValueError:
        raise AssertionError(f"reply is not JSON: {response.text[:200]!r}") from None
    if not isinstance(document, dict) or envelope.code_field not in document:
        raise AssertionError(f"reply is not the platform envelope (no {envelope.code_field}): {response.text[:200]!r}")
    return envelope, document


def _violations(document: dict[str, Any], envelope: Envelope) -> list[Any] | None:
    detail = document.get(envelope.violations) if envelope.violations else document
    violations = detail.get("violations") if isinstance(detail, dict) else None
    return violations if isinstance(violations, list) else None


def _internal(document: dict[str, Any], envelope: Envelope) -> bool:
    return any(isinstance(v, dict) and v.get("rule") == "INTERNAL" for v in _violations(document, envelope) or ())


@schemathesis.check
def envelope_no_internal_error(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """The harness wraps its own failures in the envelope (never a 500); an INTERNAL refusal is still a server error."""
    found = _envelope(case, response)
    if found is not None and _internal(found[1], found[0]):
        raise AssertionError(f"the server failed internally: {found[1]}")
    return True


@schemathesis.check
def envelope_negative_data_rejection(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """A request that violates the spec must be refused with a non-zero envelope code."""
    meta = case.meta
    found = _envelope(case, response)
    if meta is None or found is None or not meta.generation.mode.is_negative:
        return None
    envelope, document = found
    if document[envelope.code_field] == envelope.ok:
        if _only_unknown_query(case):
            return True  # unknown query parameters are ignored by default (the spec's extra-fields decision), as by platforms
        raise AssertionError(f"schema-violating request accepted with {envelope.code_field}={envelope.ok}")
    return True


def _only_unknown_query(case: Case) -> bool:
    """The case is negative only through query parameters the spec does not declare (the signing parameters are set
    by the auth hook, so declared ones are valid): the default profile ignores those, journaling a warning."""
    meta = case.meta
    negative = {getattr(loc, "value", str(loc)) for loc, info in (meta.components if meta else {}).items() if info.mode.is_negative}
    if negative != {"query"} or os.environ.get("HARNESS_FUZZ_PROFILE") == "strict":
        return False
    declared = {p.name for p in case.operation.query}
    return bool(set(case.query or {}) - declared)


@schemathesis.check
def envelope_positive_data_acceptance(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """A schema-valid, signed request must not be refused as malformed or unauthenticated; a business refusal must
    name the rule and clause it enforces."""
    meta = case.meta
    found = _envelope(case, response)
    if meta is None or found is None or not meta.generation.mode.is_positive:
        return None
    envelope, document = found
    code = document[envelope.code_field]
    if code == envelope.ok:
        return True
    if _internal(document, envelope):
        raise AssertionError(f"the server failed internally: {document}")
    if code in envelope.refused_credentials:
        raise AssertionError(f"schema-valid signed request refused with {envelope.code_field}={code}: {document.get('message')}")
    violations = _violations(document, envelope)
    if not violations or not all(isinstance(v, dict) and v.get("rule") and v.get("clause") for v in violations):
        raise AssertionError(f"refusal {code} does not name the rule and clause it enforces: {document}")
    # A format refusal of schema-valid data is right only for rules the spec cannot express (real file bytes, sizes);
    # the schema validator itself disagreeing with the spec is a defect.
    schema_refusals = [v for v in violations if v["rule"] == SCHEMA_RULE]
    if code in envelope.malformed and schema_refusals:
        raise AssertionError(f"the server's schema validation refused schema-valid data: {schema_refusals}")
    return True


class _ZjpxToken:
    """A ZJPX acceptToken (002 §1.1), logged in once with HARNESS_ZJPX_ACCOUNT / HARNESS_ZJPX_PASSWORD."""

    def __init__(self) -> None:
        self._token: str | None = None
        self._lock = threading.Lock()

    def get(self, base_url: str) -> str:
        with self._lock:
            if self._token is None:
                import httpx

                account, password = os.environ.get("HARNESS_ZJPX_ACCOUNT"), os.environ.get("HARNESS_ZJPX_PASSWORD")
                if not account or not password:
                    raise RuntimeError(
                        "harness.fuzz needs a ZJPX account: set HARNESS_ZJPX_ACCOUNT and HARNESS_ZJPX_PASSWORD (harness zjpx account add)"
                    )
                login = {
                    "headers": {"deviceType": "TYPE_PC", "timestamp": str(int(time.time())), "deviceId": "fuzz"},
                    "data": {"studyPlatformAcount": account, "passWord": password},
                }
                reply = httpx.post(base_url.rstrip("/") + "/api/v1/thlogin", json=login, timeout=30).json()
                if reply.get("returnCode") != "0":
                    raise RuntimeError(f"ZJPX login failed: {reply.get('returnMsg')}")
                self._token = reply["returnData"]["acceptToken"]
            return self._token


_ZJPX_TOKEN = _ZjpxToken()


ORIGIN_HEADER = "X-Harness-Origin"


@schemathesis.hook
def before_call(ctx: Any, case: Case, **kwargs: Any) -> None:
    """Every request is tagged as fuzz traffic (never graded by a certify role).

    ZJPX carries its token inside the body (headers.userToken): put a real one where the case has a string there,
    and log in with the real account.

    A negative case whose userToken is not a string (or missing) keeps its fault, so it is not repaired into a valid one.
    """
    case.headers[ORIGIN_HEADER] = "fuzz"
    if _platform(case) != "zjpx" or not isinstance(case.body, dict) or not os.environ.get("HARNESS_ZJPX_ACCOUNT"):
        return  # without an account the cases go out as generated (in-process tests bring their own token)
    data = case.body.get("data")
    if case.operation.path.endswith("/thlogin") and isinstance(data, dict):
        # Positive logins use the real account (the credentials are the data here); string fields only, as above.
        for key, env in (("studyPlatformAcount", "HARNESS_ZJPX_ACCOUNT"), ("passWord", "HARNESS_ZJPX_PASSWORD")):
            if isinstance(data.get(key), str) and os.environ.get(env):
                data[key] = os.environ[env]
        return
    headers = case.body.get("headers")
    if isinstance(headers, dict):
        for key in ("userToken", "user_token"):  # user_token: the tolerant profile's alias (D-ZJPX-TOKEN-HEADER)
            if isinstance(headers.get(key), str):
                headers[key] = _ZJPX_TOKEN.get(case.operation.schema.get_base_url())


@schemathesis.hook
def before_load_schema(ctx: Any, raw_schema: dict[str, Any]) -> None:
    """Fuzz what ``harness serve`` accepts by default: a spec with ``x-tolerant`` overrides is derived the way the
    server derives it (harness.specs), so a form a decision accepts (a digit string for a number, an unknown field) is
    generated as a valid case and never reported as "schema-violating request accepted". ``HARNESS_FUZZ_PROFILE=strict``
    fuzzes the file as written (for a server run with ``--profile strict``)."""
    from harness.specs import PROFILE_MARK, derive_served

    if raw_schema.get("x-platform") == "yxc" and "x-signing" in raw_schema:
        _require_signer()
    if os.environ.get("HARNESS_FUZZ_PROFILE", "tolerant") == "strict" or PROFILE_MARK in raw_schema:
        return  # the file as written, or a spec the harness already derived (its certify roles load their own)
    if "x-tolerant" not in json.dumps(raw_schema):
        return

    derive_served(raw_schema)
