"""CLI groups for the YXC scan flow: ``harness qr yxc make|check`` and ``harness simulate yxc-scan|yxc-app-jump``.

Commands only parse arguments, call the package and turn results into exit codes (0 conforming, 1 not, 2 could not run).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from harness.cli_options import CODE_TTL, db_option, writable
from harness.config import PROFILES, Settings, default_db_path
from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.store import Store

profile_option = click.option(
    "--profile", type=click.Choice(PROFILES), default="strict", show_default=True, help="Decision profile (specs/decisions.yaml)."
)


def _store(db: Path | None) -> Store:
    # Imported lazily: opening the store migrates every platform, which `--help` should not pay for.
    from harness.schema import open_store

    return open_store(db or default_db_path())


def _could_not_run(exc: HarnessError) -> NoReturn:
    # Bad arguments or an unusable store: exit 2 ("could not run"), also when called without harness.cli.run.
    click.echo(f"harness: {exc}", err=True)
    sys.exit(2)


@click.group()
def qr() -> None:
    """Training QR codes: make a conforming one, check any one."""


@qr.group("yxc")
def qr_yxc() -> None:
    """YXC training QR (000 附件一)."""


@qr_yxc.command("make")
@click.option("--redirect-uri", required=True, help="The vendor's callback URL (HTTPS, a domain, no query).")
@click.option("--callback", required=True, help="The callback parameter, echoed back verbatim by the province.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Write the QR as a PNG here.")
@click.option("--timestamp", type=int, default=None, help="Generation time in epoch seconds (default now).")
def qr_yxc_make(redirect_uri: str, callback: str, out: Path | None, timestamp: int | None) -> None:
    """Print the QR text (and write the PNG); exit 1 if the inputs cannot make a conforming QR."""
    from harness.yxc import qr as yxc_qr

    text = yxc_qr.make_text(redirect_uri, callback, timestamp)
    click.echo(text)
    if out is not None:
        out.write_bytes(yxc_qr.make_png(text))
        click.echo(f"wrote {out}", err=True)
    report = yxc_qr.check_image(out.read_bytes()) if out is not None else yxc_qr.check_text(text)
    for finding in report.findings:
        click.echo(f"not conforming: {finding}", err=True)
    sys.exit(0 if report.ok else 1)


@qr_yxc.command("check")
@click.argument("source")
@profile_option
@click.option(
    "--allow-insecure-http", is_flag=True, help="Waive HTTPS and the public domain name (127.0.0.1, localhost): a development check only."
)
@click.option("--json", "as_json", is_flag=True, help="Print outcomes as JSON.")
def qr_yxc_check(source: str, profile: str, allow_insecure_http: bool, as_json: bool) -> None:
    """Check a QR given as TEXT or as the path of an IMAGE; exit 0 when it conforms, 1 when not."""
    from harness.yxc import qr as yxc_qr

    try:
        report = yxc_qr.check(source, profile=profile, allow_insecure_http=allow_insecure_http)
    except HarnessError as exc:
        _could_not_run(exc)
    # 000 2.1.1: a QR whose callback address was waived (plain http, an IP, a local name) conforms for development only.
    waived = [o for o in report.outcomes.values() if o.status == "skipped" and "--allow-insecure-http" in o.message]
    development = f"development only, not valid for certification: {len(waived)} rule(s) of 000 2.1.1 waived" if waived else None
    if as_json:
        outcomes = [vars(o) for o in report.outcomes.values()]
        document = {"conforming": report.ok, "development": development, "text": report.text, "outcomes": outcomes}
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        if report.text is not None:
            click.echo(f"content: {report.text}")
        for outcome in report.outcomes.values():
            click.echo(str(outcome))
        verdict = "conforming" if report.ok else f"NOT conforming: {len(report.findings)} finding(s)"
        click.echo(f"{verdict} ({development})" if development and report.ok else verdict)
    sys.exit(0 if report.ok else 1)


@click.group()
def simulate() -> None:
    """Play the province's side of a flow against a vendor and grade what the vendor does."""


@simulate.command("yxc-scan")
@click.option("--qr", "qr_source", required=True, help="The QR as TEXT or the path of an IMAGE.")
@click.option("--stunum", required=True, help="学员统一编号 (16 characters).")
@click.option("--logout", is_flag=True, help="Issue a sign-out code (logoutinfo) instead of a sign-in code.")
@click.option("--ca-bundle", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Trust this CA for the vendor's HTTPS.")
@click.option("--insecure-http", is_flag=True, help="Allow a plain http:// or IP callback (developer loopback only).")
@click.option("--ttl", type=CODE_TTL, default=None, help="Seconds the code stays valid (default 12 h, D-YXC-CODE-TTL).")
@click.option(
    "--code-out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write the issued code to this file (what the callback received: the classrecord's logininfo or logoutinfo).",
)
@profile_option
@db_option
def simulate_yxc_scan(
    qr_source: str,
    stunum: str,
    logout: bool,
    ca_bundle: Path | None,
    insecure_http: bool,
    ttl: int | None,
    code_out: Path | None,
    profile: str,
    db: Path | None,
) -> None:
    """Scan a QR as the mini-program: issue a code, POST it to the vendor's callback, grade the reply."""
    from harness.yxc.scan import simulate_scan

    if code_out is not None:
        writable(code_out)  # before the code is issued and sent to the callback
    try:
        result = simulate_scan(
            _store(db),
            qr_source,
            stunum,
            logout=logout,
            ca_bundle=ca_bundle,
            insecure_http=insecure_http,
            profile=profile,
            ttl_seconds=ttl or Settings().code_ttl_seconds,
        )
    except HarnessError as exc:
        _could_not_run(exc)
    for finding in result.qr.findings:
        click.echo(f"QR     {finding}")
    if result.code is not None:
        kind = "sign-out" if logout else "sign-in"
        click.echo(f"issued {kind} code {result.code.code} for {result.code.stunum}, expires {result.code.expirationtime}")
        if code_out is not None:
            try:
                code_out.write_text(result.code.code + "\n", encoding="utf-8")
            except OSError as exc:
                click.echo(f"harness: cannot write {code_out}: {exc.strerror or exc}", err=True)
                sys.exit(2)
    if result.exchange is not None:
        ex = result.exchange
        click.echo(f"POST   {ex.url}\n       {ex.request_body.decode('utf-8')}")
        click.echo(f"reply  HTTP {ex.status} {ex.reply_body.decode('utf-8', errors='replace')[:500]}")
    for finding in result.findings:
        click.echo(f"REPLY  {finding}")
    if result.error:
        click.echo(f"error: {result.error}", err=True)
    click.echo(f"grade: {result.verdict}")
    sys.exit(result.exit_code)


@simulate.command("yxc-app-jump")
@click.option("--path", "page_path", required=True, help="The page the APP opens, e.g. 'pages/soild/soild-sign-in?from=app&…'.")
@click.option("--stunum", required=True, help="学员统一编号 (16 characters).")
@click.option(
    "--photo-checked-at",
    required=True,
    help="When the APP's own photo check passed (epoch s/ms, ISO 8601, or Beijing time: yyyy-MM-dd HH:mm:ss or yyyyMMddHHmmss).",
)
@click.option("--opened-at", default=None, help="When the page opened (default now).")
@click.option("--ttl", type=CODE_TTL, default=None, help="Seconds the code stays valid (default 12 h, D-YXC-CODE-TTL).")
@profile_option
@db_option
def simulate_yxc_app_jump(
    page_path: str, stunum: str, photo_checked_at: str, opened_at: str | None, ttl: int | None, profile: str, db: Path | None
) -> None:
    """Open the mini-program page as a remote-teaching APP did; print the answer (code, expirationtime, stunum) and the grade."""
    from harness.yxc.appjump import app_jump

    try:
        result = app_jump(
            _store(db),
            page_path,
            stunum,
            photo_checked_at,
            opened_at=opened_at,
            profile=profile,
            ttl_seconds=ttl or Settings().code_ttl_seconds,
        )
    except HarnessError as exc:
        _could_not_run(exc)
    click.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
    for finding in result.findings:
        click.echo(f"{finding.requirement} [{finding.clause}] {finding.message}", err=True)
    sys.exit(0 if result.conforming else 1)
