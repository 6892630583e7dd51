"""YXC rules, each tied to its clause in seed 000 (or to a decision in specs/decisions.yaml where it is silent).

Gate rules run before schema validation (D-YXC-CHECK-ORDER); business rules run on a schema-valid body.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from harness import limits
from harness.files import IMAGE_FORMATS
from harness.pki import Vendor
from harness.rules import REPORT_ALL, Fail, RuleSet
from harness.store import Store
from harness.yxc import codes
from harness.yxc.codes import BEIJING

ALL_OPERATIONS = ("imageup", "coach", "trainingsimulator", "student", "learningcertificate", "classrecord")
VEHICLE_CODES = {
    "01": "A1",
    "02": "A2",
    "03": "A3",
    "11": "B1",
    "12": "B2",
    "21": "C1",
    "22": "C2",
    "23": "C3",
    "24": "C4",
    "25": "C5",
    "31": "D",
    "32": "E",
    "33": "F",
    "41": "M",
    "42": "N",
    "43": "P",
}  # D-YXC-SUBJCODE
MODE_PRACTICAL, MODE_CLASSROOM, MODE_SIMULATOR, MODE_REMOTE = "1", "2", "3", "4"


@dataclass
class RuleContext:
    store: Store
    vendor: Vendor
    strict: bool
    spec: dict[str, Any]
    operation: str
    now_ms: int
    payload: bytes = b""
    upload_type: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)


# The definition table: every YXC rule, registered once at import. Platforms get their own copy via install().
RULES = RuleSet("yxc", policy=REPORT_ALL)
rule = RULES.rule


def install(rules: RuleSet) -> RuleSet:
    return rules.extend(RULES)


# --- helpers ------------------------------------------------------------------------------------------------
def _mode(body: dict[str, Any]) -> str:
    return str(body.get("subjcode", ""))[:1]


def _part(body: dict[str, Any]) -> str:
    return str(body.get("subjcode", ""))[3:4]


def _record(ctx: RuleContext, kind: str, key: str) -> dict[str, Any] | None:
    row = ctx.store.query_one(
        "SELECT inscode, body FROM yxc_records WHERE vendor = ? AND kind = ? AND key = ?", (ctx.vendor.platnum, kind, key)
    )
    return {"inscode": row["inscode"], **json.loads(row["body"])} if row else None


def _file(ctx: RuleContext, file_id: Any) -> Any:
    try:
        fid = limits.store_int(file_id)
    except (TypeError, ValueError):
        return None
    if fid is None:  # not an integer or ASCII digit string in the store range ("１２" is not a file id)
        return None
    return ctx.store.query_one("SELECT id, vendor, platnum, type, format FROM yxc_files WHERE id = ?", (fid,))


def _file_types(ctx: RuleContext) -> dict[str, Any]:
    return ctx.spec["x-file-types"]


def _time14(value: str) -> dt.datetime:
    return dt.datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=BEIJING)


# --- gate (Y11): evaluated in order by YxcPlatform.authenticate through Platform.gate, before schema validation ------
SIGN_CLAUSE = "000 附件四 URL ?v=&ts=&sign=&user="
SIGN_READING = "; accepted under D-YXC-SIGN"


@dataclass
class GateContext:
    """What the signing gate sees: the query (?v=&ts=&sign=&user=), the signed payload, the clock; the rules fill in
    the vendor the certificate names and the ts."""

    store: Store
    platform: str
    query: dict[str, str]
    payload: bytes
    now_ms: float
    ts_window_seconds: float
    vendor: Vendor | None = None
    ts: int | None = None


def _reading(message: str, field: str) -> Fail:
    """A form only D-YXC-SIGN's strict reading refuses: a SHOULD failure; it refuses under --profile strict."""
    return Fail(message + SIGN_READING, field, level="SHOULD", decision="D-YXC-SIGN")


@rule(
    "YXC-SIGN-CERT",
    kind="certificate",
    operations=ALL_OPERATIONS,
    decision="D-YXC-SIGN",
    clause=SIGN_CLAUSE + "; 000 附件二 返回码 202",
    title="user names an enrolled certificate and v names a known hash",
)
def sign_cert(g: GateContext, _: Any) -> Iterator[Fail]:
    from harness.pki import find_vendor
    from harness.signing import STRICT_VERSION, SigningError, hash_for_version

    user, version = g.query.get("user", ""), g.query.get("v", "")
    if not user:
        yield Fail("query parameter user (certificate serial) is missing", "user")
        return
    g.vendor = find_vendor(g.store, g.platform, user, case_insensitive=True)
    if g.vendor is None:
        yield Fail(f"user {user} is not an enrolled certificate", "user")
        return
    if g.vendor.user != user.lstrip("0") and g.vendor.user != user:  # leading zeros, as `openssl x509 -serial` prints, are the same number
        yield _reading(f"user {user} is not the serial in uppercase hex ({g.vendor.user})", "user")
    try:
        hash_for_version(version)
    except SigningError as exc:
        yield Fail(str(exc), "v")
        return
    if not STRICT_VERSION.match(version):
        yield _reading(f"v {version!r} does not look like 1.0.0.e2", "v")


@rule(
    "YXC-SIGN-TS-WINDOW",
    kind="timestamp",
    operations=ALL_OPERATIONS,
    decision="D-YXC-TS-WINDOW",
    clause=SIGN_CLAUSE + "; 000 附件二 返回码 201",
    title="ts is 13-digit epoch ms within 180 s of the server clock",
)
def sign_ts_window(g: GateContext, _: Any) -> Iterator[Fail]:
    ts_text = g.query.get("ts", "")
    if not (limits.ascii_digits(ts_text) and len(ts_text) == 13):  # ASCII only: "１７…" passes str.isdigit()
        yield Fail(f"ts {ts_text!r} is not 13-digit epoch milliseconds", "ts")
        return
    g.ts = int(ts_text)
    skew = abs(g.ts - g.now_ms) / 1000
    if skew > g.ts_window_seconds:
        yield Fail(f"ts is {skew:.0f} s from the server clock (max {g.ts_window_seconds} s)", "ts")


@rule(
    "YXC-SIGN-VERIFY",
    kind="certificate",
    operations=ALL_OPERATIONS,
    decision="D-YXC-SIGN",
    clause=SIGN_CLAUSE + "; 000 附件二 返回码 202",
    title="sign verifies over the exact payload and ts with the certificate's key",
)
def sign_verify(g: GateContext, _: Any) -> Iterator[Fail]:
    from harness.signing import diagnose_signature, verify_signature

    assert g.vendor is not None and g.ts is not None  # the rules before it held
    sign, version = g.query.get("sign", ""), g.query.get("v", "")
    if sign != sign.upper():
        yield _reading("sign is not uppercase hex", "sign")
    if not verify_signature(g.vendor.public_key, g.payload, g.ts, version, sign):
        hint = diagnose_signature(g.vendor.public_key, g.payload, g.ts, version, sign)
        yield Fail("sign does not verify over the payload and ts with this certificate" + (f": {hint}" if hint else ""), "sign")


@rule(
    "YXC-SIGN-TS-UNIQUE",
    kind="timestamp",
    operations=ALL_OPERATIONS,
    decision="D-YXC-TS-WINDOW",
    clause=SIGN_CLAUSE + "; 000 附件二 返回码 201 时间戳重复",
    title="a ts is used once per certificate",
)
def sign_ts_unique(g: GateContext, _: Any) -> Iterator[Fail]:
    import sqlite3

    from harness.journal import now_iso

    assert g.vendor is not None
    try:
        g.store.execute("INSERT INTO yxc_used_ts (user, ts, at) VALUES (?, ?, ?)", (g.vendor.user, g.ts, now_iso()))
    except sqlite3.IntegrityError:
        yield Fail(f"ts {g.ts} was already used by this certificate", "ts")


# --- imageup (Y5, A.5.3) -----------------------------------------------------------------------------------------
@rule(
    "YXC-FILE-FORMAT",
    kind="malformed",
    operations=("imageup",),
    decision="D-YXC-XLZM-FORMATS",
    clause="000 附件四 A.5.3 Type",
    title="the file's real bytes are one of its type's formats",
)
def file_format(ctx: RuleContext, _: Any) -> Iterator[Fail]:
    spec = _file_types(ctx)[ctx.upload_type]
    found = ctx.facts.get("format")
    if ctx.facts.get("image_problem"):  # it starts like an image and is not one (harness.limits.decode_image)
        yield Fail(f"the bytes start like {found} but are not one: {ctx.facts['image_problem']}", "file", spec["x-clause"])
        return
    allowed = set(spec["formats"])
    if "any" in allowed:
        return
    relaxed = allowed | {"jpg", "png"} if ctx.upload_type in ("xlzm", "jdcjsraqjsjl") else allowed  # D-YXC-XLZM-FORMATS
    if found not in allowed:
        shown = "jpg/jpeg" if "jpg" in allowed else ""
        names = ", ".join(sorted(allowed)).replace("jpg", shown or "jpg")
        message = f"type {ctx.upload_type} takes {names}; the bytes are {found or 'not a known format'}"
        if found in relaxed:  # a scan as an image: the strict reading refuses it
            yield Fail(message, "file", spec["x-clause"], "SHOULD", "D-YXC-XLZM-FORMATS")
        else:
            yield Fail(message, "file", spec["x-clause"])


@rule(
    "YXC-FILE-SIZE",
    kind="malformed",
    operations=("imageup",),
    decision="D-YXC-FILE-SIZE-UNIT",
    clause="000 附件四 A.5.3 Type (大小不超过 500K/1M/3M/5M)",
    title="the file is no larger than its type's cap",
)
def file_size(ctx: RuleContext, _: Any) -> Iterator[Fail]:
    spec = _file_types(ctx)[ctx.upload_type]
    if len(ctx.payload) > spec["max_bytes"]:
        message = f"type {ctx.upload_type} is capped at {spec['max_bytes']} bytes; got {len(ctx.payload)}"
        if spec.get("x-decision") == "D-YXC-FILETYPE-UNSPECIFIED":  # the seed states no cap for this type
            yield Fail(message, "file", spec["x-clause"], "SHOULD", "D-YXC-FILETYPE-UNSPECIFIED")
        else:
            yield Fail(message, "file", spec["x-clause"])
    if not ctx.payload:
        yield Fail("the file is empty", "file")


# --- file references (Y6–Y9) ---------------------------------------------------------------------------------------
@rule(
    "YXC-FILE-REF",
    operations=("coach", "trainingsimulator", "student", "learningcertificate"),
    decision="D-YXC-FILE-OWNER",
    clause="000 附件四 A.6 业务描述 (文件 ID 应先使用 A5.3 成功上传后获得)",
    title="every file-id field names a file this vendor uploaded with the matching type",
)
def file_references(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    schema = ctx.spec["components"]["schemas"][ctx.operation]
    for name, prop in schema["properties"].items():
        wanted = prop.get("x-file-type")
        if not wanted or body.get(name) in (None, ""):
            continue
        row = _file(ctx, body[name])
        clause = prop.get("x-clause", "")
        if row is None:
            yield Fail(f"file id {body[name]} was never uploaded (A.5.3)", name, clause)
        elif row["platnum"] != ctx.vendor.platnum:
            yield Fail(f"file id {body[name]} belongs to another platform", name, clause)
        elif row["type"] != wanted:
            yield Fail(f"file id {body[name]} was uploaded as type {row['type']}, this field needs {wanted}", name, clause)


@rule(
    "YXC-COACH-EMPLOY-PERIOD",
    operations=("coach",),
    clause="000 附件四 A.6.2.3.1 表A.2 #32/#33",
    title="聘用开始时间 pykssj is not after 聘用结束时间 pyjssj",
)
def employ_period(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    if str(body["pykssj"]) > str(body["pyjssj"]):
        yield Fail(f"pykssj {body['pykssj']} is after pyjssj {body['pyjssj']}", "pyjssj")


@rule(
    "YXC-REF-STUDENT",
    operations=("learningcertificate", "classrecord"),
    decision="D-YXC-REFERENCES",
    clause="000 附件四 A.6.3.1.1 (备案学员) → A.6.3.1.5, A.6.3.2",
    title="the stunum was filed by this vendor (any vendor, for a remote record) under the same inscode",
    should=True,
)
def student_filed(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    student = _record(ctx, "student", body["stunum"])
    if student is None and ctx.operation == "classrecord" and _mode(body) == "4":
        # A remote-teaching platform reports the records of students their timing platform filed (000 2.2 2); A.6.3.1.1).
        row = ctx.store.query_one("SELECT inscode, body FROM yxc_records WHERE kind = 'student' AND key = ? LIMIT 1", (body["stunum"],))
        student = {"inscode": row["inscode"]} if row else None
    if student is None:
        yield Fail(f"student {body['stunum']} was never filed (POST /student)", "stunum")
    elif student["inscode"] != body["inscode"]:
        yield Fail(f"student {body['stunum']} was filed under inscode {student['inscode']}", "inscode")


# --- classrecord (Y10, A.6.3.2) ------------------------------------------------------------------------------------
CR = "000 附件四 A.6.3.2 表A.8"


@rule("YXC-CR-PLATNUM", operations=("classrecord",), clause=f"{CR} #6", title="platnum is the platform number of the signing certificate")
def platnum_matches(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    if body["platnum"] != ctx.vendor.platnum:
        yield Fail(f"platnum {body['platnum']} is not the certificate's platform {ctx.vendor.platnum}", "platnum")


@rule(
    "YXC-CR-SUBJCODE",
    operations=("classrecord",),
    decision="D-YXC-SUBJCODE",
    clause=f"{CR} #8 (见 A4.2)",
    title="subjcode = mode 1–4, vehicle-type code, part 1–4, item, 0000",
)
def subjcode_layout(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    code = str(body["subjcode"])
    if len(code) != 10 or not limits.ascii_digits(code):
        yield Fail(f"subjcode {code!r} is not 10 digits", "subjcode")
        return
    if code[0] not in "1234":
        yield Fail(f"training mode {code[0]} is not 1–4", "subjcode")
    if code[1:3] not in VEHICLE_CODES:
        yield Fail(
            f"vehicle-type code {code[1:3]} is not one of {', '.join(sorted(VEHICLE_CODES))}", "subjcode", None, "SHOULD", "D-YXC-SUBJCODE"
        )
    if code[3] not in "1234":
        yield Fail(f"training part {code[3]} is not 1–4", "subjcode")
    if code[6:] != "0000":
        yield Fail(f"digits 7–10 must be 0000, not {code[6:]}", "subjcode")


@rule(
    "YXC-CR-DURATION",
    operations=("classrecord",),
    decision="D-YXC-DURATION",
    clause=f"{CR} #12–#14",
    title="duration = endtime − starttime in minutes, endtime after starttime",
)
def duration_matches(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    start, end = _time14(body["starttime"]), _time14(body["endtime"])
    if end <= start:
        yield Fail(f"endtime {body['endtime']} is not after starttime {body['starttime']}", "endtime")
        return
    expected = int((end - start).total_seconds() // 60)
    got = int(body["duration"])
    if got != expected:  # off by one minute: a rounding the strict reading refuses (D-YXC-DURATION)
        level = "SHOULD" if abs(got - expected) <= 1 else "MUST"
        yield Fail(f"duration {got} min, but endtime − starttime is {expected} min", "duration", None, level, "D-YXC-DURATION")


ENDTIME_SKEW_SECONDS = 180  # the ts window (D-YXC-TS-WINDOW): a platform clock that far ahead is still in step


@rule(
    "YXC-CR-ENDTIME-PAST",
    operations=("classrecord",),
    decision="D-YXC-ENDTIME-FUTURE",
    clause=f"{CR} #13 (培训结束时间); 000 2.1.2 1) (签到/签退)",
    title="endtime is not later than when the province received the record",
    should=True,
)
def endtime_not_future(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    try:
        end = _time14(body["endtime"])
    except (KeyError, TypeError, ValueError):
        return  # the schema refuses unreadable times
    ahead = end.timestamp() - ctx.now_ms / 1000
    if ahead > ENDTIME_SKEW_SECONDS:
        yield Fail(
            f"endtime {body['endtime']} (Beijing time) is {int(ahead // 60)} min after the province received the record:"
            " a training record reports a training that has ended (a UTC+8 offset applied twice, or a clock ahead?)",
            "endtime",
        )


@rule("YXC-CR-TOTAL", operations=("classrecord",), clause=f"{CR} #18–#22", title="total = part1 + part2 + part3 + part4")
def total_is_sum(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    parts = sum(int(body[f"part{i}"]) for i in range(1, 5))
    if int(body["total"]) != parts:
        yield Fail(f"total {body['total']} ≠ part1+part2+part3+part4 = {parts}", "total")


@rule(
    "YXC-CR-PHOTO2",
    operations=("classrecord",),
    clause=f"{CR} #10 (超过 15 分钟的教学必选)",
    title="photo2 is present when the training lasts more than 15 minutes (endtime − starttime)",
)
def photo2_required(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    # Judged on the primary facts (endtime − starttime), not on the minute-floored duration: a training of 15 min 30 s
    # has duration 15 and still lasted more than 15 minutes (超过15分钟).
    try:
        lasted = (_time14(body["endtime"]) - _time14(body["starttime"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        return  # the schema refuses unreadable times; YXC-CR-DURATION judges their order
    if lasted > 15 * 60 and not body.get("photo2"):
        minutes, seconds = divmod(int(lasted), 60)
        yield Fail(f"training of {minutes} min {seconds} s (endtime − starttime) needs photo2 (随机照片)", "photo2")


@rule(
    "YXC-CR-PHOTO-REF",
    operations=("classrecord",),
    decision="D-YXC-PHOTO-IDS",
    clause=f"{CR} #9–#11",
    title="photo1–photo3 are image files this vendor uploaded",
)
def photo_references(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    for name in ("photo1", "photo2", "photo3"):
        if not body.get(name):
            continue
        row = _file(ctx, body[name])
        if row is None or row["platnum"] != ctx.vendor.platnum:
            yield Fail(f"{name} {body[name]} is not a file this platform uploaded (A.5.3)", name)
        elif row["format"] not in IMAGE_FORMATS:
            yield Fail(f"{name} {body[name]} is a {row['format'] or 'non-image'} file (type {row['type']}), not a photo", name)


@rule(
    "YXC-CR-REGIONSEQ",
    operations=("classrecord",),
    clause=f"{CR} #23 (科目二教学日志必填)",
    title="regionseq is present on subject-2 records",
)
def regionseq_required(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    if _part(body) == "2" and not body.get("regionseq"):
        yield Fail("a subject-2 record (subjcode part 2) needs regionseq", "regionseq")


@rule(
    "YXC-CR-LOGOUTINFO-REQUIRED",
    operations=("classrecord",),
    clause=f"{CR} #25 (非远程网络教学为必填)",
    title="logoutinfo is present unless the record is remote teaching",
)
def logoutinfo_required(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    if _mode(body) != MODE_REMOTE and not body.get("logoutinfo"):
        yield Fail("logoutinfo is required for every record except remote teaching (subjcode mode 4)", "logoutinfo")


@rule(
    "YXC-CR-NONROAD-ZERO",
    operations=("classrecord",),
    clause=f"{CR} #15–#16 (非实操时为 0)",
    title="mileage and avevelocity are 0 unless the record is practical training",
)
def nonroad_zero(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    if _mode(body) != MODE_PRACTICAL:
        for name in ("mileage", "avevelocity"):
            if float(body[name]) != 0:
                yield Fail(f"{name} must be 0 for a non-practical record (mode {_mode(body)}), got {body[name]}", name)


def _check_code(ctx: RuleContext, body: dict[str, Any], name: str, kind: str) -> Iterator[Fail]:
    value = body.get(name)
    if not value:
        return
    code = codes.find(ctx.store, str(value))
    label = "sign-in" if kind == "login" else "sign-out"
    if code is None:
        yield Fail(f"{name} is not a {label} code the mini-program issued (000 附件二 code)", name)
        return
    if code.kind != kind:
        yield Fail(f"{name} is a {code.kind} code, not a {label} code", name)
    if code.stunum != body["stunum"]:
        yield Fail(f"{name} was issued to stunum {code.stunum}, not {body['stunum']}", name)
    if kind == "login" and _time14(body["starttime"]).timestamp() * 1000 > code.expires_ms:
        yield Fail(f"training started after {name} expired at {code.expirationtime}", name)
    elif ctx.now_ms > code.expires_ms:  # filed after the code's expiry: the strict reading of D-YXC-LOGININFO
        yield Fail(f"{name} expired at {code.expirationtime} (expirationtime)", name, None, "SHOULD", "D-YXC-LOGININFO")
    key = f"{body['stunum']}/{body['recnum']}"
    if code.record_key not in (None, key):
        yield Fail(f"{name} already backs record {code.record_key}", name, None, "SHOULD", "D-YXC-LOGININFO")


@rule(
    "YXC-CR-LOGININFO",
    operations=("classrecord",),
    decision="D-YXC-LOGININFO",
    clause=f"{CR} #24; 000 附件二 code/expirationtime",
    title="logininfo is an unexpired sign-in code issued to that stunum",
)
def logininfo_issued(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    yield from _check_code(ctx, body, "logininfo", "login")


@rule(
    "YXC-CR-LOGOUTINFO",
    operations=("classrecord",),
    decision="D-YXC-LOGININFO",
    clause=f"{CR} #25; 000 附件二 code/expirationtime",
    title="logoutinfo, when present, is an unexpired sign-out code issued to that stunum",
)
def logoutinfo_issued(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    yield from _check_code(ctx, body, "logoutinfo", "logout")


@rule(
    "YXC-CR-SIM-CARNUM",
    operations=("classrecord",),
    decision="D-YXC-SIM-CARNUM",
    clause=f"{CR} #4 (模拟器教学日志填写模拟器编号)",
    title="a simulator record's carnum ends in a simulator number filed for that inscode",
    applies=lambda ctx, body: _mode(body) == MODE_SIMULATOR,
    should=True,
)
def simulator_carnum(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    sim = _record(ctx, "trainingsimulator", f"{body['inscode']}/{str(body['carnum'])[-4:]}")
    if sim is None:
        yield Fail(f"carnum {body['carnum']} does not end in a simulatornum filed for inscode {body['inscode']}", "carnum")


@rule(
    "YXC-REF-COACH",
    operations=("classrecord",),
    decision="D-YXC-REFERENCES",
    clause=f"{CR} #3; 000 附件四 A.6.2.3.1",
    title="a practical record's coachnum was filed by this vendor",
    applies=lambda ctx, body: _mode(body) == MODE_PRACTICAL,
    should=True,
)
def coach_filed(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    if _record(ctx, "coach", body["coachnum"]) is None:
        yield Fail(f"coach {body['coachnum']} was never filed (POST /coach)", "coachnum")
