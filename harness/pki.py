"""The harness's own test CA and vendor enrolment (``harness vendor add``).

The CA key lives in the store, so ``--db`` decides which CA (and which vendors) a command sees. It is a *test*
CA: its certificates mean "enrolled with this harness", nothing more.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from harness import sealing
from harness.errors import EnrolmentError
from harness.signing import cert_serial_hex
from harness.store import Schema, Step, Store

SCHEMA = Schema(
    "pki",
    [
        Step(
            1,
            [
                """CREATE TABLE IF NOT EXISTS vendors (
                platform TEXT NOT NULL, user TEXT NOT NULL, platnum TEXT NOT NULL, name TEXT,
                cert_pem TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (platform, user))""",
            ],
        ),
        # Keys the harness keeps for itself: 'masking' keys the hashes that stand for secrets (harness.masking).
        Step(2, ["CREATE TABLE IF NOT EXISTS harness_keys (name TEXT PRIMARY KEY, key BLOB NOT NULL, created_at TEXT NOT NULL)"]),
    ],
)

KEY_BITS = 2048


@dataclass(frozen=True)
class Vendor:
    platform: str
    user: str
    platnum: str
    name: str | None
    cert_pem: str

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        key = x509.load_pem_x509_certificate(self.cert_pem.encode()).public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        return key


@dataclass(frozen=True)
class Enrolment:
    vendor: Vendor
    files: dict[str, Path]
    p12_password: str


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(common_name: str, org: str = "harness test CA") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def issue_certificate(
    subject: x509.Name,
    public_key: rsa.RSAPublicKey,
    issuer: x509.Name,
    signing_key: rsa.RSAPrivateKey,
    *,
    days: int,
    is_ca: bool = False,
    extensions: tuple[tuple[x509.ExtensionType, bool], ...] = (),
) -> x509.Certificate:
    """A certificate valid from yesterday for ``days``, signed with SHA-256."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(days=1))
        .not_valid_after(_now() + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=0 if is_ca else None), critical=True)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(signing_key, hashes.SHA256())


def stored_identity(
    store: Store, table: str, create: Callable[[], tuple[rsa.RSAPrivateKey, x509.Certificate]]
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A key and certificate kept in a one-row table of the store, made by ``create`` on first use; the private key is
    sealed at rest (harness.sealing), never kept in clear."""
    store.execute(
        f"CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY CHECK (id = 1), key_pem TEXT NOT NULL, cert_pem TEXT NOT NULL)"
    )
    row = store.query_one(f"SELECT key_pem, cert_pem FROM {table} WHERE id = 1")
    if row is None:
        key, cert = create()
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        # ON CONFLICT DO NOTHING: when two processes race, the first identity wins and both read it back.
        store.execute(
            f"INSERT INTO {table} (id, key_pem, cert_pem) VALUES (1, ?, ?) ON CONFLICT DO NOTHING",
            (sealing.seal(store, key_pem, f"pki:{table}"), cert.public_bytes(serialization.Encoding.PEM).decode()),
        )
        row = store.query_one(f"SELECT key_pem, cert_pem FROM {table} WHERE id = 1")
    assert row is not None
    stored = row["key_pem"]
    if sealing.is_sealed(stored):
        pem = sealing.unseal(store, stored, f"pki:{table}")
    else:  # kept in clear by an older version: sealed now, so that the store converges
        pem = str(stored).encode()
        store.execute(f"UPDATE {table} SET key_pem = ? WHERE id = 1", (sealing.seal(store, pem, f"pki:{table}"),))
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key, x509.load_pem_x509_certificate(row["cert_pem"].encode())


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)


def ca(store: Store) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """The store's test CA, created on first use."""

    def create() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
        key = new_key()
        name = _name("harness test CA — not for production")
        return key, issue_certificate(name, key.public_key(), name, key, days=3650, is_ca=True)

    return stored_identity(store, "pki_ca", create)


def enrol(store: Store, platform: str, platnum: str, out_dir: Path, name: str | None = None, p12_password: str = "harness") -> Enrolment:
    """Make a key pair and a CA-signed certificate for a vendor, register it, and write PEM and PKCS#12 files."""
    if not platnum or len(platnum) != 5:
        raise EnrolmentError(f"platnum must be exactly 5 characters (000 附件四 表A.8 #6 F5), not {platnum!r}")
    existing = store.query_one("SELECT user FROM vendors WHERE platform = ? AND platnum = ?", (platform, platnum))
    if existing is not None:
        raise EnrolmentError(f"{platform} platform number {platnum} is already enrolled (user {existing['user']}): `harness vendor list`")
    stem = f"{platform}-{platnum}"
    files = {
        "key": out_dir / f"{stem}.key.pem",
        "cert": out_dir / f"{stem}.cert.pem",
        "p12": out_dir / f"{stem}.p12",
        "ca": out_dir / "harness-ca.pem",
    }
    ca_key, ca_cert = ca(store)
    key = new_key()
    cert = issue_certificate(_name(f"{platform}:{platnum}", org=name or platnum), key.public_key(), ca_cert.subject, ca_key, days=825)
    user = cert_serial_hex(cert)
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    written: list[Path] = []
    try:  # one transaction: the vendor is registered only if every file was written, and no file outlives a failure
        with store.transaction() as conn:
            conn.execute(
                "INSERT INTO vendors (platform, user, platnum, name, cert_pem, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (platform, user, platnum, name, cert_pem.decode(), _now().isoformat()),
            )
            out_dir.mkdir(parents=True, exist_ok=True)
            key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            p12 = pkcs12.serialize_key_and_certificates(
                stem.encode(), key, cert, [ca_cert], serialization.BestAvailableEncryption(p12_password.encode())
            )
            for label, data in (
                ("key", key_pem),
                ("cert", cert_pem),
                ("ca", ca_cert.public_bytes(serialization.Encoding.PEM)),
                ("p12", p12),
            ):
                _write_private(files[label], data) if label in ("key", "p12") else files[label].write_bytes(data)
                written.append(files[label])
    except OSError as exc:
        for path in written:
            if path.name != "harness-ca.pem":
                path.unlink(missing_ok=True)
        raise EnrolmentError(f"cannot write the vendor's files in {out_dir}: {exc.strerror or exc}") from None
    return Enrolment(Vendor(platform, user, platnum, name, cert_pem.decode()), files, p12_password)


def _write_private(path: Path, data: bytes) -> None:
    """Write a private key file readable by its owner only, from the first byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    path.chmod(0o600)


def find_vendor(store: Store, platform: str, user: str, case_insensitive: bool = False) -> Vendor | None:
    """The enrolled vendor whose `user` (certificate serial, uppercase hex) this is.

    ``case_insensitive`` also takes the serial as `openssl x509 -serial` prints it: leading zeros (an even number of
    hex digits) name the same number."""
    if case_insensitive and len(user) > 1:
        user = user.lstrip("0") or "0"
    sql = "SELECT platform, user, platnum, name, cert_pem FROM vendors WHERE platform = ? AND "
    sql += "upper(user) = upper(?)" if case_insensitive else "user = ?"
    row = store.query_one(sql, (platform, user))
    return Vendor(**dict(row)) if row else None


def list_vendors(store: Store, platform: str | None = None) -> list[Vendor]:
    sql = "SELECT platform, user, platnum, name, cert_pem FROM vendors"
    rows = (
        store.query(sql + " WHERE platform = ? ORDER BY created_at", (platform,)) if platform else store.query(sql + " ORDER BY created_at")
    )
    return [Vendor(**dict(r)) for r in rows]
