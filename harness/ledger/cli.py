"""`harness ledger …`: verify a receipt offline, prove a log append-only between two checkpoints, audit the store,
print the signed checkpoint. Exit 0 verified, 1 refused (the reason on one line), 2 bad input."""

from __future__ import annotations

import base64
import json
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import click

from harness.cli_options import db_option
from harness.config import default_db_path
from harness.errors import HarnessError
from harness.ledger.log import DEFAULT_ORIGIN, SCHEMA, Ledger, audit, tree_size
from harness.ledger.merkle import ProofError, verify_consistency
from harness.ledger.note import Checkpoint, NoteError, Verifier, open_note
from harness.ledger.receipt import ReceiptError, Refused, canonical_entry, load_receipt, verify_receipt
from harness.store import Store
from harness.store_pg import redact

origin_option = click.option("--origin", default=DEFAULT_ORIGIN, show_default=True, help="The log's origin (checkpoint first line).")


def _bad(message: str) -> NoReturn:
    click.echo(f"harness: {message}", err=True)
    sys.exit(2)


def _refused(message: str) -> NoReturn:
    click.echo(f"refused: {message}")
    sys.exit(1)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        _bad(f"cannot read {what} {path}: {exc.strerror or exc}")


def _verifier(vkey: str) -> Verifier:
    text = vkey
    if "+" not in vkey:  # a file holding the key
        text = _read(Path(vkey), "verifier key").decode("utf-8", "replace").strip()
    try:
        return Verifier.parse(text)
    except NoteError as exc:
        _bad(str(exc))


def _open(path: Path | str) -> Store:
    """The ledger's tables of the store at ``path``: a SQLite file that must exist, or a ``postgresql://`` URL."""
    from harness.store_pg import PostgresStore, is_url

    if is_url(path):
        return PostgresStore(str(path), schemas=[SCHEMA])
    if not Path(path).exists():
        _bad(f"no store at {path}")
    return Store(path, schemas=[SCHEMA])


@contextmanager
def _ledger(db: Path | None, origin: str) -> Iterator[tuple[Ledger, sqlite3.Connection]]:
    path = db or default_db_path()
    try:
        store = _open(path)
        ledger = Ledger.open(store, origin)
    except (HarnessError, NoteError, sqlite3.Error) as exc:
        _bad(f"cannot open the ledger in {redact(str(path))}: {exc}")
    conn = store.new_connection()
    try:
        conn.execute("BEGIN")  # one snapshot for every read of the command
        yield ledger, conn
    finally:
        conn.rollback()
        conn.close()
        store.close()


@click.group("ledger")
def ledger() -> None:
    """The tamper-evident ledger: receipts, checkpoints, consistency and audit."""


@ledger.command("verify")
@click.argument("receipt", type=click.Path(path_type=Path))
@click.option("--entry", "entry_file", required=True, type=click.Path(path_type=Path), help="The entry (JSON) the receipt is for.")
@click.option("--key", "vkey", required=True, help="Verifier key name+keyid+base64key, or a file holding it.")
@click.option("--origin", default=None, help="Expected origin (default: the key's name).")
def verify_command(receipt: Path, entry_file: Path, vkey: str, origin: str | None) -> None:
    """Verify RECEIPT offline: the entry is in the log under a checkpoint signed by the key. No store is read."""
    verifier = _verifier(vkey)
    try:
        data = load_receipt(_read(receipt, "receipt"))
        entry = canonical_entry(_read(entry_file, "entry"))
        ok = verify_receipt(data, entry, [verifier], origin=origin)
    except ReceiptError as exc:
        _bad(str(exc))
    except Refused as exc:
        _refused(str(exc))
    click.echo(
        f"verified: {ok.attestation_id} is entry {ok.index} of {ok.checkpoint.origin} at size {ok.checkpoint.size}"
        f" (signed by {', '.join(ok.signed_by)})"
    )


def _open_checkpoint(path: Path, verifier: Verifier, origin: str) -> tuple[Checkpoint, str]:
    raw = _read(path, "checkpoint")
    try:
        cp = Checkpoint.parse(open_note(raw, [verifier]).text)
    except NoteError as exc:
        _refused(f"{path.name}: {exc}")
    if cp.origin != origin:
        _refused(f"{path.name}: origin {cp.origin!r} is not the expected {origin!r}")
    return cp, raw.decode()


def _proof_file(path: Path) -> list[bytes]:
    lines = [line.strip() for line in _read(path, "proof").decode("utf-8", "replace").splitlines() if line.strip()]
    try:
        return [base64.b64decode(line, validate=True) for line in lines]
    except ValueError:
        _bad(f"{path}: a consistency proof is one base64 hash per line")


@ledger.command("consistency")
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option("--proof", "proof_file", type=click.Path(path_type=Path), help="Consistency proof: one base64 hash per line.")
@click.option("--key", "vkey", default=None, help="Verifier key (default with --db: the store's log key).")
@click.option("--origin", default=None, help="Expected origin (default: the key's name).")
@db_option
def consistency_command(old: Path, new: Path, proof_file: Path | None, vkey: str | None, origin: str | None, db: Path | None) -> None:
    """Prove the log append-only from checkpoint OLD to checkpoint NEW, with --proof FILE (offline) or from --db."""
    if proof_file is None and db is None:
        _bad("give --proof FILE or --db")
    if proof_file is None and vkey is None:
        with _ledger(db, origin or DEFAULT_ORIGIN) as (lg, _conn):
            vkey = str(lg.verifier)
    if vkey is None:
        _bad("give --key with --proof")
    verifier = _verifier(vkey)
    want = origin or verifier.name
    cp1, _ = _open_checkpoint(old, verifier, want)
    cp2, _ = _open_checkpoint(new, verifier, want)
    if cp1.size == cp2.size and cp1.root != cp2.root:
        _refused(f"forked: two checkpoints of size {cp1.size} with different roots")
    if cp1.size > cp2.size:
        _refused(f"{new.name} (size {cp2.size}) is smaller than {old.name} (size {cp1.size}): the log was truncated or they are swapped")
    if proof_file is not None:
        proof = _proof_file(proof_file)
    elif cp1.size == 0 or cp1.size == cp2.size:
        proof = []
    else:
        with _ledger(db, want) as (lg, conn):
            size = tree_size(conn)
            if size < cp2.size:
                _refused(f"the store holds {size} records, fewer than {new.name}'s {cp2.size}: truncated")
            try:
                proof = lg.consistency(conn, cp1.size, cp2.size)
            except (LookupError, ProofError) as exc:
                _refused(f"the store cannot prove consistency: {exc}")
    if cp1.size == 0:
        if proof or cp1.root != base64.b64decode("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="):
            _refused("a checkpoint of size 0 must carry the empty tree's root and need no proof")
    else:
        try:
            verify_consistency(cp1.size, cp2.size, cp1.root, cp2.root, proof)
        except ProofError as exc:
            _refused(f"not append-only from size {cp1.size} to {cp2.size}: {exc}")
    click.echo(f"consistent: {cp2.origin} size {cp1.size} -> {cp2.size} is append-only")


@ledger.command("prove")
@click.argument("size1", type=int)
@click.argument("size2", type=int, required=False)
@origin_option
@db_option
def prove_command(size1: int, size2: int | None, origin: str, db: Path | None) -> None:
    """Print the consistency proof from SIZE1 to SIZE2 (default: the latest checkpoint), one base64 hash per line."""
    with _ledger(db, origin) as (lg, conn):
        latest = lg.latest(conn)
        end = size2 if size2 is not None else (latest[0].size if latest else 0)
        try:
            proof = lg.consistency(conn, size1, end) if size1 != end else []
        except (ProofError, LookupError) as exc:
            _bad(str(exc))
    for h in proof:
        click.echo(base64.b64encode(h).decode())


@ledger.command("audit")
@origin_option
@db_option
def audit_command(origin: str, db: Path | None) -> None:
    """Recompute the tree from the store; name the first altered, deleted or reordered record."""
    with _ledger(db, origin) as (lg, conn):
        result = audit(conn, origin, [lg.verifier])
    if not result.ok:
        click.echo(f"audit failed ({result.size} records read in order): {result.problems[0]}")
        for problem in result.problems[1:]:
            click.echo(f"  also: {problem}")
        sys.exit(1)
    if result.size == 0 and result.checkpoints == 0:
        click.echo("nothing to audit: the ledger holds no records and no checkpoints")
        return
    click.echo(f"audit passed: {result.size} records, {result.checkpoints} checkpoints agree with the tree")


@ledger.command("checkpoint")
@click.option("--sign/--no-sign", default=True, show_default=True, help="Sign a new checkpoint if the tree has grown.")
@origin_option
@db_option
def checkpoint_command(sign: bool, origin: str, db: Path | None) -> None:
    """Print the latest signed checkpoint (a c2sp.org/tlog-checkpoint signed note)."""
    path = db or default_db_path()
    if sign:
        store = _open(path)
        try:
            lg = Ledger.open(store, origin)
            with store.transaction() as conn:
                note = lg.checkpoint(conn)
        finally:
            store.close()
    else:
        with _ledger(db, origin) as (lg, conn):
            latest = lg.latest(conn)
            if latest is None:
                _bad("no checkpoint yet")
            note = latest[1]
    click.echo(note, nl=False)


@ledger.command("key")
@origin_option
@db_option
def key_command(origin: str, db: Path | None) -> None:
    """Print the log's verifier key (name+keyid+base64key): all a third party needs to verify receipts."""
    with _ledger(db, origin) as (lg, _conn):
        click.echo(str(lg.verifier))


@ledger.command("receipt")
@click.argument("index", type=int)
@click.option("--entry", "entry_out", type=click.Path(path_type=Path), help="Also write the entry (leaf bytes) to this file.")
@origin_option
@db_option
def receipt_command(index: int, entry_out: Path | None, origin: str, db: Path | None) -> None:
    """Print the receipt (JSON) of entry INDEX against the latest checkpoint."""
    with _ledger(db, origin) as (lg, conn):
        try:
            receipt = lg.receipt(conn, index)
            entry = lg.entry(conn, index)
        except LookupError as exc:
            _bad(str(exc))
    if entry_out is not None:
        entry_out.write_bytes(entry)
    click.echo(json.dumps(receipt, ensure_ascii=False, indent=2))
