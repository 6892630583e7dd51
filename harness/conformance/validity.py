"""Whether a run against a vendor's server can count for certification.

A run is valid for certification only against an HTTPS target on a domain name (not an IP address, not localhost or
another name that only resolves privately) whose certificate chains to a trusted root, or to a CA bundle given
explicitly with ``--ca-bundle`` (the report notes which). Anything else (plain http, loopback, an IP, a self-signed
leaf) is a *development run*: the checks still run and report, and the exit code still follows the checks, but the
report says "development run, not valid for certification" with the reasons.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

# Names that never name a public service (RFC 6761, RFC 6762, RFC 2606).
PRIVATE_SUFFIXES = (".localhost", ".local", ".test", ".example", ".invalid", ".internal", ".lan", ".home.arpa")


@dataclass(frozen=True)
class Validity:
    valid: bool
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())  # e.g. "trusted through --ca-bundle F"

    def summary(self) -> str:
        if self.valid:
            return "valid for certification" + (f" ({'; '.join(self.notes)})" if self.notes else "")
        return "development run, not valid for certification: " + "; ".join(self.reasons)


def host_problem(host: str) -> str | None:
    """Why ``host`` is not a public domain name, or None when it is one."""
    name = host.strip("[]").rstrip(".").lower()
    if not name:
        return "no host"
    try:
        ipaddress.ip_address(name)
        return f"{host} is an IP address, not a domain name"
    except ValueError:
        pass
    if name == "localhost" or name.endswith(PRIVATE_SUFFIXES):
        return f"{host} is a local name, not a public domain name"
    if "." not in name:
        return f"{host} is a single-label name, not a public domain name"
    return None


def peer_chain_problem(host: str, port: int, ca_bundle: Path | str | None, timeout: float = 10.0) -> str | None:
    """Why the server's certificate does not chain to a trusted root (the system's, or ``ca_bundle``), or None.
    A self-signed leaf passed as its own ``--ca-bundle`` is still a self-signed leaf: it is refused here."""
    context = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, context.wrap_socket(raw, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
    except ssl.SSLCertVerificationError as exc:
        return f"the certificate does not chain to a trusted root: {exc.verify_message or exc}"
    except (OSError, ssl.SSLError) as exc:
        return f"TLS handshake failed: {exc}"
    if der and _self_signed(der):
        return "the server's certificate is a self-signed leaf, not issued by a certificate authority"
    return None


def _self_signed(der: bytes) -> bool:
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    return cert.issuer == cert.subject  # a server presenting a certificate issued by itself: no authority vouches for it


def target_validity(
    url: str, *, ca_bundle: Path | str | None = None, allow_insecure_http: bool = False, check_chain: bool = True
) -> Validity:
    """Judge ``url`` (the vendor's server) for certification validity; never raises for an unreachable target (the
    checks report that), only records why the run cannot count."""
    parts = urlsplit(url)
    reasons: list[str] = []
    notes: list[str] = []
    if parts.scheme != "https":
        reasons.append(
            f"the target is {parts.scheme or 'no'}://, not https://" + (" (--allow-insecure-http)" if allow_insecure_http else "")
        )
    problem = host_problem(parts.hostname or "")
    if problem:
        reasons.append(problem)
    if parts.scheme == "https" and check_chain and not problem:
        chain = peer_chain_problem(parts.hostname or "", parts.port or 443, ca_bundle)
        if chain:
            reasons.append(chain)
    if ca_bundle:
        notes.append(f"trusted through the given --ca-bundle {Path(ca_bundle).name}")
    return Validity(not reasons, tuple(reasons), tuple(notes))
