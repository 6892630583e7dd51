"""The ``harness`` command. Commands only parse arguments, call the package and turn results into exit codes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from harness import __version__
from harness.cli_options import CODE_TTL, db_option, profile_option, writable
from harness.config import Settings, default_db_path
from harness.conformance.cli import certify
from harness.dudu.cli import dudu as dudu_commands
from harness.dudu.cli import qr_dudu
from harness.dym.cli import dym as dym_commands
from harness.errors import HarnessError
from harness.faults import _cli as _faults_cli
from harness.ledger.cli import ledger as ledger_commands
from harness.platforms import PLATFORMS
from harness.reports.cli import report
from harness.yxc.commands import qr, simulate


def _settings(**changes: Any) -> Settings:
    return Settings().update(**changes)


def _store(db: Path | None) -> Any:
    from harness.config import default_store
    from harness.schema import open_store

    return open_store(default_store() or db or default_db_path())


def _existing_store(db: Path | None) -> Any:
    """:func:`_store` for a command that only reads: a mistyped --db is one line, not a new empty store."""
    from harness.config import default_store
    from harness.schema import open_existing_store

    return open_existing_store(default_store() or db or default_db_path())


class Failure(click.ClickException):
    """One line on stderr (``harness: …``) and exit code 2: how every command reports what it cannot do."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"harness: {self.format_message()}", err=True)


def explain(exc: BaseException) -> str:
    """One line saying what went wrong, for an error a command did not handle itself (never a traceback)."""
    import sqlite3

    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, HarnessError):
        return text
    if isinstance(exc, sqlite3.IntegrityError):
        return f"already exists or conflicts with what the store holds ({text})"
    if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
        return f"the store is locked by another process ({text}); try again when it is done"
    if isinstance(exc, sqlite3.Error):
        return f"the store cannot be used: {text}"
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or text}"
    if isinstance(exc, UnicodeError | ValueError | KeyError | LookupError):
        return f"bad input: {text}"
    return f"unexpected {type(exc).__name__}: {text} (a harness bug: please report it)"


class HarnessGroup(click.Group):
    """The root group: whatever a subcommand raises becomes one line and exit 2 (click's own errors pass through)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            raise click.Abort() from None
        except Exception as exc:
            raise Failure(explain(exc)) from None


@click.group(cls=HarnessGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harness")
def main() -> None:
    """Mock-and-conformance test service for supervision platforms that work through QR codes and signed HTTP."""


@main.command()
@click.option("--host", default=None, help="Interface to bind (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8000).")
@db_option
@profile_option
@click.option("--validate-responses", is_flag=True, default=None, help="Also validate the harness's own replies against the spec.")
@click.option(
    "--control-token",
    default=None,
    envvar="HARNESS_CONTROL_TOKEN",
    show_envvar=True,
    help="Opens the control API (/_harness, /) to non-loopback clients that send Authorization: Bearer <token>.",
)
@click.option("--log-level", default="warning", type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@click.option(
    "--workers", type=click.IntRange(min=1), default=None, help="uvicorn worker processes (more than 1 needs a PostgreSQL store)."
)
def serve(
    host: str | None,
    port: int | None,
    db: Path | None,
    profile: str | None,
    validate_responses: bool | None,
    control_token: str | None,
    log_level: str,
    store: str | None,
    workers: int | None,
) -> None:
    """Serve every reference platform (YXC under /yxc, YMT /ymt, ZJPX /zjpx, DUDU /dudu, DYM /dym) with Swagger UI at /<platform>/ui/.

    The control API (/_harness/…) and the console (/) answer loopback clients only; other addresses need
    --control-token, and are refused without one. --store postgresql://… (or HARNESS_STORE) keeps the store in
    PostgreSQL, which --workers N needs: every worker process builds its own app on the one database."""
    import uvicorn

    from harness.store_pg import is_url, redact

    settings = _settings(
        host=host,
        port=port,
        db=db,
        profile=profile,
        validate_responses=validate_responses,
        control_token=control_token,
        store=store,
        workers=workers,
    )
    target = settings.store_target
    if settings.workers > 1 and not is_url(target):
        raise Failure(f"--workers {settings.workers} needs a PostgreSQL store (--store postgresql://…): a SQLite store serves one process")
    _check_listen(settings.host, settings.port)  # before the store notes this address for `certify start`
    from harness.conformance import sessions
    from harness.schema import open_store

    opened = open_store(target)
    try:  # `certify start` prints this address as the session's base URL
        sessions.record_serve(opened, settings.host, settings.port)
    except Exception as exc:  # noqa: BLE001 - only a convenience for `certify start`, which then says to pass --url
        click.echo(
            f"warning: could not note this server's address in the store ({type(exc).__name__}): certify start needs --url", err=True
        )
    app = None
    if settings.workers == 1:
        from harness.server import create_app

        app = create_app(settings, opened)
    else:  # each worker imports worker_app and builds its own app; this process only checks the store opens and is migrated
        opened.close()
        os.environ[WORKER_SETTINGS] = json.dumps(_settings_json(settings))
    shown = redact(target) if is_url(target) else target
    workers_note = f", {settings.workers} workers" if settings.workers > 1 else ""
    click.echo(f"harness {__version__}: store {shown}, profile {settings.profile}{workers_note}", err=True)
    for line in platform_banner(settings):
        click.echo(line, err=True)
    click.echo(f"  console        http://{settings.host}:{settings.port}/", err=True)
    click.echo(f"  journal        http://{settings.host}:{settings.port}/_harness/journal", err=True)
    for line in control_banner(settings):
        click.echo(line, err=True)
    from harness.server import http_protocol
    from harness.server.app import tune_gc

    common = {
        "host": settings.host,
        "port": settings.port,
        "log_level": log_level,
        "timeout_keep_alive": settings.keep_alive_seconds,
        # On Ctrl-C or SIGTERM, requests in flight get this long to finish; a console tab's open event stream would
        # otherwise hold the shutdown until it ends (harness/console: STREAM_SECONDS).
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
        "http": http_protocol.protocol(),  # uvicorn's httptools protocol with a deadline for the request head
    }
    if app is None:
        uvicorn.run("harness.cli:worker_app", factory=True, workers=settings.workers, **common)
        return
    tune_gc()
    uvicorn.run(app, **common)


def _check_listen(host: str, port: int) -> None:
    """One line and exit 2 for an address `serve` cannot listen on (a port beyond 65535, which uvicorn took modulo
    65536 while the banner named it; a host that does not resolve), instead of uvicorn's log line and
    exit 3 after the store had noted the address."""
    import socket

    if not 1 <= port <= 65535:
        raise Failure(f"--port must be 1–65535, not {port}")
    try:  # resolved, not bound: a port in use is still uvicorn's to report (binding here would race it)
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise Failure(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


GRACEFUL_SHUTDOWN_SECONDS = 5
WORKER_SETTINGS = "HARNESS_SERVE_SETTINGS"  # the serving process's settings, for its worker processes (environment)


def _settings_json(settings: Settings) -> dict[str, Any]:
    import dataclasses

    values = dataclasses.asdict(settings)
    values["db"] = str(settings.db)
    return values


def worker_app() -> Any:
    """The app of one `harness serve --workers N` worker process (uvicorn's factory): the serving process's settings,
    a store handle of its own on the shared PostgreSQL database."""
    from harness.schema import open_store
    from harness.server import create_app
    from harness.server.app import tune_gc

    values = json.loads(os.environ[WORKER_SETTINGS])
    values["db"] = Path(values["db"])
    settings = Settings(**values)
    app = create_app(settings, open_store(settings.store_target))
    tune_gc()
    return app


def platform_banner(settings: Settings) -> list[str]:
    """One line per platform of the registry (harness/platforms.py): name, base URL, Swagger UI and title."""
    from harness.platforms import platform_class

    lines = []
    for name in PLATFORMS:
        cls = platform_class(name)
        url = f"http://{settings.host}:{settings.port}{cls.base_path}"
        lines.append(f"  {name.upper():6} {url:32} (Swagger UI {cls.base_path}/ui/)  {cls.title}")
    return lines


def control_banner(settings: Settings) -> list[str]:
    """What `harness serve` says about the control plane for this bind (never the token itself)."""
    from harness.control_gate import is_loopback_bind

    if is_loopback_bind(settings.host):
        return ["  control API    loopback only (/_harness, /)"]
    lines = [f"WARNING: bound to {settings.host}: the platforms answer every client that can reach this port."]
    if settings.control_token:
        lines.append("  control API    loopback, and other addresses with Authorization: Bearer <control token>")
    else:
        lines.append("  control API    loopback only: disabled for other addresses (no --control-token / HARNESS_CONTROL_TOKEN)")
    return lines


@main.group()
def vendor() -> None:
    """Enrol vendors (key pair + certificate from the harness's test CA)."""


@vendor.command("add")
@click.argument("platform", type=click.Choice(["yxc"]))
@click.option("--platnum", required=True, help="Platform number, e.g. A0001 (5 characters).")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Where to write the PEM and PKCS#12 files.")
@click.option("--name", default=None, help="Company or platform name for the certificate.")
@click.option("--p12-password", default="harness", show_default=True)
@db_option
def vendor_add(platform: str, platnum: str, out_dir: Path, name: str | None, p12_password: str, db: Path | None) -> None:
    """Enrol a vendor and print its `user` value (the certificate serial)."""
    from harness.pki import enrol

    enrolment = enrol(_store(db), platform, platnum, out_dir, name, p12_password)
    for label, path in enrolment.files.items():
        click.echo(f"{label:5} {path}", err=True)
    click.echo(f"PKCS#12 password: {enrolment.p12_password}", err=True)
    click.echo(enrolment.vendor.user)


@vendor.command("list")
@click.option("--platform", type=click.Choice(["yxc"]), default=None, help="Only this platform's vendors (vendor add enrols yxc).")
@db_option
def vendor_list(platform: str | None, db: Path | None) -> None:
    """List enrolled vendors."""
    from harness.pki import list_vendors

    for v in list_vendors(_store(db), platform):
        click.echo(f"{v.platform}\t{v.platnum}\t{v.user}\t{v.name or ''}")


@main.command()
@click.option("--vendor", default=None, help="Certificate serial (user).")
@click.option("--platform", default=None)
@click.option("--operation", default=None)
@click.option(
    "--verdict",
    type=click.Choice(["held", "failed", "warning"]),
    default=None,
    help="The exchange's outcome: held, failed (refused), warning (only SHOULD verdicts failed).",
)
@click.option(
    "--rule",
    default=None,
    help="Only exchanges that evaluated this rule id (held or not; with --verdict, the exchange's outcome counts).",
)
@click.option("--session", default=None, help="Only exchanges sent under this certification session's base path.")
@click.option("--origin", type=click.Choice(["fuzz", "none"]), default=None, help="Only fuzz traffic, or only untagged traffic.")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print entries as JSON lines.")
@click.option("--follow", "-f", is_flag=True, help="Then print new exchanges as they commit, one line each, until Ctrl-C.")
@click.option(
    "--har",
    "har_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the matching exchanges (up to --limit, default 10000 here) as a HAR 1.2 file instead of listing them.",
)
@db_option
@click.pass_context
def journal(
    ctx: click.Context,
    vendor: str | None,
    platform: str | None,
    operation: str | None,
    verdict: str | None,
    rule: str | None,
    session: str | None,
    origin: str | None,
    limit: int,
    as_json: bool,
    follow: bool,
    har_file: Path | None,
    db: Path | None,
) -> None:
    """List journaled exchanges with their verdicts, newest first (masked as the journal holds them)."""
    from harness.journal import Journal

    if har_file is not None and follow:
        raise Failure("--har writes a file once; it cannot --follow")
    if limit < 1:
        raise Failure(f"--limit must be at least 1, not {limit}")
    book = Journal(_existing_store(db))
    filters = {"vendor": vendor, "platform": platform, "operation": operation, "verdict": verdict, "rule": rule, "session": session}
    if har_file is not None:
        from harness.console.har import har

        if ctx.get_parameter_source("limit") == click.core.ParameterSource.DEFAULT:
            limit = 10_000
        entries = book.query(**filters, origin=origin, limit=limit)
        what = ", ".join(f"{k}={v}" for k, v in filters.items() if v) or "every exchange"
        try:
            har_file.write_text(
                json.dumps(har(entries, comment=f"harness journal: {what}"), ensure_ascii=False, indent=1), encoding="utf-8"
            )
        except OSError as exc:
            raise Failure(f"cannot write {har_file}: {exc.strerror or exc}") from None
        click.echo(f"{len(entries)} exchanges written to {har_file} (HAR 1.2)", err=True)
        return
    cursor = book.max_id()
    for e in book.query(**filters, origin=origin, limit=limit):
        click.echo(_journal_line(e, as_json))
    if not follow:
        return
    import time

    try:
        while True:
            fresh = book.query(**filters, origin=origin, after_id=cursor, ascending=True, limit=1000)
            for e in fresh:
                click.echo(_journal_line(e, as_json))
                cursor = e["id"]
            if not fresh:
                time.sleep(FOLLOW_POLL_SECONDS)
    except KeyboardInterrupt:
        return


FOLLOW_POLL_SECONDS = 0.25  # `harness journal --follow` reads the store this often while nothing new has committed


def _journal_line(e: dict[str, Any], as_json: bool) -> str:
    if as_json:
        return json.dumps(e, ensure_ascii=False)
    failed = [v for v in e["verdicts"] if not v["held"]]
    why = f"  {failed[0]['rule']} [{failed[0]['clause']}] {failed[0].get('message', '')}" if failed else ""
    return (
        f"{e['id']:>6} {e['at']} {e['platform']:5} {e['operation'] or e['path']:20} code={e['code']} {e['outcome']:6} "
        f"vendor={e['vendor'] or '-'}{' session=' + e['session'] if e.get('session') else ''}"
        f"{' origin=' + e['origin'] if e.get('origin') else ''}{' fault=' + e['fault'] if e.get('fault') else ''}{why}"
    )


@main.group()
def yxc() -> None:
    """YXC helpers (the province's own services)."""


@yxc.command("issue-code")
@click.option("--stunum", required=True, help="学员统一编号 (16 characters).")
@click.option("--kind", type=click.Choice(["login", "logout"]), default="login", show_default=True)
@click.option("--ttl", type=CODE_TTL, default=None, help="Seconds the code stays valid (default 12 h, D-YXC-CODE-TTL).")
@click.option("--code-out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Also write the code alone to this file.")
@db_option
def yxc_issue_code(stunum: str, kind: str, ttl: int | None, code_out: Path | None, db: Path | None) -> None:
    """Issue a sign-in/sign-out code as the mini-program would, and print it as JSON.

    A classrecord carries a sign-in code as logininfo and, unless it is remote teaching, a sign-out code
    (--kind logout) as logoutinfo (000 附件四 表A.8 #24, #25)."""
    from harness.yxc import codes

    codes.check_stunum(stunum)  # bad input: one line, exit 2
    if code_out is not None:
        writable(code_out)  # before the code is issued: a file that cannot be written leaves no code in the store
    code = codes.issue(_store(db), stunum, kind, ttl or Settings().code_ttl_seconds, source="cli")
    if code_out is not None:
        try:
            code_out.write_text(code.code + "\n", encoding="utf-8")
        except OSError as exc:
            raise Failure(f"cannot write {code_out}: {exc.strerror or exc}") from None
    click.echo(
        json.dumps({"code": code.code, "expirationtime": code.expirationtime, "stunum": code.stunum, "kind": kind}, ensure_ascii=False)
    )


@main.command()
@click.option("--platform", type=click.Choice(list(PLATFORMS)), default=None, help="Only this platform's decisions and those for all.")
def decisions(platform: str | None) -> None:
    """Print the decisions register (where the seeds are silent or contradict themselves)."""
    from harness.decisions import decisions as all_decisions

    for d in all_decisions().values():
        if platform and d.platform not in (platform, "all"):
            continue
        click.echo(f"{d.id}  [{d.clause}]\n  issue:    {d.issue}\n  strict:   {d.strict}\n  tolerant: {d.tolerant}\n")


@main.command()
@click.argument("platform", type=click.Choice(list(PLATFORMS)))
def rules(platform: str) -> None:
    """Print every rule the reference platform enforces, with its level and clause (MUST refuses; SHOULD warns)."""
    import importlib

    from harness.rules import RuleSet

    for r in importlib.import_module(f"harness.{platform}.rules").install(RuleSet(platform)):
        extra = f" ({r.decision})" if r.decision else ""
        click.echo(f"{r.id:28} {r.level:6} {r.kind:11} {', '.join(r.operations):40} {r.clause}{extra}\n  {r.title}")


@main.group("store")
def store_commands() -> None:
    """The store itself: migrate it, copy a SQLite store into PostgreSQL."""


@store_commands.command("migrate")
@db_option
def store_migrate(store: str | None, db: Path | None) -> None:
    """Create or bring the store's tables up to date (opening a store does this too) and print each owner's version."""
    from harness.config import default_store
    from harness.schema import open_store

    opened = open_store(store or db or default_store() or default_db_path())
    try:
        for owner, version in sorted(opened.versions().items()):
            click.echo(f"{owner}\t{version}")
    finally:
        opened.close()


@store_commands.command("copy")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("target")
@click.option("--force", is_flag=True, help="Copy even when the target already holds journal rows (its copied tables are replaced).")
def store_copy(source: Path, target: str, force: bool) -> None:
    """Copy every table of the SQLite store SOURCE into the PostgreSQL store TARGET (postgresql://…), ids included."""
    from harness.store_copy import copy_store

    for table, rows in copy_store(source, target, force=force):
        click.echo(f"{table}\t{rows}")


main.add_command(certify)
main.add_command(report)
main.add_command(qr)
main.add_command(simulate)


from harness.zjpx.cli import push_class_command as _zjpx_push_class  # noqa: E402 - each platform's commands live with it
from harness.zjpx.cli import zjpx as _zjpx  # noqa: E402

main.add_command(_zjpx)
simulate.add_command(_zjpx_push_class)

main.add_command(dudu_commands)  # the DUDU commands live with the platform (harness/dudu/cli.py)
qr.add_command(qr_dudu)  # one `harness qr` group: `qr yxc …` and `qr dudu …`
main.add_command(ledger_commands)  # `harness ledger …` lives with the ledger (harness/ledger/cli.py)
main.add_command(dym_commands)  # the DYM commands live with the platform (harness/dym/cli.py)

from harness.ymt.cli import ymt as _ymt  # noqa: E402 - the YMT commands live with the platform (harness/ymt/cli.py)

main.add_command(_ymt)
main.add_command(_faults_cli())  # `harness faults add|list|clear` lives with the drills (harness/faults.py)


def run() -> None:
    try:
        main(standalone_mode=True)
    except Exception as exc:  # HarnessGroup turns errors into exit 2 already; this is the last net
        click.echo(f"harness: {explain(exc)}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    run()
