"""`harness ymt …`: reference data of the YMT platform (apps, people, merchants, scanners), its up/down switch, and the
scene scanner simulator. Commands parse arguments, call harness.ymt.admin or harness.ymt.scanner, and print JSON; every
error is one line and exit 2 (harness.cli's root group)."""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path
from typing import Any

import click

from harness.cli_options import db_option, writable
from harness.config import default_db_path


def _store(db: Path | None) -> Any:
    from harness.schema import open_store

    return open_store(db or default_db_path())


def _echo(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False))


def _list(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _error(message: str) -> Exception:
    from harness.ymt.admin import YmtError

    return YmtError(message)  # the root group prints it as one line and exits 2


def _read(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise _error(f"{path}: {exc.strerror if isinstance(exc, OSError) else exc}") from None


MERCHANT_FILES = ("merchant-key.pem", "merchant-public.pem", "trust-anchor.pem", "merchant.json")


def _check_merchant_dir(out_dir: Path) -> None:
    """A folder merchant-add can write, holding no merchant's files yet: another merchant's merchant-key.pem was
    overwritten (its private key lost, the store keeps only the public one), and an unwritable folder left the
    merchant stored without its key."""
    held = [name for name in MERCHANT_FILES if (out_dir / name).exists()]
    if held:
        raise _error(f"{out_dir} already holds {', '.join(held)} (another merchant's key?): give another --out folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _error(f"cannot make {out_dir}: {exc.strerror or exc}") from None
    if not os.access(out_dir, os.W_OK):
        raise _error(f"cannot write in {out_dir}: permission denied")


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


@click.group()
def ymt() -> None:
    """YMT 一码通 platform: channel apps, people, merchants and scanners, down/up, and the scene scanner."""


@ymt.command("app-add")
@click.argument("app_id")
@click.option("--name", default="", help="Display name.")
@db_option
def app_add(app_id: str, name: str, db: Path | None) -> None:
    """Register a channel app (表B.5 appId)."""
    from harness.ymt import admin

    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", app_id):  # 表B.5 appId as specs/ymt/platform.yaml bounds it
        raise _error(f"an appId is 1–64 characters of A–Z, a–z, 0–9, _ and - (表B.5 appId), not {app_id[:40]!r}")
    admin.add_app(_store(db), app_id, name)
    _echo({"appId": app_id})


@ymt.command("user-add")
@click.option("--name", required=True, help="姓名, 2–20 characters.")
@click.option("--id-card", required=True, help="18-character 居民身份证 number (check digit verified).")
@click.option("--mobile", default=None)
@click.option("--veteran", is_flag=True, help="Tag 退役军人.")
@click.option("--talent", default=None, help="Talent level, e.g. E (tag E类人才).")
@click.option("--app", "app_id", default=None, help="Also record consent for this channel app and issue an accessToken.")
@click.option("--scope", default="concealName,concealCard", show_default=True, help="Data fields consented to (comma-separated).")
@db_option
def user_add(
    name: str, id_card: str, mobile: str | None, veteran: bool, talent: str | None, app_id: str | None, scope: str, db: Path | None
) -> None:
    """A person who passed the real-name check (001 §7.1.1); with --app, their consent (§7.1.2) and an accessToken."""
    from harness.ymt import admin

    user = admin.add_user(_store(db), name, id_card, mobile=mobile, veteran=veteran, talent=talent, app_id=app_id, scope=_list(scope))
    _echo({"userId": user.user_id, "appId": user.app_id, "scope": list(user.scope), "accessToken": user.access_token})


@ymt.command("merchant-add")
@click.option(
    "--public-key", "public_key", type=click.Path(path_type=Path, dir_okay=False), default=None, help="The merchant's RSA public key (PEM)."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Generate a key pair and write the merchant's files here.",
)
@click.option("--id", "merchant_id", default=None, help="merchantId (default: M + 8 random digits).")
@click.option("--scene-name", default="scene", show_default=True)
@click.option("--scene-type", default="其他", show_default=True, help="One of the scene types of 附录A (一码入园, 一码就医 …).")
@click.option("--service-types", default="20000", show_default=True, help="表1 service types (comma-separated).")
@click.option("--qrcode-types", default="ymt,gj", show_default=True, help="Code types the scene decodes.")
@click.option("--fields", default="concealName,concealCard", show_default=True, help="Data fields the scene needs (所需信息).")
@click.option("--aes-profile", type=click.Choice(["AES-256-GCM", "AES-128-CBC", "AES-128-ECB"]), default="AES-256-GCM", show_default=True)
@db_option
def merchant_add(
    public_key: Path | None,
    out_dir: Path | None,
    merchant_id: str | None,
    scene_name: str,
    scene_type: str,
    service_types: str,
    qrcode_types: str,
    fields: str,
    aes_profile: str,
    db: Path | None,
) -> None:
    """Register a scene side (001 §8.1.1) and print its merchantId and AES reply key (D-YMT-AES).

    With --out the harness makes the merchant's RSA key pair and writes merchant-key.pem (private), merchant-public.pem,
    trust-anchor.pem (verifies the emergency trust list) and merchant.json (what `harness ymt scan --config` reads)."""
    from harness.ymt import admin

    if (public_key is None) == (out_dir is None):
        raise _error("give exactly one of --public-key PEM or --out DIR")
    try:
        kinds = [int(t) for t in _list(service_types)]
    except ValueError:
        raise _error("--service-types takes numbers, e.g. 20000") from None
    unknown_types = sorted(set(_list(qrcode_types)) - set(admin.QRCODE_TYPES.values()))
    if unknown_types:
        raise _error(f"unknown --qrcode-types {unknown_types}; known: {', '.join(admin.QRCODE_TYPES.values())}")
    private = None
    pem = _read(public_key)
    if out_dir is not None:
        _check_merchant_dir(out_dir)  # before the merchant is stored
        private = admin.new_rsa_key()
        pem = admin.public_pem(private.public_key())
    store = _store(db)
    assert pem is not None
    merchant = admin.add_merchant(
        store,
        public_key=pem,
        merchant_id=merchant_id,
        scene_name=scene_name,
        scene_type=scene_type,
        service_types=kinds,
        qrcode_types=_list(qrcode_types),
        fields=_list(fields),
        aes_profile=aes_profile,
    )
    anchor = admin.platform_keys(store).anchor_pem
    out: dict[str, Any] = {
        "merchantId": merchant.merchant_id,
        "aesProfile": merchant.aes_profile,
        "weak": merchant.weak,
        "aesKey": base64.b64encode(merchant.aes_key).decode("ascii"),
        "aesKeyWrapped": merchant.aes_key_wrapped,
    }
    if out_dir is not None and private is not None:
        _write_private(out_dir / "merchant-key.pem", admin.private_pem(private))
        (out_dir / "merchant-public.pem").write_text(pem, encoding="utf-8")
        (out_dir / "trust-anchor.pem").write_text(anchor, encoding="utf-8")
        config = {**out, "privateKeyFile": "merchant-key.pem", "trustAnchorFile": "trust-anchor.pem"}
        _write_private(out_dir / "merchant.json", json.dumps(config, ensure_ascii=False, indent=2).encode("utf-8"))
        out = {k: v for k, v in out.items() if k != "aesKey"} | {"files": str(out_dir), "config": str(out_dir / "merchant.json")}
    else:
        out["trustAnchor"] = anchor
    _echo(out)


@ymt.command("device-add")
@click.argument("merchant_id")
@click.argument("mac_id")
@click.option(
    "--public-key",
    "public_key",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The scanner's own RSA public key (PEM).",
)
@db_option
def device_add(merchant_id: str, mac_id: str, public_key: Path | None, db: Path | None) -> None:
    """Enrol a scanner (表B.4 macId) under its merchant (001 §8.1.2; D-YMT-ENROL)."""
    from harness.ymt import admin

    admin.add_device(_store(db), merchant_id, mac_id, _read(public_key))
    _echo({"merchantId": merchant_id, "macId": mac_id, "ownKey": public_key is not None})


@ymt.command("code")
@click.argument("user_id")
@click.option("--app", "app_id", required=True, help="The channel app the person consented to.")
@click.option("--type", "qrcode_type", type=click.Choice(["ymt", "gj"]), default="ymt", show_default=True, help="ymt (B.1) or gj (B.3).")
@click.option("--png", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Also write the QR image here.")
@click.option("--expired", is_flag=True, help="A code whose 60 s have already passed (B.4 answers PY3002).")
@db_option
def code(user_id: str, app_id: str, qrcode_type: str, png: Path | None, expired: bool, db: Path | None) -> None:
    """Make a fresh code for a person, as B.1 would, and print its value (what the QR image holds; lives 60 s)."""
    from harness.ymt import admin

    if png is not None:
        writable(png)  # before the code is issued: it revokes the person's previous code
    value = admin.issue_code(_store(db), user_id, app_id, qrcode_type, expired=expired)
    if png is not None:
        import qrcode

        qrcode.make(value).save(png)
    click.echo(value)


@ymt.command("gate-setup")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Where loadtests/ymt_gate.py reads the merchant and the people.",
)
@click.option("--devices", type=click.IntRange(1, 9999), default=50, show_default=True, help="Scanners GATE-0001, GATE-0002, …")
@click.option("--people", type=click.IntRange(1, 9000), default=1000, show_default=True, help="People with an accessToken of app gate-app.")
@db_option
def gate_setup(out_dir: Path, devices: int, people: int, db: Path | None) -> None:
    """Set up a merchant, its scanners and the people of a morning rush for loadtests/ymt_gate.py (one transaction)."""
    from harness.ymt import admin

    _echo(admin.gate_world(_store(db), out_dir, devices=devices, people=people))


@ymt.command("down")
@db_option
def down(db: Path | None) -> None:
    """Mark the platform down: B.1–B.5 answer PY9002 and scanners verify emergency codes offline (001 §7.2.2)."""
    from harness.ymt import admin

    admin.set_down(_store(db), True)
    _echo({"down": True})


@ymt.command("up")
@db_option
def up(db: Path | None) -> None:
    """Bring the platform back up."""
    from harness.ymt import admin

    admin.set_down(_store(db), False)
    _echo({"down": False})


@ymt.command("trust-anchor")
@db_option
def trust_anchor(db: Path | None) -> None:
    """Print the trust anchor's public key (PEM): scanners are provisioned with it to verify the trust list."""
    from harness.ymt import admin

    click.echo(admin.platform_keys(_store(db)).anchor_pem, nl=False)


def _scanner(target: str, config: Path, mac_id: str, key: Path | None) -> Any:
    from harness.ymt.scanner import Scanner, http_sender

    return Scanner.from_files(config, mac_id, http_sender(target), key)


@ymt.command("trust-list")
@click.option("--target", required=True, help="The platform's base URL, e.g. http://127.0.0.1:8000/ymt.")
@click.option(
    "--config", type=click.Path(path_type=Path, dir_okay=False, exists=True), required=True, help="merchant.json of merchant-add --out."
)
@click.option("--anchor", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Trust anchor PEM (default: the config's).")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True, help="Where to keep the verified list.")
def trust_list(target: str, config: Path, anchor: Path | None, out: Path) -> None:
    """Fetch the emergency trust list ahead of time, verify it against the anchor, and keep it (D-YMT-EMERGENCY)."""
    scanner = _scanner(target, config, "trust-list", None)
    document = scanner.fetch_trust_list(_read(anchor or _anchor_of(config)) or "")
    out.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    _echo({"kept": str(out), "expiresAt": document["trustList"]["expiresAt"], "keys": len(document["trustList"]["keys"])})


def _append(log: Path, record: dict[str, Any]) -> None:
    with log.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def _anchor_of(config: Path) -> Path:
    try:
        return config.parent / json.loads(config.read_text(encoding="utf-8")).get("trustAnchorFile", "trust-anchor.pem")
    except (OSError, ValueError) as exc:
        raise _error(f"{config}: {exc}") from None


def shown_fields(fields: dict[str, Any] | None) -> dict[str, Any] | None:
    """Decrypted identity fields as the console shows them: personal values masked (harness.masking), the platform's
    own concealed forms (concealName, concealCard …) left as the platform sent them."""
    if fields is None:
        return None
    from harness.masking import mask_value

    return {k: v if k.startswith("conceal") else mask_value(v, k) for k, v in fields.items()}


@ymt.command("scan")
@click.option("--target", default=None, help="The platform's base URL, e.g. http://127.0.0.1:8000/ymt (not needed offline).")
@click.option(
    "--config", type=click.Path(path_type=Path, dir_okay=False, exists=True), required=True, help="merchant.json of merchant-add --out."
)
@click.option("--mac", "mac_id", required=True, help="The scanner's macId (harness ymt device-add).")
@click.option(
    "--key",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Signing key PEM (default: the merchant's; a scanner enrolled with its own key signs with it).",
)
@click.option(
    "--code", "text", required=True, help="The scanned QR content: YMTQ… (decoded by B.4) or YMT1:… (an emergency code, verified offline)."
)
@click.option(
    "--trust-list",
    "trust_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The list kept by `harness ymt trust-list` (emergency codes).",
)
@click.option("--time", "time_", default=None, help="Send this time (yyyyMMddHHmmss) instead of now: to see PY2002.")
@click.option(
    "--answers",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Append each decrypted answer and each emergency verdict to this log (JSON lines; certify --answers reads it).",
)
@click.option(
    "--show-personal-data",
    is_flag=True,
    help="Print the decrypted fields in clear (userName, idCard, mobile … are masked on the console by default; the platform's "
    "concealed forms are shown as sent; the --answers log keeps what was decrypted).",
)
def scan(
    target: str | None,
    config: Path,
    mac_id: str,
    key: Path | None,
    text: str,
    trust_file: Path | None,
    time_: str | None,
    answers: Path | None,
    show_personal_data: bool,
) -> None:
    """Scan a code as a scene's scanner: sign and send B.4, decrypt, print the fields; or verify an emergency code
    offline. Exit 0 when the code is accepted, 1 when it is refused (the return code is printed)."""
    import sys

    from harness.ymt import crypto
    from harness.ymt.scanner import verify_offline

    if text.startswith(crypto.PREFIX):
        if trust_file is None:
            raise _error("an emergency code is verified offline: give --trust-list (harness ymt trust-list)")
        import time

        from harness.ymt.scanner import emergency_record

        document = json.loads(_read(trust_file) or "null")
        merchant_id = str(json.loads(_read(config) or "{}").get("merchantId", ""))
        try:
            result = verify_offline(text, document, _read(_anchor_of(config)) or "")
        except crypto.EmergencyCodeError as exc:
            if answers is not None:
                _append(answers, emergency_record(merchant_id, mac_id, text, False, exc.reason, time.time()))
            _echo({"offline": True, "valid": False, "reason": exc.reason, "detail": str(exc)})
            sys.exit(1)
        if answers is not None:
            _append(answers, emergency_record(merchant_id, mac_id, text, True, None, time.time()))
        _echo({"offline": True, "valid": True, "issuer": result.issuer, "claims": result.claims.as_json()})
        return
    if target is None:
        raise _error("--target is needed to decode a platform code")
    result = _scanner(target, config, mac_id, key).decode(text, time=time_)
    if answers is not None and result.fields is not None:
        from harness.ymt.scanner import answer_record

        _append(answers, answer_record(result))
    _echo({"code": result.code, "msg": result.msg, "fields": result.fields if show_personal_data else shown_fields(result.fields)})
    if not result.ok:
        sys.exit(1)


@ymt.command("channel")
@click.option("--target", required=True, help="The platform's base URL, e.g. http://127.0.0.1:8000/ymt (or a vendor's own platform).")
@click.option("--app", "app_id", required=True, help="The channel app's appId (表B.5; on the harness: harness ymt app-add).")
@click.option("--code", "auth_code", default=None, help="An authorisation code the person's consent gave the app (B.5 code).")
@click.option("--token", "token", default=None, help="An accessToken already held (skips the authorise step).")
@click.option("--name", default=None, help="On the harness: run the real-name check and consent for this 姓名 first (D-YMT-FLOW).")
@click.option("--id-card", default=None, help="On the harness: the person's 18-character ID number (with --name).")
@click.option(
    "--scope",
    default="concealName,concealCard,userName,idCard,tags",
    show_default=True,
    help="On the harness: the data fields the person consents to (with --name).",
)
@click.option(
    "--steps",
    default=",".join(("authorise", "generate", "refresh", "tags", "channel")),
    show_default=True,
    help="Steps in order: authorise (B.5), generate (B.1), refresh (B.1 again), tags (B.2), channel (B.3), emergency.",
)
@click.option("--latitude", default="30.2741", show_default=True, help="表B.1 latitude (decimal degrees as a string).")
@click.option("--longitude", default="120.1551", show_default=True, help="表B.1 longitude.")
@click.option("--png", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Write the last QR image shown here.")
@click.option(
    "--token-out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Keep the accessToken in this file (mode 0600)."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per step (for machines) instead of one line per step.")
@click.option("--timeout", type=click.FloatRange(0.1, 300), default=10.0, show_default=True, help="Seconds per request.")
def channel(
    target: str,
    app_id: str,
    auth_code: str | None,
    token: str | None,
    name: str | None,
    id_card: str | None,
    scope: str,
    steps: str,
    latitude: str,
    longitude: str,
    png: Path | None,
    token_out: Path | None,
    as_json: bool,
    timeout: float,
) -> None:
    """Act as a channel app: authorise (B.5), show the code (B.1, its PNG QR decoded), refresh it, the tags (B.2) and the
    channel code (B.3). One line per step (--json: one JSON object); exit 0 when every step succeeded, 1 when the
    platform refused one, 2 for bad input or an unreachable platform."""
    import sys
    from urllib.parse import urlsplit

    from harness.ymt import channel as sim

    if urlsplit(target).scheme not in ("http", "https") or not urlsplit(target).netloc:
        raise _error(f"--target must be an http:// or https:// URL, not {target!r}")
    wanted = tuple(_list(steps))
    unknown = [s for s in wanted if s not in (*sim.STEPS, "emergency")]
    if not wanted or unknown:
        raise _error(f"unknown steps {unknown or '(none given)'}; steps: {', '.join((*sim.STEPS, 'emergency'))}")
    if (name is None) != (id_card is None):
        raise _error("--name and --id-card go together (the harness's real-name check)")
    given = [flag for flag, value in (("--code", auth_code), ("--token", token), ("--name", name)) if value]
    if len(given) > 1:
        raise _error(f"give one of --code, --token or --name/--id-card, not {' and '.join(given)}")
    if token:
        wanted = tuple(s for s in wanted if s != "authorise")
        if not wanted:
            raise _error("with --token there is nothing to authorise: choose --steps generate,refresh,tags,channel or emergency")
    elif not given and "authorise" in wanted:
        raise _error("authorise needs an authorisation code: --code CODE, or --name/--id-card on the harness (or --token TOKEN)")
    app = sim.ChannelApp(sim.http_transport(target, timeout=timeout), app_id, access_token=token)

    def show(step: Any) -> None:
        click.echo(json.dumps(step.as_json(), ensure_ascii=False) if as_json else step.line())

    done: list[Any] = []
    if name is not None and id_card is not None:
        checked = app.realname(name, id_card.upper())
        show(checked)
        done.append(checked)
        if checked.passed:
            consented = app.consent(checked.detail["userId"], _list(scope))
            show(consented)
            done.append(consented)
            auth_code = consented.detail.pop("_code", None)
        if not auth_code:
            sys.exit(1)
    done += sim.run(app, wanted, code=auth_code, latitude=latitude, longitude=longitude, on_step=show)
    if token_out is not None and app.access_token:
        _write_private(token_out, app.access_token.encode("ascii"))
    if png is not None:
        shown = [s for s in done if s.reply is not None and s.detail.get("png")]
        if shown:
            import base64 as b64

            png.write_bytes(b64.b64decode(shown[-1].reply.response["qrcodeBase64"]))
    if not all(s.passed for s in done):
        sys.exit(1)
