"""``harness certify ROLE``: parse arguments, build the role, run it through the reporters, exit 0/1/2.

The roles and their own options come from :mod:`harness.conformance.roles`; the options every role shares are
declared once here.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from typing import Any

import click

from harness.config import PROFILES, Settings, default_db_path
from harness.conformance.roles import ROLES, CommonOptions, RoleOption, role_class
from harness.conformance.runner import EXIT_ERROR, run_role
from harness.errors import HarnessError


def _common_params() -> list[click.Parameter]:
    return [
        click.Option(["--report", "report_dir"], required=True, type=click.Path(path_type=Path, file_okay=False), help="Bundle directory."),
        click.Option(["--seed"], type=int, default=None, help="Random seed (default: a fresh one, recorded in the report)."),
        click.Option(
            ["--db"], type=click.Path(path_type=Path), default=None, envvar="HARNESS_DB", help=f"Store (default {default_db_path()})."
        ),
        click.Option(["--profile"], type=click.Choice(PROFILES), default=None, help="Decision profile (specs/decisions.yaml)."),
        click.Option(["--quiet", "-q"], is_flag=True, help="No progress lines on stderr."),
    ]


def _option(spec: RoleOption) -> click.Option:
    flag = "--" + spec.name.replace("_", "-")
    if spec.flag:
        return click.Option([flag, spec.name], is_flag=True, default=bool(spec.default), help=spec.help)
    kind: Any = click.Path(path_type=Path) if spec.type is Path else spec.type
    return click.Option([flag, spec.name], required=spec.required, default=spec.default, type=kind, help=spec.help)


def role_command(name: str) -> click.Command:
    cls = role_class(name)

    def callback(report_dir: Path, seed: int | None, db: Path | None, profile: str | None, quiet: bool, **options: Any) -> None:
        seed = secrets.randbelow(2**31) if seed is None else seed
        common = CommonOptions(report_dir, seed, db or default_db_path(), profile or Settings().profile)
        try:
            role = cls(common, **options)
        except HarnessError as exc:
            click.echo(f"harness: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        sys.exit(run_role(role.run(seed), report_dir, progress=not quiet, db=common.db))

    params = _common_params() + [_option(o) for o in cls.options]
    return click.Command(name, params=params, callback=callback, help=cls.description, short_help=getattr(cls, "summary", None))


class CertifyGroup(click.Group):
    """Roles are listed from the registry and imported only when one is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(ROLES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return role_command(cmd_name) if cmd_name in ROLES else None


certify = CertifyGroup(
    "certify",
    help="Certify a vendor in one role; writes a signed report bundle. Exit 0 every mandatory check passed, "
    "1 any failed, 2 the run could not run.",
)
