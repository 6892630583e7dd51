"""``harness certify ROLE``: parse arguments, build the role, run it through the reporters, exit 0/1/2.

The roles and their own options come from :mod:`harness.conformance.roles`; the options every role shares are
declared once here. Journal-graded roles (the vendor as client) are certified in a session
(:mod:`harness.conformance.sessions`)::

    harness certify start ROLE --vendor U      # prints the session id, its base URL and the finish command
    harness certify finish SESSION --report DIR
    harness certify sessions
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from typing import Any

import click

from harness.cli_options import db_option, db_value
from harness.config import PROFILES, Settings, default_db_path
from harness.conformance import sessions
from harness.conformance.roles import ROLES, SINCE_OPTION, CommonOptions, RoleOption, role_class
from harness.conformance.runner import EXIT_ERROR, run_role
from harness.errors import HarnessError


def _db_param() -> click.Option:
    return click.Option(
        ["--db"], type=click.Path(), callback=db_value, default=None, envvar="HARNESS_DB", help=f"Store (default {default_db_path()})."
    )


def _store_param() -> click.Option:
    return click.Option(
        ["--store"], default=None, envvar="HARNESS_STORE", help="The store as a postgresql:// URL (or a SQLite path); overrides --db."
    )


def _common_params() -> list[click.Parameter]:
    return [
        click.Option(["--report", "report_dir"], required=True, type=click.Path(path_type=Path, file_okay=False), help="Bundle directory."),
        click.Option(["--seed"], type=int, default=None, help="Random seed (default: a fresh one, recorded in the report)."),
        _db_param(),
        _store_param(),
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

    def callback(
        report_dir: Path, seed: int | None, db: Path | None, store: str | None, profile: str | None, quiet: bool, **options: Any
    ) -> None:
        db = store or db  # type: ignore[assignment]
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


# --- certification sessions (journal-graded roles) ---------------------------------------------------------------------
def session_roles() -> list[str]:
    """The roles certified in a session: those graded from the journal (they take ``--since``) and those that grade
    what was recorded while a session was open (``session_capable``, e.g. yxc-app-jump's recorded jumps)."""
    return sorted(name for name in ROLES if SINCE_OPTION in role_class(name).options or getattr(role_class(name), "session_capable", False))


def _options_in(cls: Any, stored: dict[str, Any]) -> dict[str, Any]:
    """A session's stored (JSON) options as the role's constructor takes them."""
    types = {o.name: o.type for o in cls.options}
    return {k: Path(v) if types.get(k) is Path and v is not None else v for k, v in stored.items() if k in types}


def _db_args(db: Path | str | None) -> str:
    from harness.store_pg import is_url, redact

    if is_url(db):
        return f" --store {redact(str(db))}"
    return f" --db {db}" if db is not None and db != default_db_path() else ""


def start_command(name: str) -> click.Command:
    cls = role_class(name)

    def callback(db: Path | None, store: str | None, url: str | None, **options: Any) -> None:
        db = store or db  # type: ignore[assignment]
        store_path = db or default_db_path()
        settings = Settings()
        try:
            cls(CommonOptions(Path("."), 0, store_path, settings.profile), **options)  # the role's own argument checks
            from harness.schema import open_store

            store = open_store(store_path)
            # Files are named absolutely: `finish` may run from another directory (or host path) than `start`.
            session = sessions.start(store, name, {k: str(v.resolve()) if isinstance(v, Path) else v for k, v in options.items()})
            served = sessions.served_urls(store)
            others = sessions.overlapping(store, session)
        except HarnessError as exc:
            click.echo(f"harness: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        base = (url or (served[0] if served else f"http://{settings.host}:{settings.port}")).rstrip("/")
        click.echo(f"certification session {session.id} opened for {name} (journal after #{session.after_id})", err=True)
        if SINCE_OPTION not in cls.options:  # graded on what was recorded while the session is open, not by its base path
            click.echo(f"  now       run the scenario against {base} (what is recorded until finish is graded)", err=True)
        else:
            click.echo(f"  base URL  {base}/_session/{session.id}/{cls.platform}", err=True)
        if url is None and not served:
            click.echo("            (no running harness serve is noted on this store: pass --url if it listens elsewhere)", err=True)
        elif url is None and len(served) > 1:
            click.echo(f"            (harness serve also listens at {', '.join(served[1:])} on this store)", err=True)
        if SINCE_OPTION in cls.options:
            click.echo("            (or run the scenario against the usual base URL; fuzz traffic is never graded)", err=True)
        if others:
            ids = ", ".join(o.id for o in others)
            click.echo(
                f"warning: session {ids} of {name} with the same options is still open: traffic sent to the usual base URL is "
                f"graded in both; send this session's traffic to its own base URL (or finish {ids} first)",
                err=True,
            )
        click.echo(f"  then      harness certify finish {session.id} --report REPORT_DIR{_db_args(db)}", err=True)
        click.echo(session.id)

    params: list[click.Parameter] = [
        _db_param(),
        _store_param(),
        click.Option(
            ["--url"],
            default=None,
            help="The server's base URL as the vendor reaches it (default: where the newest running harness serve on this store listens, else http://HOST:PORT of the settings).",
        ),
        *[_option(o) for o in cls.options if o != SINCE_OPTION],
    ]
    return click.Command(name, params=params, callback=callback, help=f"Open a certification session for {name}: {cls.summary}")


class StartGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return session_roles()

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return start_command(cmd_name) if cmd_name in session_roles() else None


start = StartGroup(
    "start",
    help="Open a certification session for a role graded from the journal (the vendor as client); prints the session id, "
    "the session's base URL and the finish command.",
)


@click.command("finish")
@click.argument("session_id")
@click.option("--report", "report_dir", required=True, type=click.Path(path_type=Path, file_okay=False), help="Bundle directory.")
@click.option("--seed", type=int, default=None, help="Random seed (default: a fresh one, recorded in the report).")
@db_option
@click.option("--profile", type=click.Choice(PROFILES), default=None, help="Decision profile (specs/decisions.yaml).")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines on stderr.")
def finish(session_id: str, report_dir: Path, seed: int | None, db: Path | None, profile: str | None, quiet: bool) -> None:
    """Close a certification session and grade its window (finishing a finished session grades it again)."""
    from harness.schema import open_existing_store
    from harness.store_pg import redact

    store_path = db or default_db_path()
    try:
        store = open_existing_store(store_path)
        found = sessions.get(store, session_id)
        if found is None:
            raise HarnessError(f"no certification session {session_id!r} in {redact(str(store_path))} (harness certify sessions)")
        if found.role not in ROLES:
            raise HarnessError(f"session {session_id} is for role {found.role!r}, which this harness does not know")
        session = sessions.finish(store, session_id)
        exchanges = sessions.count(store, session.window)
        store.close()
        cls = role_class(session.role)
        seed = secrets.randbelow(2**31) if seed is None else seed
        common = CommonOptions(report_dir, seed, store_path, profile or Settings().profile)
        role = cls(common, **_options_in(cls, session.options), window=session.window)
    except HarnessError as exc:
        click.echo(f"harness: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    again = "" if found.is_open else " (already finished: graded again)"
    click.echo(f"session {session.id}{again}: {session.role}, {exchanges} exchanges; {session.window.describe()}", err=True)
    sys.exit(run_role(role.run(seed), report_dir, progress=not quiet, db=store_path))


@click.command("sessions")
@db_option
def list_sessions(db: Path | None) -> None:
    """List certification sessions, newest first."""
    from harness.schema import open_existing_store

    store = open_existing_store(db or default_db_path())
    for s in sessions.list_sessions(store):
        until = f"#{s.until_id}" if s.until_id is not None else "…"
        options = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in sorted(s.options.items()))
        click.echo(
            f"{s.id}\t{s.status}\t{s.role} {options}\tjournal #{s.after_id}–{until}\t{sessions.count(store, s.window)} exchanges\t{s.created_at}"
        )


SESSION_COMMANDS: dict[str, click.Command] = {"start": start, "finish": finish, "sessions": list_sessions}


class CertifyGroup(click.Group):
    """Roles are listed from the registry and imported only when one is used; beside them the session commands."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(ROLES) + sorted(SESSION_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in SESSION_COMMANDS:
            return SESSION_COMMANDS[cmd_name]
        return role_command(cmd_name) if cmd_name in ROLES else None


certify = CertifyGroup(
    "certify",
    help="Certify a vendor in one role; writes a signed report bundle. Exit 0 every mandatory check passed, "
    "1 any failed, 2 the run could not run. A vendor acting as a client is certified in a session: "
    "`harness certify start ROLE …`, run the scenario, `harness certify finish SESSION --report DIR`.",
)
