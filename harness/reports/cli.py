"""``harness report``: commands on report bundles."""

from __future__ import annotations

import sys
from pathlib import Path

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
        trusted = x509.load_pem_x509_certificate(ca_file.read_bytes())
    elif (store or db) is not None:
        from harness.pki import ca
        from harness.schema import open_store

        trusted = ca(open_store(store or db))[1]  # type: ignore[arg-type]
    if not directory.is_dir():
        click.echo(f"harness: {directory} is not a directory", err=True)
        sys.exit(2)
    result = verify_bundle(directory, trusted)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    if result.ok:
        click.echo(f"intact: {directory} (signed by {result.signer})")
        return
    for problem in result.problems:
        click.echo(f"TAMPERED {problem}", err=True)
    sys.exit(1)
