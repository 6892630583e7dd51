"""`harness dudu …` (reference data of the DUDU platform) and `harness qr dudu make` (issue QR tickets; ``qr_dudu`` is
attached under the shared ``qr`` group by harness.cli).

Commands only parse arguments, call harness.dudu.admin and print; every default lives in admin/qr or Settings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from harness.cli_options import db_option
from harness.config import default_db_path


def _store(db: Path | None) -> Any:
    from harness.schema import open_store

    return open_store(db or default_db_path())


def _echo(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False))


def _mode(name: str, help_text: str) -> Any:
    return click.option(f"--{name.replace('_', '-')}", name, type=click.IntRange(0, 1), default=None, help=help_text)


def _enterprise_settings(fn: Any) -> Any:
    for option in reversed(
        [
            _mode("check_mode", "QR check mode 0 online, 1 offline (003 §3.1)."),
            _mode("check_card_mode", "Card check mode 0 online, 1 offline."),
            _mode("qrcode_mode", "QR function 0 off, 1 on."),
            _mode("card_mode", "Card function 0 off, 1 on."),
            _mode("white_mode", "Whitelist 0 off, 1 on."),
            _mode("is_line_white", "Line whitelist 0 off, 1 on."),
            click.option("--check-start", default=None, help="Daily check window start HH:MM:SS (D-DUDU-CHECK-WINDOW)."),
            click.option("--check-end", default=None, help="Daily check window end HH:MM:SS."),
            click.option(
                "--interval",
                "heartbeat_interval",
                type=click.IntRange(1),
                default=None,
                help="Heartbeat interval, seconds (D-DUDU-INTERVAL).",
            ),
        ]
    ):
        fn = option(fn)
    return fn


@click.group()
def dudu() -> None:
    """DUDU 嘟嘟 bus platform: enterprises, lines, devices, card lists, key groups, offline accounting."""


@dudu.command("enterprise-add")
@click.argument("enterprise_id")
@click.option("--name", default="", help="Display name.")
@click.option("--secret", default=None, help="Access secret for get_token (default: random).")
@_enterprise_settings
@db_option
def enterprise_add(enterprise_id: str, name: str, secret: str | None, db: Path | None, **settings: Any) -> None:
    """Create an enterprise with its first key group; prints its id and get_token secret."""
    from harness.dudu import admin

    ent = admin.add_enterprise(_store(db), enterprise_id, name, secret, **settings)
    _echo({"enterprise_id": ent.id, "secret": ent.secret})


@dudu.command("enterprise-set")
@click.argument("enterprise_id")
@_enterprise_settings
@db_option
def enterprise_set(enterprise_id: str, db: Path | None, **settings: Any) -> None:
    """Change an enterprise's switches, window or interval (devices see it in their next heartbeat)."""
    from harness.dudu import admin

    admin.configure(_store(db), enterprise_id, **settings)


@dudu.command("line-add")
@click.argument("enterprise_id")
@click.argument("line_id")
@click.option("--name", default="")
@db_option
def line_add(enterprise_id: str, line_id: str, name: str, db: Path | None) -> None:
    """Create a bus line of an enterprise."""
    from harness.dudu import admin

    admin.add_line(_store(db), enterprise_id, line_id, name)


@dudu.command("device-add")
@click.argument("enterprise_id")
@click.argument("device_ids", nargs=-1, required=True)
@click.option("--line", "line_id", default=None, help="The line the device serves.")
@db_option
def device_add(enterprise_id: str, device_ids: tuple[str, ...], line_id: str | None, db: Path | None) -> None:
    """Register devices (card/QR readers)."""
    from harness.dudu import admin

    admin.add_devices(_store(db), enterprise_id, device_ids, line_id)


@dudu.command("card")
@click.argument("enterprise_id")
@click.argument("cards", nargs=-1)
@click.option("--flag", type=click.IntRange(0, 1), default=1, show_default=True, help="1 valid, 0 invalid (003 §4.1).")
@click.option("--blacklist", is_flag=True, help="Blacklist the cards (delivered with flag 0: D-DUDU-BLACKLIST).")
@click.option("--reset", is_flag=True, help="A full rebuild: devices must fetch the full list (version_code_all moves).")
@db_option
def card(enterprise_id: str, cards: tuple[str, ...], flag: int, blacklist: bool, reset: bool, db: Path | None) -> None:
    """Change the enterprise card whitelist; prints the new version."""
    from harness.dudu import admin

    store = _store(db)
    version = admin.set_cards(store, enterprise_id, cards, flag=flag, blacklisted=blacklist) if cards else None
    if reset:
        version = admin.reset_cards(store, enterprise_id)
    _echo({"version": version})


@dudu.command("line-card")
@click.argument("line_id")
@click.argument("cards", nargs=-1, required=True)
@click.option("--flag", type=click.IntRange(0, 1), default=1, show_default=True)
@db_option
def line_card(line_id: str, cards: tuple[str, ...], flag: int, db: Path | None) -> None:
    """Change a line whitelist (003 §4.4); prints the new version."""
    from harness.dudu import admin

    _echo({"version": admin.set_line_cards(_store(db), line_id, cards, flag=flag)})


@dudu.command("rotate-keys")
@click.argument("enterprise_id")
@db_option
def rotate_keys(enterprise_id: str, db: Path | None) -> None:
    """Rotate the enterprise's QR key group (D-DUDU-KEY-ROTATION); prints the new version_code."""
    from harness.dudu import admin

    _echo({"version_code": str(admin.rotate_keys(_store(db), enterprise_id))})


@dudu.command("missing")
@click.argument("device_id")
@db_option
def missing(device_id: str, db: Path | None) -> None:
    """Offline swipes/scans the device numbered but never logged (D-DUDU-OFFLINE-SEQ): the count, and the lowest
    numbers (at most 1,000)."""
    from harness.dudu import admin

    store = _store(db)
    listed = admin.missing_offline(store, device_id)
    count = admin.missing_offline_count(store, device_id)
    _echo({"device_id": device_id, "missing": listed, "count": count, "listed": len(listed)})


@dudu.command("fleet")
@click.argument("enterprise_id")
@click.option("--devices", "count", type=click.IntRange(1), default=100, show_default=True)
@click.option("--prefix", default="DEV", show_default=True, help="Device ids are PREFIX00001, PREFIX00002, …")
@click.option("--cards", "card_count", type=click.IntRange(0), default=1000, show_default=True, help="Whitelist cards 10000001…")
@click.option("--line", "line_id", default="L1", show_default=True)
@click.option("--secret", default=None, help="Access secret (default: fleet-secret, the fleet simulator's default).")
@db_option
def fleet(enterprise_id: str, count: int, prefix: str, card_count: int, line_id: str, secret: str | None, db: Path | None) -> None:
    """Set up an enterprise, one line, a device fleet and a whitelist for loadtests/dudu_fleet.py; prints the settings."""
    from harness.dudu import admin

    cards = [str(10000000 + i) for i in range(1, card_count + 1)]
    devices = [f"{prefix}{i:05d}" for i in range(1, count + 1)]
    ent = admin.add_fleet(_store(db), enterprise_id, devices, line_id, cards, secret or admin.FLEET_SECRET)
    _echo({"enterprise_id": ent.id, "secret": ent.secret, "devices": count, "prefix": prefix, "cards": card_count})


@click.group("dudu")
def qr_dudu() -> None:
    """DUDU ride tickets (D-DUDU-QR)."""


@qr_dudu.command("make")
@click.option("--enterprise", "enterprise_id", required=True)
@click.option("--uid", default="rider", show_default=True, help="Rider id carried in the ticket.")
@click.option("--key-id", type=click.IntRange(1, 4), default=1, show_default=True)
@click.option("--lifetime", type=click.IntRange(1), default=None, help="Seconds the ticket is valid (default 120).")
@click.option("--iat", type=int, default=None, help="Issued-at, epoch seconds (default now).")
@click.option("--png", type=click.Path(path_type=Path), default=None, help="Also write the QR code image here.")
@db_option
def qr_make(enterprise_id: str, uid: str, key_id: int, lifetime: int | None, iat: int | None, png: Path | None, db: Path | None) -> None:
    """Issue a ticket signed with the enterprise's current key group and print it."""
    from harness.dudu import admin
    from harness.dudu import qr as tickets

    text = admin.make_ticket(_store(db), enterprise_id, uid=uid, key_id=key_id, iat=iat, lifetime=lifetime or tickets.DEFAULT_LIFETIME)
    if png is not None:
        import qrcode

        qrcode.make(text).save(png)
    click.echo(text)
