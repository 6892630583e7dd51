"""ZJPX rules, each tied to its clause in seed 002 (or to a decision in specs/decisions.yaml where the seed is silent).

Rules are plain functions of ``(ctx, body)`` over the facts the platform loaded from the store (class, enrolment,
resource, open session, bizCode…); they yield :class:`Fail` and never write. ``kind`` picks the returnCode of a
refusal: ``business`` → "1", ``malformed`` → "2", ``token`` → "3" (D-ZJPX-RETURNCODE); ``advisory`` findings are
journaled but do not refuse the call.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from harness import idnumbers, limits
from harness.masking import mask_id
from harness.rules import REPORT_ALL, Fail, RuleSet
from harness.store import Store
from harness.zjpx.state import Resource, num, person_key

RULES = RuleSet("zjpx", policy=REPORT_ALL)
rule = RULES.rule

STUDY_OPS = (
    "startStudy",
    "endStudy",
    "getFaceCompareConfig",
    "thirdFaceCompare",
    "getVerificationCode",
    "submitRecordVideoUrl",
    "studyHour",
)
PLATFORM_CODE_OPS = (*STUDY_OPS, "authentication", "submitVerificationCode", "updateErcunPhotosUrl", "thirdCoursePush")
TOKEN_OPS = (
    *PLATFORM_CODE_OPS,
    "teacherInfo",
    "courseInfo",
    "studentInfo",
    "classInfo",
    "classStudentStudy",
)
MAX_IMAGE_BYTES = 2 * 1024 * 1024  # 002 §1.6.2 压缩后图片大小不要超过2M (D-ZJPX-FACE-IMAGE)
MAX_W, MAX_H = 1920, 1080  # 002 §1.6.2 图片尺寸在1920x1080以下
BLANK_STDDEV = 8.0  # D-ZJPX-FACE-RULE: below this the frame shows nothing


@dataclass
class RuleContext:
    store: Store
    strict: bool
    platform_code: str
    operation: str
    now_ms: int
    facts: dict[str, Any] = field(default_factory=dict)


def install(rules: RuleSet) -> RuleSet:
    return rules.extend(RULES)


def data(body: dict[str, Any]) -> Any:
    return body.get("data")


def gb11643_ok(number: str) -> bool:
    return idnumbers.valid(number, lower_x=True)


# --- gate: token (ZjpxPlatform.authenticate, through Platform.gate) and login (in thlogin) ----------------------------
@dataclass
class GateContext:
    """What the token gate sees: the store, the profile, the request's headers object, the clock; ``found`` is the
    token it found (the platform keeps it for the handlers)."""

    store: Store
    strict: bool
    headers: dict[str, Any]
    now_ms: int
    found: Any = None


@rule(
    "ZJPX-TOKEN",
    kind="token",
    operations=TOKEN_OPS,
    decision="D-ZJPX-TOKEN",
    clause="002 通用请求参数 userToken; §1.1.1 (token有效期为2小时)",
    title="headers.userToken is an acceptToken from /api/v1/thlogin issued less than 2 hours ago",
)
def token_is_valid(ctx: GateContext, _: Any) -> Iterator[Fail]:
    from harness.zjpx import accounts

    token = ctx.headers.get("userToken")
    if not token and not ctx.strict:
        token = ctx.headers.get("user_token")  # D-ZJPX-TOKEN-HEADER
    if not token:
        hint = " (user_token is accepted only under --profile tolerant, D-ZJPX-TOKEN-HEADER)" if ctx.headers.get("user_token") else ""
        yield Fail(f"headers.userToken is missing or empty: log in with /api/v1/thlogin first{hint}", "headers.userToken")
        return
    ctx.found = accounts.find_token(ctx.store, str(token))
    if ctx.found is None:
        yield Fail("userToken is not a token /api/v1/thlogin issued", "headers.userToken")
    elif ctx.now_ms > ctx.found.expires_ms:
        yield Fail(f"userToken expired {(ctx.now_ms - ctx.found.expires_ms) / 1000:.0f} s ago (valid 2 hours)", "headers.userToken")


@rule(
    "ZJPX-LOGIN",
    kind="token",
    operations=("thlogin",),
    clause="002 §1.1.2 (studyPlatformAcount, passWord)",
    title="the account exists and the password is right",
)
def _gate_login(ctx: Any, _: Any) -> None:
    return None


# --- identity ---------------------------------------------------------------------------------------------------
@rule(
    "ZJPX-PLATFORM-CODE",
    operations=PLATFORM_CODE_OPS,
    decision="D-ZJPX-TOKEN",
    clause="002 §1.2.2 ff. studyPlatformCode (学习平台编码)",
    title="data.studyPlatformCode is the code of the account that logged in",
)
def platform_code_matches(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    items = data(body) if isinstance(data(body), list) else [data(body)]
    for i, item in enumerate(items):
        code = item.get("studyPlatformCode") if isinstance(item, dict) else None
        if code is not None and str(code).lower() != ctx.platform_code.lower():
            where = f"data.{i}.studyPlatformCode" if isinstance(data(body), list) else "data.studyPlatformCode"
            yield Fail(f"studyPlatformCode {code} is not the logged-in platform's code {ctx.platform_code}", where)


def _card_fields(body: dict[str, Any]) -> Iterator[tuple[str, str]]:
    d = data(body)
    if isinstance(d, list):
        for i, item in enumerate(d):
            if isinstance(item, dict) and "stuCard" in item:
                yield f"data.{i}.stuCard", str(item["stuCard"])
        return
    for name in ("cardNo", "teaCard"):
        if name in d:
            yield f"data.{name}", str(d[name])
    for i, s in enumerate(d.get("thirdClassStudentInfoVoList") or []):
        if isinstance(s, dict) and "cardNo" in s:
            yield f"data.thirdClassStudentInfoVoList.{i}.cardNo", str(s["cardNo"])


@rule(
    "ZJPX-CARDNO-CHECK",
    kind="malformed",
    operations=("authentication", "updateErcunPhotosUrl", "teacherInfo", "studentInfo", "classInfo"),
    decision="D-ZJPX-CARDNO",
    clause="002 §1.2.2 cardNo 身份证号码 (GB 11643)",
    title="an ID number has the right GB 11643 check character",
    should=True,  # the decision's strict reading: a warning, refusing only under --profile strict
)
def card_check_digit(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    for where, number in _card_fields(body):
        if not gb11643_ok(number):
            yield Fail(f"{mask_id(str(number))} is not an 18-character ID number with a valid GB 11643 check character", where)


@rule(
    "ZJPX-REALNAME",
    operations=("authentication",),
    clause="002 §1.2.1 (根据用户身份证号码和姓名，验证实名状态)",
    title="cardNo and name are those of a learner enrolled on this platform",
)
def realname(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    person = ctx.facts.get("learner")
    if person is None:
        yield Fail(f"no learner with cardNo {mask_id(str(data(body)['cardNo']))} is enrolled on this platform (§2.3/§2.4)", "data.cardNo")
    elif person["name"] != person_key(ctx.store, data(body)["name"]):  # the roster keeps keyed hashes
        yield Fail("name does not match the enrolled learner with this cardNo", "data.name")


# --- references ---------------------------------------------------------------------------------------------------
@rule(
    "ZJPX-REF-CLASS",
    operations=(*STUDY_OPS, "classStudentStudy"),
    decision="D-ZJPX-REFERENCES",
    clause="002 §1.3.2 ff. classCode (班级编码)",
    title="classCode names a class filed for this platform",
)
def class_known(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    if ctx.facts.get("class") is None:
        yield Fail(
            f"class {data(body)['classCode']} was never filed for this platform (§2.4 or `harness zjpx class add`)", "data.classCode"
        )


@rule(
    "ZJPX-REF-ENROLMENT",
    operations=STUDY_OPS,
    decision="D-ZJPX-REFERENCES",
    clause="002 §1.3.2 ff. studentUserCode (学员用户编码)",
    title="studentUserCode is a learner enrolled in that class",
    applies=lambda ctx, body: ctx.facts.get("class") is not None,
)
def learner_enrolled(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    if ctx.facts.get("enrolment") is None:
        yield Fail(f"learner {data(body)['studentUserCode']} is not enrolled in class {data(body)['classCode']}", "data.studentUserCode")


@rule(
    "ZJPX-REF-COURSE",
    operations=("startStudy", "submitRecordVideoUrl", "studyHour"),
    decision="D-ZJPX-REFERENCES",
    clause="002 §1.3.2 courseCode (课程编码)",
    title="courseCode is a course of that class",
    applies=lambda ctx, body: ctx.facts.get("class") is not None,
)
def course_of_class(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    code = str(data(body)["courseCode"])
    if code not in ctx.facts.get("class_courses", set()):
        yield Fail(f"course {code} is not a course of class {data(body)['classCode']}", "data.courseCode")


@rule(
    "ZJPX-REF-RESOURCE",
    operations=STUDY_OPS,
    decision="D-ZJPX-REFERENCES",
    clause="002 §1.3.2 resCode (视频资源编码); §1.13.2 sectionSourceList",
    title="resCode is a video of that course (class tree or a pushed, undeleted course package)",
    applies=lambda ctx, body: ctx.facts.get("class") is not None,
)
def resource_known(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    if ctx.facts.get("resource") is None:
        yield Fail(f"resource {data(body)['resCode']} is not a video of this class's courses", "data.resCode")


# --- sessions -------------------------------------------------------------------------------------------------------
@rule(
    "ZJPX-REALNAME-FIRST",
    operations=("startStudy",),
    decision="D-ZJPX-SESSIONS",
    clause="002 §1.12.2 realNameAuthentication (1=需要); §1.2",
    title="when the class needs real-name authentication, the learner passed /api/v1/authentication before studying",
    applies=lambda ctx, body: ctx.facts.get("enrolment") is not None and ctx.facts["config"]["realNameAuthentication"] == 1,
)
def realname_first(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    if not ctx.facts.get("realname_verified"):
        yield Fail("the class needs real-name authentication and this learner never passed /api/v1/authentication", "data.studentUserCode")


@rule(
    "ZJPX-SESSION-OPEN",
    operations=("endStudy", "getFaceCompareConfig", "getVerificationCode", "thirdFaceCompare", "studyHour"),
    decision="D-ZJPX-SESSIONS",
    clause="002 §1.3.1 (每次开始观看视频时调用一次); §1.4.1",
    title="a study session for that learner, class and video is open (startStudy without endStudy)",
    applies=lambda ctx, body: ctx.facts.get("enrolment") is not None and ctx.facts.get("resource") is not None,
)
def session_open(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    if ctx.facts.get("session") is not None:
        return
    if ctx.operation in PRE_SESSION_FACE:  # the seed orders neither before the other: only the strict reading refuses
        yield Fail(
            "a face check before startStudy: 002 §1.5.1 and §1.12.2 (视频开始时人脸识别) do not order it and startStudy, so it"
            f" is accepted and counts for the session startStudy opens for this learner and video within {PRE_SESSION_MINUTES}"
            " minutes; the strict reading of D-ZJPX-SESSIONS wants startStudy first",
            "data.resCode",
            level="SHOULD",
            decision="D-ZJPX-SESSIONS",
        )
        return
    yield Fail("no open study session for this learner and video: call /api/v1/startStudy first", "data.resCode")


# D-ZJPX-SESSIONS (tolerant): a face check before startStudy counts for the session opened within this many minutes.
PRE_SESSION_FACE = ("getFaceCompareConfig", "thirdFaceCompare")
PRE_SESSION_MINUTES = 5


@rule(
    "ZJPX-START-FACE",
    operations=("studyHour",),
    decision="D-ZJPX-SESSIONS",
    clause="002 §1.12.2 videoStartFace (视频开始时人脸识别 1=需要)",
    title="when the class needs a face check at video start, a face comparison passed in the session before its first studyHour",
    applies=lambda ctx, body: ctx.facts.get("session") is not None and ctx.facts["config"]["videoStartFace"] == 1,
)
def start_face(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    session = ctx.facts["session"]
    if session["reports"] == 0 and not ctx.facts.get("session_faces"):
        yield Fail("the class needs a face check at video start (videoStartFace=1); none passed before this first studyHour", "data")


# --- studyHour (§1.10) ------------------------------------------------------------------------------------------
def _has_session(ctx: RuleContext, _: Any) -> bool:
    return ctx.facts.get("session") is not None and ctx.facts.get("resource") is not None


# D-ZJPX-STUDY-CADENCE, seconds. 002 §1.10.1 上传间隔为每隔1分钟上传一次: both readings apply on every run. Sooner
# than the strict reading's 50 s is a SHOULD verdict (refused only under --profile strict); sooner than the tolerant
# reading's 30 s is no reading of "every minute" (MUST, refused under every profile). Later than 90 s is a gap (SHOULD,
# never refused: refusing would lose progress).
EARLY_STRICT_S, EARLY_TOLERANT_S, GAP_S = 50, 30, 90


def _elapsed_s(ctx: RuleContext) -> float:
    return ctx.facts["elapsed_ms"] / 1000


@rule(
    "ZJPX-STUDYHOUR-EARLY",
    operations=("studyHour",),
    decision="D-ZJPX-STUDY-CADENCE",
    clause="002 §1.10.1 (上传间隔为每隔1分钟上传一次)",
    title=(
        "a studyHour comes no sooner than 50 s after the previous one (or startStudy), unless it reaches the video's end; "
        "30–50 s is the tolerant reading (a warning), sooner than 30 s fails under every reading"
    ),
    applies=_has_session,
)
def not_early(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    resource: Resource = ctx.facts["resource"]
    if num(data(body)["playTime"]) >= resource.duration:
        return  # the last, partial minute of a video
    elapsed = _elapsed_s(ctx)
    if elapsed < EARLY_TOLERANT_S:
        yield Fail(
            f"studyHour {elapsed:.0f} s after the previous report; reports come every minute (≥ {EARLY_STRICT_S} s apart; "
            f"no reading accepts less than {EARLY_TOLERANT_S} s)",
            "data",
        )
    elif elapsed < EARLY_STRICT_S:
        yield Fail(
            f"studyHour {elapsed:.0f} s after the previous report; reports come every minute (≥ {EARLY_STRICT_S} s apart; "
            f"the tolerant reading accepts ≥ {EARLY_TOLERANT_S} s)",
            "data",
            level="SHOULD",
            decision="D-ZJPX-STUDY-CADENCE",
        )


@rule(
    "ZJPX-STUDYHOUR-GAP",
    kind="advisory",
    operations=("studyHour",),
    decision="D-ZJPX-STUDY-CADENCE",
    clause="002 §1.10.1 (上传间隔为每隔1分钟上传一次)",
    title="no more than 90 s pass between studyHour reports of a session (a gap is journaled, not refused)",
    applies=_has_session,
)
def no_gap(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    if _elapsed_s(ctx) > GAP_S:
        yield Fail(f"studyHour {_elapsed_s(ctx):.0f} s after the previous report (> {GAP_S} s): reports were missed", "data")


@rule(
    "ZJPX-STUDYHOUR-PROGRESS",
    operations=("studyHour",),
    decision="D-ZJPX-STUDY-CADENCE",
    clause="002 §1.10.2 progressTime (上一次提交到本次提交的增量播放时长)",
    title="progressTime does not exceed the wall time elapsed since the previous report (+3 s; + 10 % + 5 s tolerated)",
    applies=_has_session,
)
def progress_plausible(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    # The same verdict under every profile: beyond the tolerant reading's allowance a failure, between the two readings
    # a SHOULD verdict naming the decision (refusing only under --profile strict).
    progress, elapsed = num(data(body)["progressTime"]), _elapsed_s(ctx)
    said = f"progressTime {progress} s in {elapsed:.0f} s of wall time since the previous report"
    if progress > elapsed * 1.1 + 5:
        yield Fail(f"{said} (more than the elapsed time + 10 % + 5 s)", "data.progressTime")
    elif progress > elapsed + 3:
        yield Fail(
            f"{said}: more than the elapsed time + 3 s (the strict reading), within the tolerant reading's + 10 % + 5 s",
            "data.progressTime",
            level="SHOULD",
            decision="D-ZJPX-STUDY-CADENCE",
        )


@rule(
    "ZJPX-STUDYHOUR-BACKWARDS",
    operations=("studyHour",),
    decision="D-ZJPX-STUDY-CADENCE",
    clause="002 §1.10.2 playTime (当前播放的总体进度)",
    title="playTime never runs backwards for a learner's video in a class",
    applies=_has_session,
)
def play_not_backwards(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    # Within a session, backwards is a failure under every profile; behind an earlier session's last report (re-watching
    # in a new session) only the strict reading refuses: a SHOULD verdict naming the decision.
    play, mine = num(data(body)["playTime"]), ctx.facts["session"]["last_play_time"]
    if mine is not None and play < mine:
        yield Fail(f"playTime {play} s is behind this session's previous report's {mine} s", "data.playTime")
        return
    before = ctx.facts["previous_play"]
    if before is not None and play < before:
        yield Fail(
            f"playTime {play} s is behind the previous report's {before} s, made in an earlier session: re-watching, which"
            " the tolerant reading accepts and the strict one refuses",
            "data.playTime",
            level="SHOULD",
            decision="D-ZJPX-STUDY-CADENCE",
        )


@rule(
    "ZJPX-STUDYHOUR-DURATION",
    operations=("studyHour",),
    clause="002 §1.10.2 playTime; §1.13.2 duration (视频播放时长)",
    title="playTime does not pass the video's duration",
    applies=_has_session,
)
def play_within_duration(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    resource: Resource = ctx.facts["resource"]
    play = num(data(body)["playTime"])
    if resource.duration and play > resource.duration:
        yield Fail(f"playTime {play} s is past the end of the video ({resource.duration} s)", "data.playTime")


@rule(
    "ZJPX-STUDYHOUR-JUMP",
    operations=("studyHour",),
    decision="D-ZJPX-STUDY-CADENCE",
    clause="002 §1.10.2 playTime (当前播放的总体进度)",
    title="playTime advances no more than the wall time elapsed since the previous report (+3 s): no skipping ahead",
    applies=_has_session,
    should=True,
)
def play_no_jump(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    base = ctx.facts["session"]["last_play_time"]
    if base is None:
        base = ctx.facts["session"]["start_play_time"]
    advance = num(data(body)["playTime"]) - base
    if advance > _elapsed_s(ctx) + 3:
        yield Fail(f"playTime advanced {advance} s in {_elapsed_s(ctx):.0f} s of wall time (skipped ahead)", "data.playTime")


@rule(
    "ZJPX-STUDY-LIMIT",
    operations=("studyHour",),
    decision="D-ZJPX-STUDY-LIMIT",
    clause="002 §1.12.2 studyHourLimit (以小时为单位限制当日观看时长)",
    title="a learner's accepted progressTime in a class over one Beijing day stays within studyHourLimit hours",
    applies=lambda ctx, body: _has_session(ctx, body) and ctx.facts["config"]["studyHourLimit"] > 0,
)
def daily_limit(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    limit_s = ctx.facts["config"]["studyHourLimit"] * 3600
    total = ctx.facts["studied_today"] + num(data(body)["progressTime"])
    if total > limit_s:
        yield Fail(
            f"{total} s studied today in this class would pass the class's limit of {limit_s} s (studyHourLimit)", "data.progressTime"
        )


# --- face (§1.5, §1.6) and verification codes (§1.7, §1.8) -------------------------------------------------------------
def _bizcode_fails(ctx: RuleContext, body: dict[str, Any], kind: str) -> Iterator[Fail]:
    biz = ctx.facts.get("bizcode")
    code = data(body)["bizCode"]
    label = "face-compare (§1.5)" if kind == "face" else "verification-code (§1.7)"
    if biz is None or biz["kind"] != kind or biz["platform_code"] != ctx.platform_code:
        yield Fail(f"bizCode {code} was not issued to this platform by the {label} interface", "data.bizCode")
        return
    if kind == "face":
        for name, column in (("classCode", "class_code"), ("studentUserCode", "student_code"), ("resCode", "res_code")):
            if str(data(body)[name]) != biz[column]:
                yield Fail(f"bizCode {code} was issued for {name} {biz[column]}, not {data(body)[name]}", f"data.{name}")
    if ctx.now_ms > biz["expires_ms"]:
        yield Fail(f"bizCode {code} expired {(ctx.now_ms - biz['expires_ms']) / 1000:.0f} s ago (expiresTime)", "data.bizCode")
    elif biz["state"] == "passed" and (kind == "code" or ctx.strict):
        yield Fail(f"bizCode {code} was already used successfully", "data.bizCode")


@rule(
    "ZJPX-FACE-BIZCODE",
    operations=("thirdFaceCompare",),
    decision="D-ZJPX-BIZCODE",
    clause="002 §1.6.2 bizCode (回传1.5接口返回的bizCode字段); §1.5.5 expiresTime",
    title="bizCode came from getFaceCompareConfig for this learner, class and video, is unexpired and not yet passed",
)
def face_bizcode(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    yield from _bizcode_fails(ctx, body, "face")


DATA_URI = re.compile(r"^data:image/[a-zA-Z+.-]+;base64,")  # D-ZJPX-FACE-IMAGE: stripped by the tolerant reading


def decode_target(target: str, strict: bool) -> tuple[bytes | None, str | None]:
    """The base64 photo's bytes, or why it is not one (D-ZJPX-FACE-IMAGE)."""
    text = target.strip()
    if not strict:
        text = DATA_URI.sub("", text)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None, "target is not base64"
    return raw, None


def inspect_image(raw: bytes, strict: bool) -> tuple[dict[str, Any] | None, str | None]:
    """Decode the photo for real (Pillow): format, size, and the statistic the match rule uses."""
    from PIL import ImageStat

    if len(raw) > MAX_IMAGE_BYTES:
        return None, f"the image is {len(raw)} bytes; at most {MAX_IMAGE_BYTES} (2M)"
    img, why = limits.open_image(raw)  # the header, under the harness's pixel bound, before any pixel is decoded
    if img is None:
        return None, f"target: {why}"
    try:
        fmt, (w, h) = img.format, img.size
        fits = (w <= MAX_W and h <= MAX_H) if strict else (max(w, h) <= MAX_W and min(w, h) <= MAX_H)
        if not fits:
            return None, f"the image is {w}×{h}; at most {MAX_W}×{MAX_H}"
        if fmt not in ("JPEG", "PNG"):
            return None, f"the image is {fmt}, not JPEG or PNG"
        img.load()
        stddev = ImageStat.Stat(img.convert("L")).stddev[0]
    except Exception as exc:  # truncated or corrupt data makes the decoder raise almost anything (OSError, SyntaxError …)
        return None, f"target does not decode as an image ({type(exc).__name__})"
    return {"format": fmt, "width": w, "height": h, "bytes": len(raw), "stddev": round(stddev, 2)}, None


def strict_image_refusal(target: str, image: dict[str, Any]) -> str | None:
    """Why the strict reading of D-ZJPX-FACE-IMAGE refuses a photo the tolerant one accepted (a data: URI prefix, a
    portrait photo), or None: journaled as a SHOULD verdict under every profile, so the verdict never depends on it."""
    why = []
    if DATA_URI.match(target.strip()):
        why.append("target starts with a data: URI prefix (the strict reading takes plain base64)")
    if image["width"] > MAX_W or image["height"] > MAX_H:
        why.append(
            f"the image is {image['width']}×{image['height']} (portrait: the strict reading takes at most {MAX_W} wide and {MAX_H} high)"
        )
    return "; ".join(why) or None


@rule(
    "ZJPX-FACE-IMAGE",
    kind="malformed",
    operations=("thirdFaceCompare",),
    decision="D-ZJPX-FACE-IMAGE",
    clause="002 §1.6.2 target (base64图片, 不要超过2M, 1920x1080以下); compareMode",
    title="target is a JPEG/PNG in base64 of at most 2 MiB and 1920×1080 (compareMode 0/2), or an http(s) URL (compareMode 1)",
)
def face_image(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    mode = str(data(body)["compareMode"])
    target = str(data(body)["target"])
    if mode == "1":
        if not re.match(r"^https?://[^\x00-\x20\x7f]+$", target):  # the spec's URL pattern
            yield Fail("compareMode 1 compares a network address: target must be an http(s) URL", "data.target")
        return
    if ctx.facts.get("image_error"):
        yield Fail(ctx.facts["image_error"], "data.target")
    elif ctx.facts.get("image_strict_refusal"):
        yield Fail(
            f"{ctx.facts['image_strict_refusal']}; accepted under the tolerant reading",
            "data.target",
            level="SHOULD",
            decision="D-ZJPX-FACE-IMAGE",
        )


@rule(
    "ZJPX-VIDEO-TIME",
    operations=("thirdFaceCompare", "submitVerificationCode"),
    clause="002 §1.6.2 / §1.8.2 videoStudyTime (视频的观看时间点)",
    title="videoStudyTime lies within the video",
    applies=lambda ctx, body: ctx.facts.get("resource") is not None,
)
def video_time(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    resource: Resource = ctx.facts["resource"]
    at = num(data(body)["videoStudyTime"])
    if resource.duration and at > resource.duration:
        yield Fail(f"videoStudyTime {at} s is past the end of the video ({resource.duration} s)", "data.videoStudyTime")


@rule(
    "ZJPX-CODE-BIZCODE",
    operations=("submitVerificationCode",),
    decision="D-ZJPX-BIZCODE",
    clause="002 §1.8.2 bizCode (回传1.7接口返回的bizCode字段); §1.7.5 expiresTime",
    title="bizCode came from getVerificationCode, is unexpired and was not answered correctly yet",
)
def code_bizcode(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    yield from _bizcode_fails(ctx, body, "code")


@rule(
    "ZJPX-CODE-SESSION",
    operations=("submitVerificationCode",),
    decision="D-ZJPX-SESSIONS",
    clause="002 §1.7.1 (弹框的验证码, 提供给学员进行核验); §1.3.1",
    title="the study session the code was issued in is still open",
    applies=lambda ctx, body: ctx.facts.get("bizcode") is not None and ctx.facts["bizcode"]["kind"] == "code",
)
def code_session(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    if ctx.facts.get("session") is None:
        yield Fail("the study session this code was issued in has ended", "data.bizCode")


@rule(
    "ZJPX-CODE-MATCH",
    operations=("submitVerificationCode",),
    clause="002 §1.8.1 (将学员输入的验证码提交到监管服务平台进行核验)",
    title="verificationCode is the code issued with that bizCode",
    applies=lambda ctx, body: ctx.facts.get("bizcode") is not None and ctx.facts["bizcode"]["kind"] == "code",
)
def code_matches(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    if str(data(body)["verificationCode"]) != ctx.facts["bizcode"]["verification_code"]:
        yield Fail("verificationCode is not the code shown to the learner", "data.verificationCode")


# --- anti-idling at the end of a session (D-ZJPX-TRIGGER) -------------------------------------------------------------
def missing_checks(
    config: dict[str, int],
    started_ms: int,
    ended_ms: int,
    check_ms: list[int],
    finished: bool,
    strict: bool,
    issued_ms: list[int] | None = None,
) -> str | None:
    """Why the checks of one session fall short of the class's configuration, or None.

    ``issued_ms``: when the platform requested a check (getVerificationCode / getFaceCompareConfig) in the session. The
    tolerant reading's second minute of grace is for answering a check the platform showed; a stretch of study in which
    it requested none gets the strict reading's minute under every reading (D-ZJPX-TRIGGER). None: not known (every
    stretch gets the reading's own grace)."""
    kind = {1: "verification code", 2: "face comparison"}.get(config["videoOnHook"])
    value = config["triggervValue"]
    if kind is None or value <= 0:
        return None
    trigger = config["triggerType"]
    if trigger == 0:
        # A fixed count per video: only a session that reached the video's end can be held to it.
        if finished and len(check_ms) < value:
            return f"{len(check_ms)} {kind}(s) passed in a finished video; the class needs {value} per video (triggerType 0)"
        return None
    marks = [started_ms, *sorted(check_ms), ended_ms]
    for k, (a, b) in enumerate(zip(marks, marks[1:], strict=False), start=1):
        shown = issued_ms is None or any(a < t <= b for t in issued_ms)
        grace_ms = (60 if strict or not shown else 120) * 1000
        limit_ms = value * 60000 * (k if trigger == 2 else 1) + grace_ms
        if b - a > limit_ms:
            what = "every" if trigger == 1 else f"check {k} within"
            why = f"{(b - a) / 60000:.1f} min without a passed {kind}; the class needs one {what} {value * (k if trigger == 2 else 1)} min (triggerType {trigger})"
            if not shown:
                request = "getVerificationCode" if config["videoOnHook"] == 1 else "getFaceCompareConfig"
                why += f", and no {kind} was even requested ({request}) in that time"
            return why
    return None


@rule(
    "ZJPX-ANTI-IDLING",
    operations=("endStudy",),
    decision="D-ZJPX-TRIGGER",
    clause="002 §1.12.2 videoOnHook (1=弹验证码, 2=人脸识别), triggerType, triggervValue",
    title="the session had the face or code checks the class configured, at the configured trigger",
    applies=lambda ctx, body: ctx.facts.get("session") is not None,
)
def anti_idling(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    # The tolerant reading's 2 minutes of grace decide the failure under every profile; short of the strict reading's
    # 1 minute only, a SHOULD verdict naming the decision (refusing only under --profile strict). A stretch in which no
    # check was even requested has the strict minute under every reading: the grace is for answering a check shown.
    session = ctx.facts["session"]
    facts = (ctx.facts["config"], session["started_ms"], ctx.now_ms, ctx.facts["session_check_ms"], ctx.facts["finished"])
    issued = ctx.facts.get("session_issued_ms")
    why = missing_checks(*facts, False, issued)
    if why:
        grace = "2 minutes of grace" if "was even requested" not in why else "1 minute of grace under every reading (D-ZJPX-TRIGGER)"
        yield Fail(f"{why}, with {grace}", "data")
    elif why := missing_checks(*facts, True, issued):
        yield Fail(
            f"{why}, with the strict reading's 1 minute of grace (within the tolerant reading's 2 minutes)",
            "data",
            level="SHOULD",
            decision="D-ZJPX-TRIGGER",
        )


# --- photos, courses, intake -------------------------------------------------------------------------------------------
@rule(
    "ZJPX-PHOTO-LEARNER",
    operations=("updateErcunPhotosUrl",),
    clause="002 §1.11.1 (针对学员的二寸照进行修改)",
    title="cardNo is a learner enrolled on this platform",
)
def photo_learner(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    if ctx.facts.get("learner") is None:
        yield Fail(f"no learner with cardNo {mask_id(str(data(body)['cardNo']))} is enrolled on this platform", "data.cardNo")


@rule(
    "ZJPX-COURSE-STATUS",
    operations=("thirdCoursePush",),
    decision="D-ZJPX-COURSE-STATUS",
    clause="002 §1.13.2 courseStatus (0=新增，1=删除，2=修改)",
    title="0 adds a new course; 1 and 2 name a course pushed before",
    should=True,  # the decision's strict reading: a warning, refusing only under --profile strict
)
def course_status(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    for i, course in enumerate(data(body)):
        status, code = num(course["courseStatus"]), course["courseCode"]
        exists = ctx.facts["existing"].get(code, False)
        if status == 0 and exists:
            yield Fail(f"course {code} already exists: modify it with courseStatus 2", f"data.{i}.courseStatus")
        elif status in (1, 2) and not exists:
            yield Fail(
                f"course {code} was never pushed (or was deleted): courseStatus {status} needs an existing course", f"data.{i}.courseStatus"
            )


def _course_codes(course: dict[str, Any]) -> Iterator[tuple[str, str, str, str]]:
    """(kind, code, parent, where) for every chapter, section and resource of a pushed course."""

    def walk(chapters: list[dict[str, Any]], parent: str, where: str) -> Iterator[tuple[str, str, str, str]]:
        for ci, chapter in enumerate(chapters or []):
            code = str(chapter.get("chapterCode"))
            here = f"{where}.chapterList.{ci}"
            yield "chapter", code, str(chapter.get("parentChapterCode", chapter.get("parentChapertCode", ""))), here
            for si, section in enumerate(chapter.get("sectionList") or []):
                shere = f"{here}.sectionList.{si}"
                yield "section", str(section.get("sectionCode")), str(section.get("parentSectionCode", code)), shere
                for ri, res in enumerate(section.get("sectionSourceList") or []):
                    yield "resource", str(res.get("resCode")), str(section.get("sectionCode")), f"{shere}.sectionSourceList.{ri}"
            yield from walk(chapter.get("chapterList") or [], code, here)

    yield from walk(course.get("chapterList") or [], str(course.get("courseCode")), "")


@rule(
    "ZJPX-COURSE-UNIQUE",
    kind="malformed",
    operations=("thirdCoursePush",),
    decision="D-ZJPX-COURSE-STATUS",
    clause="002 §1.13.2 chapterCode, sectionCode, resCode (编码，采用UUID)",
    title="within one push every courseCode, and within one course every chapterCode, sectionCode and resCode, is unique",
    should=True,  # the decision's strict reading: a warning, refusing only under --profile strict
)
def course_unique(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    seen_courses: set[str] = set()
    for i, course in enumerate(data(body)):
        if course["courseCode"] in seen_courses:
            yield Fail(f"courseCode {course['courseCode']} appears twice in one push", f"data.{i}.courseCode")
        seen_courses.add(course["courseCode"])
        seen: set[tuple[str, str]] = set()
        for kind, code, _, where in _course_codes(course):
            if (kind, code) in seen:
                yield Fail(f"{kind} code {code} appears twice in course {course['courseCode']}", f"data.{i}{where}")
            seen.add((kind, code))


@rule(
    "ZJPX-COURSE-PARENT",
    operations=("thirdCoursePush",),
    decision="D-ZJPX-COURSE-STATUS",
    clause="002 §1.13.2 parentChapterCode (章父节点), parentSectionCode (父章节编码); §1.14.5 (章父节点编码（课程编码）)",
    title="a chapter's parent is its course or enclosing chapter, a section's parent its chapter",
    should=True,  # the decision's strict reading: a warning, refusing only under --profile strict
)
def course_parents(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    for i, course in enumerate(data(body)):

        def walk(chapters: list[dict[str, Any]], parent: str, where: str, i: int = i) -> Iterator[Fail]:
            for ci, chapter in enumerate(chapters or []):
                here = f"{where}.chapterList.{ci}"
                declared = chapter.get("parentChapterCode")
                if declared is not None and str(declared) != parent:
                    yield Fail(
                        f"parentChapterCode {declared} is not the enclosing course/chapter {parent}", f"data.{i}{here}.parentChapterCode"
                    )
                for si, section in enumerate(chapter.get("sectionList") or []):
                    declared = section.get("parentSectionCode")
                    if declared is not None and str(declared) != str(chapter["chapterCode"]):
                        yield Fail(
                            f"parentSectionCode {declared} is not the enclosing chapter {chapter['chapterCode']}",
                            f"data.{i}{here}.sectionList.{si}.parentSectionCode",
                        )
                yield from walk(chapter.get("chapterList") or [], str(chapter["chapterCode"]), here)

        yield from walk(course.get("chapterList") or [], str(course["courseCode"]), "")


@rule(
    "ZJPX-INTAKE-UNIQUE",
    kind="malformed",
    operations=("studentInfo", "classInfo"),
    decision="D-ZJPX-INTAKE-DUPLICATES",
    clause="002 §2.3.3 / §2.4.3 (学员、课程包 lists)",
    title="one intake lists each learner (and each course of a class) once",
    should=True,  # the decision's strict reading: a warning, refusing only under --profile strict
)
def intake_unique(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    d = data(body)
    if isinstance(d, list):
        lists = [("stuCard", "data", d), ("stuCode", "data", d)]
    else:
        lists = [
            ("cardNo", "data.thirdClassStudentInfoVoList", d.get("thirdClassStudentInfoVoList") or []),
            ("studentCode", "data.thirdClassStudentInfoVoList", d.get("thirdClassStudentInfoVoList") or []),
            ("courseCode", "data.thirdClassCourseInfoVoList", d.get("thirdClassCourseInfoVoList") or []),
        ]
    for key, where, items in lists:
        seen: set[str] = set()
        for i, item in enumerate(items):
            value = str(item.get(key, "")).upper()
            if value in seen:
                # An ID number is personal data: the message (journaled, printed by certify) names it masked.
                shown = mask_id(str(item.get(key))) if key in ("stuCard", "cardNo") else item.get(key)
                yield Fail(f"{key} {shown} is listed twice", f"{where}.{i}.{key}")
            seen.add(value)


@rule(
    "ZJPX-CLASS-TRIGGER",
    operations=("classInfo",),
    decision="D-ZJPX-TRIGGER",
    clause="002 §1.12.2 triggerType, triggervValue (根据类型triggerType来设置)",
    title="a class with anti-idling checks (videoOnHook 1 or 2) says when they trigger (triggervValue > 0)",
)
def class_trigger(ctx: RuleContext, body: dict[str, Any]) -> Iterator[Fail]:
    config = ctx.facts["config"]
    if config["videoOnHook"] in (1, 2) and config["triggervValue"] <= 0:
        yield Fail("videoOnHook asks for checks but videoOnHookDetail.triggervValue is missing or 0", "data.videoOnHookDetail")
