"""``python -m harness.ymt.verify_emergency FILE``: verify one emergency code offline, as a scene's scanner does.

FILE is the JSON document ``harness certify ymt-emergency-verifier`` hands a vendor's verifier (docs/ymt.md, "Certify
role ymt-emergency-verifier")::

    {"code": "YMT1:…", "trustList": {"trustList": {…}, "signature": "…"}, "trustAnchor": "-----BEGIN PUBLIC KEY-----…",
     "validationClock": "2025-12-01T09:00:00Z", "validationClockEpoch": 1764579600}

It verifies the trust list against the anchor, then the code (prefix, base45, zlib, COSE_Sign1 ES256, kid in the trust
list, signature, iat − 60 s ≤ clock < exp; 001 §3 应急码, D-YMT-EMERGENCY) at the validation clock. Exit 0 and
``accepted …`` when the code verifies; exit 1 and ``refused: <stage>: <why>`` when it does not; exit 2 when FILE cannot
be read. It prints no personal value (the code carries only masked ones anyway). It is the conforming verifier of the
role, and a reference a vendor can compare its own against.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from harness.ymt import crypto
from harness.ymt.scanner import ScannerError, verify_offline

ACCEPTED, REFUSED, UNREADABLE = 0, 1, 2


def read_case(path: Path) -> tuple[str, dict[str, Any], str, dt.datetime]:
    """(code, trust list document, anchor PEM, validation clock) of a verifier file; ValueError when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable JSON file ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a JSON object")
    code, trust, anchor, epoch = data.get("code"), data.get("trustList"), data.get("trustAnchor"), data.get("validationClockEpoch")
    if not isinstance(code, str) or not isinstance(trust, dict) or not isinstance(anchor, str):
        raise ValueError(f"{path}: needs code (string), trustList (object) and trustAnchor (PEM string)")
    if isinstance(epoch, bool) or not isinstance(epoch, int):
        raise ValueError(f"{path}: needs validationClockEpoch (integer seconds)")
    return code, trust, anchor, dt.datetime.fromtimestamp(epoch, dt.UTC)


def verify_file(path: Path) -> tuple[int, str]:
    """(exit code, the line to print) for one verifier file."""
    try:
        code, trust, anchor, clock = read_case(path)
    except ValueError as exc:
        return UNREADABLE, f"unreadable: {exc}"
    try:
        result = verify_offline(code, trust, anchor, clock)
    except crypto.EmergencyCodeError as exc:
        return REFUSED, f"refused: {exc.reason}: {exc}"
    except ScannerError as exc:
        return REFUSED, f"refused: bad-trust-anchor: {exc}"
    expires = dt.datetime.fromtimestamp(result.claims.expires_at, dt.UTC).isoformat(timespec="seconds")
    return ACCEPTED, f"accepted: issuer {result.issuer}, kid {result.kid.hex()}, valid until {expires}"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: python -m harness.ymt.verify_emergency FILE", file=sys.stderr)
        return UNREADABLE
    status, line = verify_file(Path(args[0]))
    print(line, file=sys.stdout if status == ACCEPTED else sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
