"""Options every command that touches the store or a profile shares: defined once, so `--db` and `HARNESS_DB` mean
the same thing everywhere (harness/config.py holds the defaults)."""

from __future__ import annotations

from pathlib import Path

import click

from harness.config import PROFILES, default_db_path

db_option = click.option(
    "--db",
    type=click.Path(path_type=Path),
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
