"""Certify role ``ymt-emergency-verifier --command 'CMD {file}'``: a vendor's offline emergency-code verifier.

001 §3 defines the emergency code (应急码) as the code usable offline when the platform is down, and §7.2.2 has the
app offer it then; D-YMT-EMERGENCY fixes its form and how a scanner verifies it offline against a trust list fetched
ahead of time. A scene system whose scanner says it verifies emergency codes is graded here: the role hands the
vendor's command every emergency-code vector of fixtures/ymt/vectors.json (the valid code and each case of the negative
catalogue: bad prefix, base45, zlib, signature, unknown kid, clock before issue, clock after expiry), the valid code
at the edges of its validity (its last second; 60 s before issue, the leeway), and cases built from the fixtures' keys
(a trust list altered, expired or with a kid not matching its certificate, a code with em false, a clock an hour
early), one file each, and grades each answer by its exit code (0 = accepted, anything else = refused). The leeway and
its bound are SHOULD (refusing inside it only hurts a scanner whose clock runs behind; accepting 61 s early is a looser
clock, not a forgery), and so is the kid check of the trust list (the anchor's signature still vouches for the list);
everything else a MUST. A verifier that accepts no valid code fails YMT-EV-VALID, and its refusals are skipped (they prove nothing then).

Offering the emergency code is optional for a scene (001 §7.2.2 可, hence SHOULD in ymt-scene-client); a verifier that
is offered, though, is worth nothing unless it accepts the valid code and refuses every forged or stale one, so those
checks are MUST here (D-YMT-EMERGENCY is the design the offline code cannot work without). The catalogue says the
same: the scene-level entries YMT-EMERGENCY-VERIFY / -REFUSE stay SHOULD (whether a scene verifies offline at all),
and the verifier's own entries YMT-EMERGENCY-VERIFIER-ACCEPT / -REFUSE are MUST, -LEEWAY and -TRUST-LIST-KID SHOULD.

The command is split like a shell would (no shell runs it); ``{file}`` becomes a JSON file
``{"code", "trustList", "trustAnchor", "validationClock", "validationClockEpoch"}`` (docs/ymt.md). The conforming
verifier is ``python -m harness.ymt.verify_emergency {file}``.
"""

from __future__ import annotations

import json
import os
import shlex
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fixtures.ymt
from harness.conformance import commands
from harness.conformance.commands import Graded, Outcome
from harness.conformance.engine import CheckSet, review, skipped
from harness.conformance.model import Event
from harness.conformance.roles import CommonOptions, RoleOption, run_checks
from harness.errors import ConfigError
from harness.schema import open_store
from harness.store import Store

PLACEHOLDER = "{file}"
TIMEOUT = 30.0  # seconds per vector
SPEC_FILES = ("ymt/requirements.yaml", "decisions.yaml")
CLAUSE = "001 §3 应急码 (可离线使用); §7.2.2; D-YMT-EMERGENCY"
VECTORS = Path(fixtures.ymt.__file__).resolve().parent / "vectors.json"
LEEWAY = 60  # seconds a clock may run behind the issuer's (D-YMT-EMERGENCY iat − 60 s ≤ clock)

# vector name -> the check that judges it (the negative catalogue's families)
FAMILY = {
    "valid": "YMT-EV-VALID",
    "bad-prefix": "YMT-EV-PREFIX",
    "bad-base45": "YMT-EV-BASE45",
    "bad-zlib": "YMT-EV-ZLIB",
    "bad-signature": "YMT-EV-SIGNATURE",
    "unknown-kid": "YMT-EV-KID",
    "clock-before-issue": "YMT-EV-LEEWAY-BOUND",  # 61 s before issue: just beyond the design's 60 s leeway
    "clock-after-expiry": "YMT-EV-EXPIRED",
    # derived here from the fixtures' throwaway keys (fixtures/ymt/generate.py): what vectors.json's one trust list and
    # its cases cannot show
    "clock-hour-before-issue": "YMT-EV-NOT-YET-VALID",
    "trust-list-forged": "YMT-EV-TRUST-LIST",
    "trust-list-expired": "YMT-EV-TRUST-LIST",
    "not-emergency": "YMT-EV-CLAIMS",
    "trust-list-kid-mismatch": "YMT-EV-TRUST-LIST-KID",
    # the valid code at the edges of its validity (derived here: the same code, another clock)
    "valid-last-second": "YMT-EV-VALID",
    "valid-inside-leeway": "YMT-EV-LEEWAY",
    # a fresh code of the harness's own platform (its store's issuer key and trust list), when it has one
    "platform-code": "YMT-EV-VALID",
}

CHECKS = CheckSet()


@dataclass(frozen=True)
class Vector:
    name: str
    what: str
    expect: str  # "accept" | "reject"
    failure: str | None  # the stage a conforming verifier names (the vectors' EXPECTEDFAILURE)
    document: dict[str, Any]  # what the verifier's file holds

    @property
    def check(self) -> str:
        return FAMILY[self.name]


def load_vectors(path: Path = VECTORS) -> list[Vector]:
    """Every emergency-code vector, each as the file its verifier reads."""
    data = json.loads(path.read_text(encoding="utf-8"))["emergency"]
    out = []
    for case in data["cases"]:
        clock = case["TESTCTX"]["VALIDATIONCLOCK"]
        epoch = int(datetime.strptime(clock, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())
        document = {
            "code": case["PREFIX"],
            "trustList": data["trust_list"],
            "trustAnchor": data["trust_anchor_public_pem"],
            "validationClock": clock,
            "validationClockEpoch": epoch,
        }
        failure = case["EXPECTEDFAILURE"]
        out.append(Vector(case["NAME"], case["TESTCTX"]["DESCRIPTION"], "reject" if failure else "accept", failure, document))
        if case["NAME"] == "valid":
            claims = case["JSON"]
            edges = (
                ("valid-last-second", "the valid code one second before its expiry (clock < exp)", claims["exp"] - 1),
                (
                    "valid-inside-leeway",
                    f"the valid code {LEEWAY} s before its issue time (iat − {LEEWAY} s ≤ clock)",
                    claims["iat"] - LEEWAY,
                ),
            )
            for name, what, at in edges:
                out.append(Vector(name, what, "accept", None, document | _clock(at)))
            out += _derived(case, document)
    return out


def _clock(at: int) -> dict[str, Any]:
    return {"validationClock": datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "validationClockEpoch": at}


def _derived(valid: dict[str, Any], document: dict[str, Any]) -> list[Vector]:
    """Cases the fixture's single trust list cannot carry, built from the fixtures' throwaway keys (deterministic
    signatures, so every run hands the verifier the same files): the trust list altered after signing, a trust list
    validly signed but expired, one validly signed whose kid is not the hash of the certificate beside it, a validly
    signed code that is not an emergency code (``em`` false), and a clock an hour before issue (well beyond any clock
    skew)."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    from fixtures.ymt import generate
    from harness.ymt import crypto

    k = generate.keys()
    claims = valid["JSON"]
    forged = json.loads(json.dumps(document["trustList"]))
    forged["trustList"]["version"] = int(forged["trustList"]["version"]) + 1  # the signature no longer covers it
    expired = crypto.make_trust_list(
        [(generate.ISSUER, k["issuer_cert"])],
        k["anchor"],
        version=1,
        issued_at=claims["iat"] - 2 * 86400,
        expires_at=claims["iat"] - 86400,
        deterministic=True,
    )
    # signed by the anchor, but its one key names the code's kid beside a certificate of the same issuer key whose
    # SHA-256 is not that kid (a list made wrong, or a certificate swapped before signing)
    reissued = generate._certificate(k["issuer"], generate.ISSUER + "-REISSUED").public_bytes(serialization.Encoding.DER)
    own_kid = crypto.kid_for_certificate(k["issuer_cert"].public_bytes(serialization.Encoding.DER))
    body = {
        "version": 1,
        "issuedAt": claims["iat"] - 86400,
        "expiresAt": claims["iat"] + 30 * 86400,
        "keys": [
            {
                "kid": base64.b64encode(own_kid).decode("ascii"),
                "issuer": generate.ISSUER,
                "certificate": base64.b64encode(reissued).decode("ascii"),
            }
        ],
    }
    r, s_ = decode_dss_signature(k["anchor"].sign(crypto._canonical(body), crypto._ecdsa(True)))
    mismatched = {"trustList": body, "signature": base64.b64encode(r.to_bytes(32, "big") + s_.to_bytes(32, "big")).decode("ascii")}
    plain = crypto.EmergencyClaims(generate.ISSUER, claims["iat"], claims["exp"], "**丰", "1**************X", (), emergency=False)
    not_emergency = crypto.make_emergency(plain, k["issuer"], k["issuer_cert"], deterministic=True)
    return [
        Vector(
            "clock-hour-before-issue",
            "validation clock an hour before issue (beyond any clock skew)",
            "reject",
            "not-yet-valid",
            document | _clock(claims["iat"] - 3600),
        ),
        Vector(
            "trust-list-forged",
            "the trust list's version changed after the anchor signed it",
            "reject",
            "bad-trust-list",
            document | {"trustList": forged},
        ),
        Vector(
            "trust-list-expired",
            "a trust list validly signed by the anchor that expired the day before the clock",
            "reject",
            "bad-trust-list",
            document | {"trustList": expired},
        ),
        Vector(
            "trust-list-kid-mismatch",
            "a trust list signed by the anchor whose kid is not the SHA-256 of the certificate beside it",
            "reject",
            "bad-trust-list",
            document | {"trustList": mismatched},
        ),
        Vector(
            "not-emergency",
            "a code validly signed by a trusted issuer whose claims say it is no emergency code (em false)",
            "reject",
            "bad-claims",
            document | {"code": not_emergency},
        ),
    ]


def from_store(store: Store) -> Vector | None:
    """A fresh emergency code of the store's own YMT platform, for a synthetic person, with the platform's trust list and
    anchor at the clock of now; None when the platform has made no keys yet (none are made here)."""
    from harness.ymt import admin, crypto

    names = {r["name"] for r in store.query("SELECT name FROM ymt_keys")}
    if not {"issuer", "certificate", "anchor", "code"} <= names:
        return None
    keys = admin.platform_keys(store)
    moment = datetime.now(UTC).replace(microsecond=0)
    claims = crypto.emergency_claims(admin.ISSUER, "测试", "11010519491231002X", [], moment - timedelta(minutes=5))
    document = {
        "code": crypto.make_emergency(claims, keys.issuer, keys.certificate),
        "trustList": admin.trust_list(store, moment.timestamp() - 3600),
        "trustAnchor": keys.anchor_pem,
        "validationClock": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "validationClockEpoch": int(moment.timestamp()),
    }
    return Vector("platform-code", "a fresh code of this harness's platform (its issuer key and trust list)", "accept", None, document)


def _argv(template: str, file: Path) -> list[str]:
    return [token.replace(PLACEHOLDER, str(file)) for token in shlex.split(template)]


def _run_one(template: str, vector: Vector, directory: Path, timeout: float) -> Outcome:
    file = directory / f"{vector.name}.json"
    file.write_text(json.dumps(vector.document, ensure_ascii=False, indent=1), encoding="utf-8")
    exit_code, output = commands.run(_argv(template, file.absolute()), timeout=timeout, env=os.environ, cwd=Path.cwd())
    expected = "accept" if vector.expect == "accept" else f"refuse ({vector.failure})"
    return Outcome(vector, exit_code, output, "vector", expected, f" (clock {vector.document['validationClock']})")


def grade(template: str, directory: Path, *, timeout: float = TIMEOUT, vectors: list[Vector] | None = None) -> Graded:
    """Write each vector's file under ``directory`` and run the command over it (a few at a time)."""
    chosen = load_vectors() if vectors is None else vectors
    return Graded(template, commands.run_each(chosen, lambda v: _run_one(template, v, directory, timeout)), "YMT-EV-VALID")


def _family(check_id: str, title: str, doing: str, requirement: str = "YMT-EMERGENCY-VERIFIER-REFUSE") -> None:
    @CHECKS.check(check_id, title=title, clause=CLAUSE, requirements=(requirement,), level="MUST")
    def judge(graded: Graded) -> Any:
        return commands.judge(graded, check_id, doing)

    judge.__name__ = check_id.lower().replace("-", "_")


_family(
    "YMT-EV-VALID",
    "a valid emergency code is accepted at a clock inside its validity, its last second included",
    "refused (a valid code)",
    "YMT-EMERGENCY-VERIFIER-ACCEPT",
)
_family("YMT-EV-PREFIX", "a code without the YMT1: prefix is refused", "accepted (another prefix)")
_family("YMT-EV-BASE45", "a code whose text is not base45 is refused", "accepted (not base45)")
_family("YMT-EV-ZLIB", "a code whose payload is not zlib data is refused", "accepted (not zlib)")
_family("YMT-EV-SIGNATURE", "a code whose COSE_Sign1 signature does not verify is refused", "accepted (a broken signature)")
_family("YMT-EV-KID", "a code signed by a key whose kid is not in the trust list is refused", "accepted (an untrusted issuer)")
_family("YMT-EV-NOT-YET-VALID", "a code an hour before its issue time is refused", "accepted (not yet valid)")
_family("YMT-EV-EXPIRED", "a code at or after its expiry is refused", "accepted (expired)")
_family(
    "YMT-EV-TRUST-LIST",
    "a trust list altered after the anchor signed it, or expired, is refused (and every code it would vouch for)",
    "accepted (an unverified trust list)",
)
_family("YMT-EV-CLAIMS", "a validly signed code that is not an emergency code (em false) is refused", "accepted (em false)")


@CHECKS.check(
    "YMT-EV-LEEWAY-BOUND",
    title="a code more than 60 s before its issue time is refused (the design's leeway: a wider one is a WARNING)",
    clause=f"{CLAUSE} (iat − 60 s ≤ clock)",
    requirements=("YMT-EMERGENCY-VERIFIER-LEEWAY",),
    level="SHOULD",
)
def refuses_beyond_leeway(graded: Graded) -> Any:
    return commands.advise(
        graded,
        "YMT-EV-LEEWAY-BOUND",
        decision="D-YMT-EMERGENCY",
        check=CHECKS.get("YMT-EV-LEEWAY-BOUND"),
        none="no vector just beyond the leeway",
        wrong=f"a code {LEEWAY + 1} s before its issue time was accepted: the verifier allows more clock skew than the design's "
        f"{LEEWAY} s (codes an hour early are judged by YMT-EV-NOT-YET-VALID)",
        right=f"the code {LEEWAY + 1} s before its issue time refused",
    )


@CHECKS.check(
    "YMT-EV-LEEWAY",
    title="a valid code is accepted up to 60 s before its issue time (a scanner's clock running behind the issuer's)",
    clause=f"{CLAUSE} (iat − 60 s ≤ clock)",
    requirements=("YMT-EMERGENCY-VERIFIER-LEEWAY",),
    level="SHOULD",
)
def accepts_within_leeway(graded: Graded) -> Any:
    wrong = (
        f"a valid code was refused {LEEWAY} s before its issue time: the verifier allows no clock skew, so a scanner whose "
        "clock runs a little behind refuses fresh codes"
    )
    missed = [o for o in graded.of("YMT-EV-LEEWAY") if not o.right]
    if missed and all(o.exit_code is None for o in missed):  # no answer is a refusal, but says nothing of the clock
        wrong = (
            f"the valid code {LEEWAY} s before its issue time got no answer in time, which counts as a refusal: whether the "
            "verifier allows clock skew is not known (a slow verifier; see the evidence)"
        )
    return commands.advise(
        graded,
        "YMT-EV-LEEWAY",
        decision="D-YMT-EMERGENCY",
        check=CHECKS.get("YMT-EV-LEEWAY"),
        none="no vector inside the leeway",
        wrong=wrong,
        right=f"the valid code accepted {LEEWAY} s before its issue time",
        needs_valid=False,
    )


@CHECKS.check(
    "YMT-EV-TRUST-LIST-KID",
    title="a trust list whose kid is not the SHA-256 of its certificate is refused (the design's list check; else a WARNING)",
    clause=f"{CLAUSE} (kid = SHA-256(certificate)[:8])",
    requirements=("YMT-EMERGENCY-VERIFIER-TRUST-LIST-KID",),
    level="SHOULD",
)
def refuses_kid_mismatch(graded: Graded) -> Any:
    return commands.advise(
        graded,
        "YMT-EV-TRUST-LIST-KID",
        decision="D-YMT-EMERGENCY",
        check=CHECKS.get("YMT-EV-TRUST-LIST-KID"),
        none="no trust list with a mismatched kid",
        wrong="a trust list whose kid does not match its certificate was used: the verifier does not check each kid against "
        "its certificate (the anchor's signature still vouches for the list, so this is a consistency check, not a forgery)",
        right="the trust list whose kid does not match its certificate refused",
    )


@CHECKS.check(
    "YMT-EV-REASONS",
    title="what the verifier says when it refuses (a person judges whether it names the failed stage)",
    clause=CLAUSE,
    requirements=("YMT-EMERGENCY-VERIFIER-REFUSE",),
    level="REVIEW",
)
def refusal_reasons(graded: Graded) -> Any:
    refused = [o for o in graded.outcomes if o.case.expect == "reject" and not o.accepted and o.output != "(no output)"]
    if not refused:
        return skipped("the verifier printed no reason for any refusal: nothing to read")
    return review(
        f"{len(refused)} refusal(s) with output: does each name the failed stage (prefix, base45, zlib, signature, kid, clock)?",
        *(o.evidence() for o in refused),
    )


class EmergencyVerifierRole:
    """``harness certify ymt-emergency-verifier --command …``: the checks, as conformance-engine events."""

    name = "ymt-emergency-verifier"
    platform = "ymt"
    summary = "Grade a vendor's offline emergency-code verifier over the valid code and every negative vector."
    description = (
        "Run the vendor's verifier command over the YMT emergency-code vectors: the valid code and each case of the negative "
        "catalogue (bad prefix, base45, zlib, signature, unknown kid, clock before issue, clock after expiry); exit code 0 "
        "means accepted. Placeholder: {file}, a JSON file {code, trustList, trustAnchor, validationClock, "
        "validationClockEpoch} (docs/ymt.md). Conforming: 'python -m harness.ymt.verify_emergency {file}'."
    )
    options = (
        RoleOption("command", "The verifier command, e.g. 'myverify {file}' (exit 0 = accepted).", required=True),
        RoleOption("timeout", "Seconds allowed per vector.", default=int(TIMEOUT), type=int),
    )
    checks = CHECKS

    def __init__(self, command: str, *, timeout: float = TIMEOUT, extra: tuple[Vector, ...] = ()) -> None:
        tokens = commands.split(
            command, (PLACEHOLDER,), "--command must name {file} (the JSON file of one emergency code, its trust list and clock)"
        )
        if PLACEHOLDER in tokens[0]:
            raise ConfigError("--command must start with the verifier program, not {file}")
        self.command = command  # as the vendor gave it (the report shows it)
        self.runnable = shlex.join(commands.startable(tokens))  # the program made absolute: the vectors run elsewhere
        self.timeout = timeout
        self.extra = extra  # more vectors (the harness's own platform code)

    def run(self, seed: int) -> Iterator[Event]:
        with tempfile.TemporaryDirectory(prefix="ymt-emergency-vectors-") as tmp:
            graded = grade(self.runnable, Path(tmp), timeout=self.timeout, vectors=[*load_vectors(), *self.extra])
        graded.command = self.command
        options = {"command": self.command, "timeout": self.timeout, "vectors": len(graded.outcomes)}
        yield from run_checks(self, target=f"command: {self.command}", context=graded, seed=seed, options=options, spec_files=SPEC_FILES)


class EmergencyVerifierRoleCommand(EmergencyVerifierRole):
    """The role as ``harness certify ymt-emergency-verifier`` builds it (harness/conformance/roles.py)."""

    def __init__(self, common: CommonOptions, command: str, timeout: int = int(TIMEOUT)) -> None:
        if timeout <= 0:
            raise ConfigError("--timeout must be positive")
        store = open_store(common.db)  # the harness's store: a fresh code of its own platform joins the valid vectors
        try:
            own = from_store(store)
        finally:
            store.close()
        super().__init__(command, timeout=float(timeout), extra=(own,) if own is not None else ())
        self.probe()

    def probe(self) -> None:
        """Run the command once over the valid vector: one that cannot run at all (exit 126 or 127, or not started)
        is refused here, before any report (one line, exit 2)."""
        with tempfile.TemporaryDirectory(prefix="ymt-emergency-probe-") as tmp:
            valid = [v for v in load_vectors() if v.name == "valid"]
            graded = grade(self.runnable, Path(tmp), timeout=self.timeout, vectors=valid)
        graded.command = self.command
        if graded.cannot_run:
            raise ConfigError(graded.cannot_run)
