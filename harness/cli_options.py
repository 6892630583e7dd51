"""Options every command that touches the store or a profile shares: defined once, so `--db`, `--store`,
`HARNESS_DB` and `HARNESS_STORE` mean the same thing everywhere (harness/config.py holds the defaults)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from harness.config import PROFILES, default_db_path

F = TypeVar("F", bound=Callable[..., Any])

CODE_TTL = click.IntRange(1, 604_800)  # a YXC code's lifetime in seconds, as POST /_harness/yxc/codes takes it (ttl_seconds)


def writable(path: Path) -> None:
    """Refuse, before anything is done, an output file that cannot be written (a missing folder, a folder in its place,
    no permission): a command that fails on its last step must not leave what it made before (a code in the store)."""
    import os

    from harness.errors import ConfigError

    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ConfigError(f"cannot write {path}: it is a directory")
    if not folder.is_dir():
        raise ConfigError(f"cannot write {path}: no directory {folder}")
    if not os.access(path if path.exists() else folder, os.W_OK):
        raise ConfigError(f"cannot write {path}: permission denied")


def db_value(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | str | None:
    """``--db``'s value: a path, or, given a ``postgresql://`` URL, that URL unchanged (as ``--store`` takes it)."""
    if value is None or value.startswith(("postgresql://", "postgres://")):
        return value
    return Path(value)


_db = click.option(
    "--db",
    type=click.Path(),
    callback=db_value,
    default=None,
    envvar="HARNESS_DB",
    show_envvar=True,
    help=f"SQLite store shared with `harness serve` (default {default_db_path()}).",
)
profile_option = click.option("--profile", type=click.Choice(PROFILES), default=None, help="Decision profile (specs/decisions.yaml).")
store_option = click.option(
    "--store",
    default=None,
    envvar="HARNESS_STORE",
    show_envvar=True,
    help="The store as a postgresql://user@host:port/db URL (or a SQLite path); overrides --db.",
)


def db_option(f: F) -> F:
    """``--db PATH`` (``HARNESS_DB``) and ``--store URL|PATH`` (``HARNESS_STORE``) on one command.

    A command whose function takes a ``store`` parameter gets both values as they are; any other gets one ``db``
    value, the store to open: ``--store`` when given (a ``postgresql://`` URL, as a string, or a SQLite path), else
    ``--db``. ``harness.schema.open_store`` opens either, so commands need not know which engine they talk to."""
    if "store" in inspect.signature(f).parameters:
        return store_option(_db(f))

    @functools.wraps(f)
    def command(*args: Any, store: str | None = None, **kwargs: Any) -> Any:
        if store:
            kwargs["db"] = store
        return f(*args, **kwargs)

    return store_option(_db(command))  # type: ignore[return-value]
