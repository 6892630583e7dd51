"""A defective offline emergency-code verifier for the ymt-emergency-verifier defect table
(examples/defects/ymt-emergency-verifier.yaml): ``python emergency_verifier_double.py MODE FILE``.

Each mode is the conforming verifier (harness.ymt.verify_emergency) with one step of D-YMT-EMERGENCY left out: the stage
it names is treated as a pass instead of a refusal (a fail-open verifier)."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import cbor2
from cryptography import x509

from harness.ymt import crypto
from harness.ymt.scanner import verify_offline, verify_trust_list
from harness.ymt.verify_emergency import read_case

# mode -> the failure reasons (crypto.EmergencyCodeError.reason) the defective verifier lets through
MODES: dict[str, frozenset[str]] = {
    "accept-everything": frozenset(),  # answered by a plain `sh -c 'exit 0'` in the test
    "reject-everything": frozenset(),  # answered by a plain `sh -c 'exit 1'` in the test
    "ignores-expiry": frozenset({"expired"}),
    "ignores-issue-time": frozenset({"not-yet-valid"}),
    "ignores-unknown-kid": frozenset({"unknown-kid"}),
    "skips-signature": frozenset({"bad-signature"}),
    "no-leeway": frozenset(),  # iat compared without the 60 s leeway
    "expiry-off-by-one": frozenset(),  # a code accepted at its expiry second (clock <= exp)
    "ignores-trust-list": frozenset(),  # the trust list's keys taken as they are: no anchor signature, no expiry
    "ignores-emergency-flag": frozenset(),  # claims read without the em flag
    "wide-leeway": frozenset(),  # iat compared with 300 s of leeway instead of 60 s
    "ignores-kid-mismatch": frozenset(),  # the trust list's signature and expiry checked, each kid not against its certificate
}


def _unverified(document: dict) -> crypto.TrustList:
    body = document["trustList"]
    keys = {}
    for entry in body["keys"]:
        der = base64.b64decode(entry["certificate"])
        kid = base64.b64decode(entry["kid"])
        keys[kid] = crypto.TrustedKey(kid, str(entry["issuer"]), x509.load_der_x509_certificate(der))
    return crypto.TrustList(int(body["version"]), int(body["issuedAt"]), int(body["expiresAt"]), keys)


def main(mode: str, file: str) -> int:
    code, trust, anchor, clock = read_case(Path(file))
    try:
        if mode == "no-leeway":
            crypto.verify_emergency(code, verify_trust_list(trust, anchor, clock), clock, leeway=0)
        elif mode == "wide-leeway":
            crypto.verify_emergency(code, verify_trust_list(trust, anchor, clock), clock, leeway=300)
        elif mode == "ignores-trust-list":
            crypto.verify_emergency(code, _unverified(trust), clock)
        elif mode == "ignores-kid-mismatch":
            try:
                listed = verify_trust_list(trust, anchor, clock)
            except crypto.BadTrustList as exc:  # the anchor's signature held (it is checked first): only the kid failed
                if "kid does not match" not in str(exc) or int(trust["trustList"]["expiresAt"]) <= clock.timestamp():
                    raise
                listed = _unverified(trust)
            crypto.verify_emergency(code, listed, clock)
        elif mode == "ignores-emergency-flag":
            try:
                crypto.verify_emergency(code, verify_trust_list(trust, anchor, clock), clock)
            except crypto.BadClaims:  # raised after the signature verified: only the claims are judged here
                payload = crypto._decode_structure(code)[3]
                private = cbor2.loads(payload).get(-70001)
                if not isinstance(private, dict) or private.get("em") is not False:
                    raise
                print("accepted (em not read)")
                return 0
        else:
            verify_offline(code, trust, anchor, clock)
    except crypto.EmergencyCodeError as exc:
        at_expiry = isinstance(exc, crypto.Expired) and crypto.decode_emergency_unverified(code)["claims"]["exp"] == int(clock.timestamp())
        if mode == "expiry-off-by-one" and at_expiry:
            print("accepted (expiry-off-by-one)")
            return 0
        if exc.reason in MODES[mode]:
            print(f"accepted ({mode}: {exc.reason} ignored)")
            return 0
        print(f"refused: {exc.reason}", file=sys.stderr)
        return 1
    print("accepted")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
