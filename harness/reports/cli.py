"""``harness report``: commands on report bundles."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import NoReturn

import click
from cryptography import x509


@click.group()
def report() -> None:
    """Work with report bundles written by ``harness certify``."""


@report.command("verify")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--ca", "ca_file", type=click.Path(path_type=Path, dir_okay=False, exists=True), help="PEM of the CA to trust.")
@click.option("--db", type=click.Path(path_type=Path), default=None, help="Trust the test CA of this store.")
@click.option("--store", default=None, help="Trust the test CA of this store (a postgresql:// URL or a SQLite path).")
def verify(directory: Path, ca_file: Path | None, db: Path | None, store: str | None) -> None:
    """Check that a bundle is intact: exit 0, or 1 naming every changed, missing or extra file."""
    from harness.reports.bundle import verify_bundle

    trusted = None
    if ca_file is not None:
        try:
            trusted = x509.load_pem_x509_certificate(ca_file.read_bytes())
        except ValueError:
            _refuse(f"--ca {ca_file} holds no PEM certificate")
    elif (store or db) is not None:
        trusted = _store_ca(store or str(db))
    if not directory.is_dir():
        _refuse(f"{directory} is not a directory")
    result = verify_bundle(directory, trusted)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    if result.ok:
        click.echo(f"intact: {directory} (signed by {result.signer}; CA {result.ca})")
        summary = run_summary(directory)
        if summary:
            click.echo(f"  {summary}")
        return
    for problem in result.problems:
        click.echo(f"TAMPERED {problem}", err=True)
    for problem in result.untrusted:
        click.echo(f"UNTRUSTED {problem}", err=True)
    sys.exit(1)


def _refuse(message: str) -> NoReturn:
    click.echo(f"harness: {message}", err=True)
    sys.exit(2)


def _store_ca(where: str) -> x509.Certificate:
    """The test CA of an existing store, read without writing: verifying never creates a store or a CA."""
    from harness.store_pg import is_url

    if not is_url(where) and not Path(where).is_file():
        _refuse(f"no store at {where} (--db/--store names the store whose CA you trust)")
    from harness.schema import open_store

    st = open_store(where)
    try:
        row = st.query_one("SELECT cert_pem FROM pki_ca WHERE id = 1") if st._table_exists("pki_ca") else None
    finally:
        st.close()
    if row is None:
        _refuse(f"the store {where} has no test CA: it never signed a bundle")
    return x509.load_pem_x509_certificate(str(row["cert_pem"]).encode("ascii"))


def run_summary(directory: Path) -> str:
    """One line saying which run the bundle reports (from its report.json), so a reader can tell it is the run claimed."""
    try:
        report = json.loads((directory / "report.json").read_text(encoding="utf-8"))
        options = report.get("options") or {}
        parts = [
            f"role {report['role']}",
            f"verdict {report['verdict']}",
            f"target {report['target']}",
            f"session {options['session']}" if options.get("session") else "",
            f"finished {report['finished_at']}",
            "" if report.get("certification_valid") else "NOT VALID FOR CERTIFICATION",
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return ""
    return "run: " + ", ".join(p for p in parts if p)
