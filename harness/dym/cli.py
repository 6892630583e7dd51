"""`harness dym …`: the reference data of the DYM platform (integrating applications). Commands parse arguments, call
harness.dym.admin and print; a secret is printed once, when it is made."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from harness.cli_options import db_option
from harness.config import default_db_path
from harness.errors import ConfigError


def _store(db: Path | None) -> Any:
    from harness.schema import open_store

    return open_store(db or default_db_path())


def _add(name: str, kind: str, uscc: str | None, app_id: str | None, db: Path | None) -> None:
    from harness.dym import admin

    store = _store(db)
    try:
        app = admin.add_app(store, name, kind=kind, uscc=uscc, app_id=app_id)
    except ConfigError as exc:
        click.echo(f"harness: {exc}", err=True)
        sys.exit(2)
    finally:
        store.close()
    click.echo(json.dumps({"app_id": app.app_id, "kind": app.kind, "secret": app.secret}, ensure_ascii=False))
    click.echo("keep the secret: it is shown only now (it signs every call, D-DYM-SIGN)", err=True)


@click.group()
def dym() -> None:
    """DYM 滇运码 (designed platform): integrating applications."""


@dym.command("enterprise-add")
@click.argument("name")
@click.option("--uscc", default=None, help="The enterprise's unified social credit code (GB 32100 check character verified).")
@click.option(
    "--kind",
    type=click.Choice(["enterprise", "platform"]),
    default="enterprise",
    show_default=True,
    help="A logistics enterprise or a public service platform (004 §一(二)3).",
)
@click.option("--app-id", default=None, help="The app_id (default: random).")
@db_option
def enterprise_add(name: str, uscc: str | None, kind: str, app_id: str | None, db: Path | None) -> None:
    """Register an application that calls /dym; prints its app_id and secret (once)."""
    _add(name, kind, uscc, app_id, db)


@dym.command("regulator-add")
@click.argument("name")
@click.option("--app-id", default=None, help="The app_id (default: random).")
@db_option
def regulator_add(name: str, app_id: str | None, db: Path | None) -> None:
    """Register the regulator (行管部门) the harness plays: it reports and closes issues (D-DYM-ISSUES)."""
    _add(name, "regulator", None, app_id, db)
