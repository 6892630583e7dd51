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


# -- the client simulators (harness/dym/simulators.py), pointable at the harness or another implementation -----------
target_option = click.option(
    "--target", required=True, help="Base URL of the DYM API, e.g. http://127.0.0.1:8000/dym or a session's …/_session/<id>/dym."
)


def _app_options(prefix: str, who: str, envvar: str) -> Any:
    def wrap(fn: Any) -> Any:
        fn = click.option(f"--{prefix}secret", required=True, envvar=envvar, help=f"The {who}'s secret (or ${envvar}).")(fn)
        return click.option(f"--{prefix}app-id", required=True, help=f"The {who}'s app_id.")(fn)

    return wrap


def _fail(exc: Exception) -> None:
    """The target could not be reached or is no URL: the run could not run (exit 2, as `harness ymt scan` and every
    other client command), not a refusal by the platform (exit 1)."""
    click.echo(f"harness: {exc}", err=True)
    sys.exit(2)


@dym.command("tms")
@target_option
@_app_options("", "enterprise app", "DYM_SECRET")
@_app_options("driver-", "drivers' carrier app", "DYM_DRIVER_SECRET")
@click.option("--uscc", default=None, help="Also claim the enterprise's own code (first run only: a code is claimed once).")
@click.option(
    "--defect",
    "defects",
    multiple=True,
    help="Plant a defect, to test a certify role (the names of harness.dym.simulators.DEFECTS, e.g. verify-without-consent).",
)
@click.option("--seed", default=None, type=int, help="Seed of the synthetic drivers (default: random).")
def tms(
    target: str,
    app_id: str,
    secret: str,
    driver_app_id: str,
    driver_secret: str,
    uscc: str | None,
    defects: tuple[str, ...],
    seed: int | None,
) -> None:
    """Run the conforming enterprise TMS scenario against TARGET: claim drivers, obtain consent through the drivers'
    app, verify, push an exclusive and a public waybill, have the drivers accept them, follow their status."""
    import random

    import httpx

    from harness.dym import simulators as sim

    unknown = sorted(set(defects) - set(sim.DEFECTS))
    if unknown:
        click.echo(f"harness: unknown defect(s) {', '.join(unknown)}; known: {', '.join(sorted(sim.DEFECTS))}", err=True)
        sys.exit(2)
    rng = random.Random(seed)
    planted = frozenset(defects)
    with httpx.Client(timeout=10.0) as http:
        send = sim.http_sender(target, client=http)
        tms_sim = sim.Tms(sim.Caller(send, app_id, secret, defects=planted), uscc=uscc, defects=planted)
        apps = [sim.DriverApp(sim.Caller(send, driver_app_id, driver_secret), sim.identity(rng)) for _ in range(2)]
        try:
            out = tms_sim.scenario(apps)
        except sim.ClientError as exc:  # the platform refused a step: exit 1
            click.echo(f"harness: {exc}", err=True)
            sys.exit(1)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            _fail(exc)
    summary = {
        no: {"status": w.get("status"), "driver_code": w.get("driver_code"), "events": [e["event"] for e in w.get("chain", [])]}
        for no, w in out["waybills"].items()
    }
    click.echo(json.dumps({"waybills": summary, "log": out["log"]}, ensure_ascii=False, indent=2))


@dym.group("driver")
def driver() -> None:
    """The driver's app (运力APP): claim a code, bind a vehicle, consent, accept a waybill by its QR."""


def _driver_app(target: str, app_id: str, secret: str, code: str | None = None, token: str | None = None) -> Any:
    from harness.dym import simulators as sim

    app = sim.DriverApp(sim.Caller(sim.http_sender(target), app_id, secret), {})
    if code and token:
        app.adopt(code, token, "")
    return app


def _driver_credentials(fn: Any) -> Any:
    fn = click.option("--driver-token", required=True, envvar="DYM_DRIVER_TOKEN", help="The driver's token (or $DYM_DRIVER_TOKEN).")(fn)
    return click.option("--driver-code", required=True, help="The driver's code (DYMD…).")(fn)


def _run(step: Any) -> None:
    import httpx

    from harness.dym.simulators import ClientError

    try:
        click.echo(json.dumps(step(), ensure_ascii=False))
    except ClientError as exc:  # the platform refused: exit 1
        click.echo(f"harness: {exc}", err=True)
        sys.exit(1)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        _fail(exc)


@driver.command("claim")
@target_option
@_app_options("", "carrier app", "DYM_DRIVER_SECRET")
@click.option("--id-no", required=True)
@click.option("--name", required=True)
@click.option("--mobile", required=True)
@click.option("--plate", required=True)
def driver_claim(target: str, app_id: str, secret: str, id_no: str, name: str, mobile: str, plate: str) -> None:
    """Claim the driver's code; prints the code, its QR content and the driver's token (shown once)."""
    app = _driver_app(target, app_id, secret)
    app.person = {"id_no": id_no, "name": name, "mobile": mobile, "plate": plate}

    def step() -> dict[str, Any]:
        app.claim()
        return {"driver_code": app.code, "qr_content": app.qr, "driver_token": app.token}

    _run(step)


@driver.command("bind")
@target_option
@_app_options("", "carrier app", "DYM_DRIVER_SECRET")
@_driver_credentials
@click.option("--plate", required=True)
@click.option("--trailer-plate", default=None)
def driver_bind(target: str, app_id: str, secret: str, driver_code: str, driver_token: str, plate: str, trailer_plate: str | None) -> None:
    """Bind a vehicle (and trailer) to the driver's code."""
    _run(lambda: _driver_app(target, app_id, secret, driver_code, driver_token).bind(plate, trailer_plate))


@driver.command("consent")
@target_option
@_app_options("", "carrier app", "DYM_DRIVER_SECRET")
@_driver_credentials
@click.option("--grantee", required=True, help="The app_id the driver consents to.")
@click.option("--scope", required=True, help="Comma-separated items (qualification, vehicle_licence, …).")
@click.option("--ttl", default=600, show_default=True, type=int, help="Seconds the consent lasts.")
def driver_consent(target: str, app_id: str, secret: str, driver_code: str, driver_token: str, grantee: str, scope: str, ttl: int) -> None:
    """Grant an app consent to verify the listed items; prints the consent id."""
    app = _driver_app(target, app_id, secret, driver_code, driver_token)
    _run(lambda: {"consent_id": app.grant(grantee, [s.strip() for s in scope.split(",") if s.strip()], ttl)})


@driver.command("accept")
@target_option
@_app_options("", "carrier app", "DYM_DRIVER_SECRET")
@_driver_credentials
@click.option("--qr", "qr_content", required=True, help="The waybill QR content scanned (DYMW1.…).")
def driver_accept(target: str, app_id: str, secret: str, driver_code: str, driver_token: str, qr_content: str) -> None:
    """Scan a waybill QR and accept the waybill; prints the platform's reply (exit 1 when refused)."""
    import httpx

    try:
        reply = _driver_app(target, app_id, secret, driver_code, driver_token).accept(qr_content)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        _fail(exc)
    click.echo(json.dumps(reply, ensure_ascii=False))
    if reply.get("code") != "0":
        sys.exit(1)
