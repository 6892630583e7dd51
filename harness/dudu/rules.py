"""DUDU rules, each tied to its clause in seed 003 (or to a decision in specs/decisions.yaml where the seed is silent).

A rule is ``fn(ctx, body)`` yielding :class:`~harness.rules.Fail`; the platform evaluates an operation's rules in
registration order (D-DUDU-CHECK-ORDER) and answers the first failure with that rule's ``ret_code`` (CODES).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from harness import masking
from harness.clock import BEIJING
from harness.dudu import admin, qr
from harness.rules import STOP_AT_FIRST, Fail, RuleSet
from harness.store import Store

# D-DUDU-CHECK-ORDER: the first failing check answers, with its own code; 1001 is the data-format code.
RULES = RuleSet("dudu", policy=STOP_AT_FIRST, code_kinds={1001: "malformed"})
CODES = RULES.codes
rule = RULES.rule
__all__ = ["BEIJING", "RULES", "CODES", "rule", "install"]
TIME_FORMATS = {12: "%y%m%d%H%M%S", 14: "%Y%m%d%H%M%S", 19: "%Y-%m-%d %H:%M:%S"}  # D-DUDU-TIME

DEVICE_OPS = (
    "location_report",
    "get_card_list",
    "card_check",
    "card_check_log",
    "get_line_card_list",
    "ticket_check",
    "offline_qrcode_log",
)
TIMED_OPS = ("location_report", "card_check", "card_check_log", "ticket_check", "offline_qrcode_log")
TOKEN_OPS = ("get_card_list", "get_line_card_list", "get_qrcode_keys")


@dataclass
class DuduContext:
    """What the rules of one exchange see: the store, the profile, the device (joined with its enterprise), the clock."""

    store: Store
    strict: bool
    operation: str
    now: float
    device: Any = None  # sqlite3.Row of harness.dudu.platform.DEVICE_SQL, or None
    enterprise_id: str | None = None  # of the token (token operations)
    check_time: dt.datetime | None = None
    ticket: qr.Ticket | None = None
    facts: dict[str, Any] = field(default_factory=dict)


def install(rules: RuleSet) -> RuleSet:
    return rules.extend(RULES)


def parse_time(text: Any) -> dt.datetime | None:
    """A device time in any D-DUDU-TIME form (the schema decides which forms the profile accepts)."""
    text = str(text)
    if len(text) == 12 and text.isascii() and text.isdigit():  # the strict form, on every heartbeat: by hand, strptime costs 20× more
        try:
            return dt.datetime(
                2000 + int(text[0:2]), int(text[2:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]), tzinfo=BEIJING
            )
        except ValueError:
            return None
    shape = TIME_FORMATS.get(len(text))
    if shape is None or not text.isascii():  # strptime's %y/%m/… read any script's digits ("２５…")
        return None
    try:
        return dt.datetime.strptime(text, shape).replace(tzinfo=BEIJING)
    except ValueError:
        return None


def _enterprise_on(name: str) -> Any:
    return lambda ctx, body: ctx.device is not None and ctx.device[name] == 1


# --- who is calling -------------------------------------------------------------------------------------------------
@rule(
    "DUDU-TOKEN-CREDENTIALS",
    code=1005,
    operations=("get_token",),
    decision="D-DUDU-TOKEN",
    clause="003 §4.1/§4.4/§5.2 token (通过获取token接口获取); D-DUDU-TOKEN",
    title="get_token names an enterprise and its secret",
)
def token_credentials(ctx: DuduContext, body: dict[str, Any]) -> Iterator[Fail]:
    row = ctx.store.query_one("SELECT secret FROM dudu_enterprises WHERE id = ?", (body["enterprise_id"],))
    if not admin.secret_matches(ctx.store, row["secret"] if row else None, str(body["secret"])):  # constant time
        yield Fail(f"no enterprise {body['enterprise_id']}" if row is None else "secret does not match the enterprise's", "secret")


@rule(
    "DUDU-DEVICE-KNOWN",
    code=1003,
    operations=DEVICE_OPS,
    clause="003 device_id 设备唯一id (§3.1, §4.1–§4.4, §5.3, §5.4)",
    title="device_id names a registered device",
)
def device_known(ctx: DuduContext, body: dict[str, Any]) -> Iterator[Fail]:
    if ctx.device is None:
        yield Fail(f"device {body['device_id']} is not registered (harness dudu device-add)", "device_id")


@rule(
    "DUDU-TOKEN",
    code=1004,
    operations=TOKEN_OPS,
    decision="D-DUDU-TOKEN",
    clause="003 §4.1/§4.4/§5.2 token 动态访问授权码",
    title="the token was issued by get_token, has not expired, and belongs to the device's enterprise",
)
def token_valid(ctx: DuduContext, body: dict[str, Any]) -> Iterator[Fail]:
    row = ctx.store.query_one("SELECT enterprise_id, expires FROM dudu_tokens WHERE token = ?", (masking.hide(ctx.store, body["token"]),))
    if row is None:
        yield Fail("token was not issued by get_token", "token")
    elif row["expires"] < ctx.now:
        yield Fail("token has expired; call get_token again", "token")
    elif ctx.device is not None and row["enterprise_id"] != ctx.device["enterprise_id"]:
        yield Fail(f"token belongs to enterprise {row['enterprise_id']}, not the device's", "token")
    else:
        ctx.enterprise_id = row["enterprise_id"]


@rule(
    "DUDU-ENTERPRISE-MATCH",
    code=1006,
    operations=("get_card_list", "get_line_card_list"),
    clause="003 §4.1/§4.4 enterprise_id 所属企业ID",
    title="an enterprise_id sent with the request is the device's enterprise",
    applies=lambda ctx, body: body.get("enterprise_id") not in (None, "") and ctx.device is not None,
)
def enterprise_match(ctx: DuduContext, body: dict[str, Any]) -> Iterator[Fail]:
    if str(body["enterprise_id"]) != ctx.device["enterprise_id"]:
        yield Fail(f"enterprise_id {body['enterprise_id']} is not the device's enterprise", "enterprise_id")


@rule(
    "DUDU-TIME",
    code=1001,
    operations=TIMED_OPS,
    decision="D-DUDU-TIME",
    clause="003 time (§3.1 设备当前时间, §4.2 交易时间, §4.3 刷卡时间, §5.3 验票时间, §5.4 扫码时间); D-DUDU-TIME",
    title="time is a real calendar time",
)
def time_real(ctx: DuduContext, body: dict[str, Any]) -> Iterator[Fail]:
    ctx.check_time = parse_time(body["time"])
    if ctx.check_time is None:
        yield Fail(f"time {body['time']!r} is not a real calendar time", "time")


# --- card checks (§4.2) --------------------------------------------------------------------------------------------
@rule(
    "DUDU-CARD-ENABLED",
    code=2006,
    operations=("card_check",),
    clause="003 §3.1 card_mode IC卡功能开关",
    title="the enterprise has cards on",
)
def card_enabled(ctx: DuduContext, body: dict[str, Any]) -> Iterator[Fail]:
    if ctx.device["card_mode"] != 1:
        yield Fail("card_mode is 0 (IC卡功能关闭) for this enterprise", "card_id")


def _card(ctx: DuduContext, card_no: str) -> Any:
    if "card" not in ctx.facts:
        ctx.facts["card"] = ctx.store.query_one(
            "SELECT flag, blacklisted FROM dudu_cards WHERE enterprise_id = ? AND card_no = ?", (ctx.device["enterprise_id"], card_no)
        )
    return ctx.facts["card"]


@rule(
    "DUDU-CARD-BLACKLIST",
    code=2002,
    operations=("card_check",),
    decision="D-DUDU-BLACKLIST",
    clause="003 一、2 支持黑白名单; §4.2",
    title="the card is not blacklisted",
)
def card_blacklist(ctx: DuduContext, body: dict[str, Any]) -> Iterator[Fail]:
    card = _card(ctx, body["card_id"])
    if card is not None and card["blacklisted"]:
        yield Fail(f"card {body['card_id']} is blacklisted", "card_id")


@rule(
    "DUDU-CARD-WHITELIST",
    code=2001,
    operations=("card_check",),
    clause="003 §3.1 white_mode 白名单功能开关; §4.1 刷卡验票白名单",
    title="with white_mode 1, the card is on the enterprise whitelist",
    applies=_enterprise_on("white_mode"),
)
def card_whitelist(ctx: DuduContext, body: dict[str, Any]) -> Iterator[Fail]:
    if _card(ctx, body["card_id"]) is None:
        yield Fail(f"card {body['card_id']} is not on the whitelist", "card_id")


@rule(
    "DUDU-CARD-FLAG",
    code=2003,
    operations=("card_check",),
    clause="003 §4.1 list-flag 用户状态(1:有效,0:无效)",
    title="with white_mode 1, the card's whitelist flag is 1",
    applies=_enterprise_on("white_mode"),
)
def card_flag(ctx: DuduContext, body: dict[str, Any]) -> Iterator[Fail]:
    card = _card(ctx, body["card_id"])
    if card is not None and card["flag"] != 1:
        yield Fail(f"card {body['card_id']} has flag 0 (无效)", "card_id")


@rule(
    "DUDU-CARD-LINE",
    code=2004,
    operations=("card_check",),
    decision="D-DUDU-LINE-WHITE",
    clause="003 §3.1 is_line_white 是否限定线路白名单; §4.4",
    title="with is_line_white 1, the card is on the device's line whitelist with flag 1",
    applies=_enterprise_on("is_line_white"),
)
def card_line(ctx: DuduContext, body: dict[str, Any]) -> Iterator[Fail]:
    row = ctx.store.query_one(
        "SELECT flag FROM dudu_line_cards WHERE line_id = ? AND card_no = ?", (ctx.device["line_id"], body["card_id"])
    )
    if row is None or row["flag"] != 1:
        yield Fail(f"card {body['card_id']} is not on line {ctx.device['line_id']}'s whitelist", "card_id")


# --- ticket checks (§5.3) ------------------------------------------------------------------------------------------
QR = "003 §5.3 qr_code; D-DUDU-QR"


@rule(
    "DUDU-QR-ENABLED",
    code=3006,
    operations=("ticket_check",),
    clause="003 §3.1 qrcode_mode 二维码功能开关",
    title="the enterprise has QR on",
)
def qr_enabled(ctx: DuduContext, body: dict[str, Any]) -> Iterator[Fail]:
    if ctx.device["qrcode_mode"] != 1:
        yield Fail("qrcode_mode is 0 (二维码功能关闭) for this enterprise", "qr_code")


@rule("DUDU-QR-FORMAT", code=3001, operations=("ticket_check",), decision="D-DUDU-QR", clause=QR, title="qr_code is a DD1 ticket")
def qr_format(ctx: DuduContext, body: dict[str, Any]) -> Iterator[Fail]:
    try:
        ctx.ticket = qr.parse(body["qr_code"])
    except qr.TicketError as exc:
        yield Fail(str(exc), "qr_code")


@rule(
    "DUDU-QR-ENTERPRISE",
    code=3007,
    operations=("ticket_check",),
    decision="D-DUDU-QR",
    clause=QR,
    title="the ticket is for the device's enterprise",
)
def qr_enterprise(ctx: DuduContext, body: dict[str, Any]) -> Iterator[Fail]:
    assert ctx.ticket is not None
    if ctx.ticket.eid != ctx.device["enterprise_id"]:
        yield Fail(f"ticket was issued for enterprise {ctx.ticket.eid}", "qr_code")


def _group_keys(ctx: DuduContext, version: int | None) -> dict[int, str]:
    if version is None:
        return {}
    row = ctx.store.query_one(
        "SELECT keys FROM dudu_key_groups WHERE enterprise_id = ? AND version_code = ?", (ctx.device["enterprise_id"], version)
    )
    return {int(k["key_id"]): k["key"] for k in json.loads(row["keys"])} if row else {}


@rule(
    "DUDU-QR-KEY",
    code=3002,
    operations=("ticket_check",),
    decision="D-DUDU-QR",
    clause="003 §5.2 key_id/key 密钥组; §5.3; D-DUDU-QR",
    title="the tag verifies with key key_id of the current key group",
)
def qr_key(ctx: DuduContext, body: dict[str, Any]) -> Iterator[Fail]:
    ticket = ctx.ticket
    assert ticket is not None
    current = _group_keys(ctx, ctx.device["key_version"])
    if ticket.key_id in current and qr.verify(ticket, current[ticket.key_id]):
        return
    previous = _group_keys(ctx, ctx.device["previous_key_version"])
    if ticket.key_id in previous and qr.verify(ticket, previous[ticket.key_id]):
        ctx.facts["previous_group"] = True
        return
    if ticket.key_id not in current:
        yield Fail(f"key_id {ticket.key_id} is not in the key group", "qr_code")
    else:
        yield Fail("tag does not verify with the key group", "qr_code")


@rule(
    "DUDU-QR-KEY-GROUP",
    code=3005,
    operations=("ticket_check",),
    decision="D-DUDU-KEY-ROTATION",
    clause="003 §5.2 version_code 数据版本号; D-DUDU-KEY-ROTATION",
    title="the ticket is signed by the current key group (tolerant: or by the previous one within a ticket lifetime)",
)
def qr_key_group(ctx: DuduContext, body: dict[str, Any]) -> Iterator[Fail]:
    if not ctx.facts.get("previous_group"):
        return
    rotated = ctx.device["rotated_at"] or 0
    if ctx.strict or ctx.now - rotated > qr.DEFAULT_LIFETIME:
        yield Fail(f"ticket is signed by superseded key group {ctx.device['previous_key_version']}; refresh get_qrcode_keys", "qr_code")


@rule("DUDU-QR-EXPIRY", code=3003, operations=("ticket_check",), decision="D-DUDU-QR", clause=QR, title="iat − 30 s ≤ check time ≤ exp")
def qr_expiry(ctx: DuduContext, body: dict[str, Any]) -> Iterator[Fail]:
    assert ctx.ticket is not None and ctx.check_time is not None
    at = ctx.check_time.timestamp()
    if not ctx.ticket.valid_at(at):
        when = "expired" if at > ctx.ticket.exp else "not yet valid"
        yield Fail(f"ticket {when} at the check time (iat {ctx.ticket.iat}, exp {ctx.ticket.exp})", "qr_code")


# --- window (both checks) ------------------------------------------------------------------------------------------
@rule(
    "DUDU-CHECK-WINDOW",
    code=2005,
    operations=("card_check", "ticket_check"),
    decision="D-DUDU-CHECK-WINDOW",
    clause="003 §3.1 check_start_time_format / check_end_time_format 验票开始/结束时间",
    title="the check time is inside the enterprise's daily check window",
)
def check_window(ctx: DuduContext, body: dict[str, Any]) -> Iterator[Fail]:
    assert ctx.check_time is not None
    clock = ctx.check_time.strftime("%H:%M:%S")
    if not ctx.device["check_start"] <= clock <= ctx.device["check_end"]:
        yield Fail(f"{clock} is outside the check window {ctx.device['check_start']}–{ctx.device['check_end']}", "time")


@rule(
    "DUDU-QR-REUSE", code=3004, operations=("ticket_check",), decision="D-DUDU-QR", clause=QR, title="an online check consumes the ticket"
)
def qr_reuse(ctx: DuduContext, body: dict[str, Any]) -> Iterator[Fail]:
    assert ctx.ticket is not None
    try:  # a synchronous write: two scanners racing for one ticket must not both pass
        ctx.store.execute(
            "INSERT INTO dudu_used_tickets (tid, enterprise_id, device_id, at) VALUES (?, ?, ?, ?)",
            (ctx.ticket.tid, ctx.ticket.eid, body["device_id"], dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")),
            changes_state=False,  # used tickets are looked up, never cached
        )
    except sqlite3.IntegrityError:
        yield Fail(f"ticket {ctx.ticket.tid} was already checked", "qr_code")


# --- offline logs (§4.3, §5.4) ---------------------------------------------------------------------------------------
@rule(
    "DUDU-LOG-ONCE",
    code=1007,
    operations=("card_check_log", "offline_qrcode_log"),
    decision="D-DUDU-DUP-LOG",
    clause="003 §4.3/§5.4 (离线刷卡成功与否均要调用); D-DUDU-OFFLINE-SEQ; D-DUDU-DUP-LOG",
    title="a log's (device_id, seq) holds one record: a retry of it is answered 0 and stored once, a different record under it is refused",
    applies=lambda ctx, body: body.get("seq") is not None and ctx.device is not None,
)
def log_once(ctx: DuduContext, body: dict[str, Any]) -> Iterator[Fail]:
    row = ctx.store.query_one(
        "SELECT kind, subject, status, time FROM dudu_offline_logs WHERE device_id = ? AND seq = ?", (body["device_id"], int(body["seq"]))
    )
    ctx.facts["duplicate"] = row is not None
    if row is None:
        return
    kind, subject = ("card", body.get("card_id")) if ctx.operation == "card_check_log" else ("qr", body.get("qr_code"))
    stored = (row["kind"], row["subject"], row["status"], row["time"])
    if stored != (kind, str(subject), str(body.get("status", "0")), str(body["time"])):
        # The device numbered two events alike (a counter that restarted): answering 0 would lose this one unseen.
        shown = row["subject"] if row["kind"] == "card" else f"ticket {row['subject'][:12]}…"
        yield Fail(
            f"seq {body['seq']} already holds a different record ({row['kind']} {shown} at {row['time']}, status {row['status']}): "
            "this one is not stored; number every offline event once (a device's counter continues after the last seq it logged)",
            "seq",
        )
