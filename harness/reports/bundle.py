"""The signed report bundle: ``manifest.json`` (SHA-256 of every file), ``manifest.sig`` and ``signer.pem``.

The harness signs with its own report-signing key (RSA), whose certificate the store's test CA issues
(``harness.pki.ca``); the key lives in the store and is created on first use. ``signer.pem`` holds the signing
certificate followed by the CA certificate. Verifying checks the signature over the exact bytes of
``manifest.json``, that the CA issued the signer, and every file: changed, missing and extra files are named.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from harness import __version__
from harness.pki import ca, issue_certificate, new_key, stored_identity
from harness.store import Store

MANIFEST, SIGNATURE, SIGNER = "manifest.json", "manifest.sig", "signer.pem"
UNSIGNED = frozenset({MANIFEST, SIGNATURE})  # at the top of the bundle; everything else in the directory is listed and hashed


def signing_identity(store: Store) -> tuple[rsa.RSAPrivateKey, x509.Certificate, x509.Certificate]:
    """The harness's report-signing key, its certificate and the issuing CA certificate; made on first use."""
    ca_key, ca_cert = ca(store)

    def create() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
        key = new_key()
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "harness test CA"),
                x509.NameAttribute(NameOID.COMMON_NAME, "harness report signing"),
            ]
        )
        usage = x509.KeyUsage(True, True, False, False, False, False, False, False, False)  # digitalSignature, contentCommitment
        return key, issue_certificate(subject, key.public_key(), ca_cert.subject, ca_key, days=3650, extensions=((usage, True),))

    key, cert = stored_identity(store, "report_signer", create)
    return key, cert, ca_cert


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(directory: Path) -> list[str]:
    # Only the top-level manifest and signature are unsigned: a sub/manifest.json is an extra file like any other.
    names = (p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())
    return sorted(name for name in names if name not in UNSIGNED)


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def sign_bundle(directory: Path, store: Store) -> Path:
    """Write signer.pem, then manifest.json over every file, then manifest.sig over manifest.json."""
    key, cert, ca_cert = signing_identity(store)
    (directory / SIGNER).write_bytes(cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(serialization.Encoding.PEM))
    manifest = {
        "format": "harness-bundle/1",
        "harness_version": __version__,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "algorithm": "sha256",
        "signature": "RSASSA-PKCS1-v1_5 with SHA-256 over the bytes of manifest.json, base64 in manifest.sig",
        "signer": {"subject": cert.subject.rfc4514_string(), "serial": format(cert.serial_number, "X"), "sha256": fingerprint(cert)},
        "files": {name: _sha256(directory / name) for name in _files(directory)},
    }
    data = (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    (directory / MANIFEST).write_bytes(data)
    signature = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    (directory / SIGNATURE).write_bytes(base64.b64encode(signature) + b"\n")
    return directory / MANIFEST


@dataclass
class Verification:
    problems: list[str] = field(default_factory=list)  # a changed, missing or extra file
    untrusted: list[str] = field(default_factory=list)  # intact as signed, but not by a CA the reader trusts
    notes: list[str] = field(default_factory=list)
    signer: str = ""
    ca: str = ""  # the CA checked against: its subject and SHA-256 fingerprint

    @property
    def ok(self) -> bool:
        return not self.problems and not self.untrusted


def verify_bundle(directory: Path, trusted_ca: x509.Certificate | None = None) -> Verification:
    """Check a bundle; every problem names the file concerned."""
    out = Verification()
    for name in (MANIFEST, SIGNATURE, SIGNER):
        if not (directory / name).is_file():
            out.problems.append(f"missing: {name} (the bundle is not signed)")
    if out.problems:
        return out
    data = (directory / MANIFEST).read_bytes()
    try:
        certs = x509.load_pem_x509_certificates((directory / SIGNER).read_bytes())
        signer_cert, issuer = certs[0], certs[-1]
        public_key = signer_cert.public_key()
        assert isinstance(public_key, rsa.RSAPublicKey)
        public_key.verify(base64.b64decode((directory / SIGNATURE).read_bytes(), validate=False), data, padding.PKCS1v15(), hashes.SHA256())
    except (ValueError, AssertionError, IndexError, InvalidSignature) as exc:
        out.problems.append(f"changed: {MANIFEST} or {SIGNATURE} (the signature does not verify: {type(exc).__name__})")
        return out
    out.signer = f"{signer_cert.subject.rfc4514_string()} (sha256 {fingerprint(signer_cert)})"
    anchor = trusted_ca or issuer
    out.ca = f"{anchor.subject.rfc4514_string()} (sha256 {fingerprint(anchor)})"
    try:
        signer_cert.verify_directly_issued_by(anchor)
    except (ValueError, TypeError, InvalidSignature):
        if trusted_ca is None:
            out.problems.append(f"changed: {SIGNER} (the signing certificate was not issued by the bundled CA)")
        else:
            # The files may be exactly as signed: what fails is who signed them (another store's key, or a forgery).
            out.untrusted.append(f"{SIGNER}: the signing certificate was not issued by the CA you trust, {out.ca}")
    if trusted_ca is None:
        out.notes.append("the CA was taken from the bundle itself; pass --ca or --db to check it against a CA you trust")
    try:
        manifest = json.loads(data)
        listed: dict[str, str] = manifest["files"]
    except (ValueError, KeyError, TypeError):
        out.problems.append(f"changed: {MANIFEST} (not a bundle manifest)")
        return out
    if listed.get(SIGNER) is None:
        out.problems.append(f"changed: {MANIFEST} ({SIGNER} is not listed)")
    present = set(_files(directory))
    for name, digest in sorted(listed.items()):
        if name not in present:
            out.problems.append(f"missing: {name}")
        elif _sha256(directory / name) != digest:
            out.problems.append(f"changed: {name} (sha256 differs from the manifest)")
    for name in sorted(present - set(listed)):
        out.problems.append(f"extra: {name} (not in the manifest)")
    if "report.json" in present:
        out.problems.extend(f"inconsistent: report.json ({why})" for why in report_inconsistencies(directory / "report.json"))
    return out


STATUSES = ("passed", "failed", "warning", "review", "skipped", "error")


def report_inconsistencies(path: Path) -> list[str]:
    """What in report.json contradicts itself: a verdict its MUST results do not give, totals its results do not add up
    to. The harness never writes such a report; a hand-edited (and re-signed) one is caught even without a trusted CA."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        checks, totals, verdict = report["checks"], report["totals"], report["verdict"]
        statuses = [c["status"] for c in checks]
        must_failed = sum(1 for c in checks if c["level"] == "MUST" and c["status"] in ("failed", "error"))
    except (OSError, ValueError, KeyError, TypeError):
        return ["not a report the harness writes"]
    found = []
    counted = {s: statuses.count(s) for s in STATUSES}
    for status in STATUSES:
        if totals.get(status, 0) != counted[status]:
            found.append(f"totals say {totals.get(status, 0)} {status}, the results hold {counted[status]}")
    if totals.get("mandatory_failed", 0) != must_failed:
        found.append(f"totals say {totals.get('mandatory_failed', 0)} MUST failed, the results hold {must_failed}")
    if verdict == "passed" and must_failed:
        found.append(f"verdict passed, but {must_failed} MUST check(s) failed")
    if verdict == "failed" and not must_failed:
        found.append("verdict failed, but no MUST check failed")
    return found
