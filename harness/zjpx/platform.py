"""The ZJPX supervision platform (seed 002): the {returnCode, returnMsg, returnData} reply, the token gate, and the
handlers of Z1–Z9 and Z12. Every record goes to the store (harness.zjpx.state); every refusal names rule and clause.

The clock is ``self.clock`` (epoch milliseconds) so tests can drive minutes of study without waiting for them.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from starlette.responses import Response

from harness import limits, masking
from harness.clock import BEIJING
from harness.errors import PlatformError, Violation
from harness.platform import ErrorKind, ExchangeContext, Platform
from harness.rules import Verdict
from harness.server.validators import decision_warnings
from harness.store import Store
from harness.zjpx import accounts, rules, state
from harness.zjpx.handlers import HANDLERS
from harness.zjpx.state import num

# D-ZJPX-RETURNCODE
CODES = {
    ErrorKind.FAILED: "1",
    ErrorKind.MALFORMED: "2",
    ErrorKind.TIMESTAMP: "2",
    ErrorKind.CERTIFICATE: "3",
    ErrorKind.NOT_FOUND: "4",
    ErrorKind.INTERNAL: "9",
}
MESSAGES = {
    "0": "success",
    "1": "业务校验失败",
    "2": "数据格式错误",
    "3": "token无效或已过期/账号或密码错误",
    "4": "接口不存在",
    "9": "系统错误",
}
BIZCODE_MINUTES = 5  # D-ZJPX-BIZCODE (expiresTime "5" in the seed's examples)
ALIASES = {"startStudyAlias": "startStudy", "thirdFaceCompareAlias": "thirdFaceCompare"}  # D-ZJPX-PATHS (tolerant)
# The seed's mangled URL each alias serves (D-ZJPX-PATHS): journaled as a SHOULD verdict on every exchange that uses it.
ALIAS_CLAUSES = {
    "startStudyAlias": ("/api/startStudy", "/api/v1/startStudy", "002 §1.3.3 (http://domain/api/ startStudy)"),
    "thirdFaceCompareAlias": ("/api/v1thirdFaceCompare", "/api/v1/thirdFaceCompare", "002 §1.6.3 (http://domain/api/v1thirdFaceCompare)"),
}
ROUTING_CLAUSE = "002 (no such interface); D-ZJPX-PATHS"
FACE_PASS, FACE_FAIL = "人脸比对通过！", "人脸比对不通过，请按照正确的拍照方式重新拍摄上传"


@functools.lru_cache(maxsize=4)
def _canonical_schema(spec_file: str, path: str) -> dict[str, Any]:
    """The served request schema of a canonical interface (with its components, for $refs): the alias paths of
    D-ZJPX-PATHS are written relaxed, so their requests are also judged by this schema's strict reading."""
    from harness.specs import load_spec

    spec = load_spec(spec_file, "served")
    schema = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return {**schema, "components": spec.get("components", {})}


def beijing_day(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, BEIJING).strftime("%Y-%m-%d")


ID_FIELDS = ("cardNo", "stuCard", "teaCard")  # 身份证号: the check character x or X is one number
PERSONAL_FIELDS = (*ID_FIELDS, "name", "studentName", "stuName", "teaName", "studentPhone", "mobile")


class ZjpxPlatform(Platform):
    name = "zjpx"
    handlers = HANDLERS
    base_path = "/zjpx"
    spec_file = "zjpx/supervision.yaml"
    title = "ZJPX 职业技能培训在线学习监管服务平台"
    not_found_clause = ROUTING_CLAUSE
    # The thlogin password, the token and its uses; and the learners' and teachers' personal data (ID numbers, names,
    # mobiles of §1.2 and §2.1–§2.4), journaled as keyed hashes: the roles match learners across rows by those hashes.
    secret_fields = frozenset({"passWord", "acceptToken", "userToken", "user_token", *PERSONAL_FIELDS})
    secret_upper_fields = frozenset(ID_FIELDS)

    def __init__(self, store: Store, settings: Any) -> None:
        super().__init__(store, settings)
        rules.install(self.rules)
        self.clock: Callable[[], int] = lambda: int(time.time() * 1000)

    # -- envelope --------------------------------------------------------------------------------------------------
    def ok(self, data: Any = None, message: str = "success") -> dict[str, Any]:
        out: dict[str, Any] = {"returnCode": "0", "returnMsg": message}
        if data is not None:
            out["returnData"] = data
        return out

    def error(self, error: PlatformError) -> dict[str, Any]:
        code = str(error.code) if error.code is not None else CODES.get(error.kind, "1")
        violations = error.violations
        if not violations:
            return {"returnCode": code, "returnMsg": MESSAGES[code]}
        summary = PlatformError(error.kind, violations).summary
        return {
            "returnCode": code,
            "returnMsg": f"{MESSAGES[code]}: {summary}",
            "returnData": {"violations": [v.as_dict() for v in violations]},
        }

    def reply_code(self, reply: Any) -> str | None:
        if isinstance(reply, dict) and isinstance(reply.get("returnCode"), str) and "returnMsg" in reply:
            return reply["returnCode"]
        return None

    def reply_ok(self, reply: Any) -> bool:
        return isinstance(reply, dict) and reply.get("returnCode") == "0"

    def respond(self, data: Any = None, message: str = "success") -> Response:
        return Response(self.encode(self.ok(data, message)), media_type="application/json")

    # -- token gate (before schema validation) ----------------------------------------------------------------------
    async def authenticate(self, ctx: ExchangeContext) -> None:
        alias = ALIAS_CLAUSES.get(ctx.operation or "")
        operation = ALIASES.get(ctx.operation or "", ctx.operation)
        ctx.operation = ctx.exchange.operation = operation
        if alias is not None:
            seed_path, path, clause = alias
            ctx.fail(
                [
                    Violation(
                        "ROUTING",
                        clause,
                        f"{seed_path} is the seed's mangled URL, served only under --profile tolerant; every other §1 "
                        f"interface is /api/v1/<name>: use {path}",
                        "path",
                        level="SHOULD",
                        decision="D-ZJPX-PATHS",
                    )
                ]
            )
        if operation == "thlogin":
            return
        try:
            document = limits.loads(ctx.body)
        except ValueError:
            return  # not JSON, or beyond a harness limit (harness.limits): schema validation answers returnCode 2
        if alias is not None:  # the request forms, judged by the canonical interface's strict reading as well
            ctx.fail([w for w in decision_warnings(_canonical_schema(self.spec_file, alias[1]), document, "body") if w.decision])
        headers = document.get("headers") if isinstance(document, dict) else None
        gate = rules.GateContext(self.store, self.settings.strict, headers if isinstance(headers, dict) else {}, self.clock())
        try:
            self.gate(ctx, operation, gate)
        finally:
            if gate.found is not None:
                ctx.exchange.vendor = gate.found.platform_code  # an expired token still names its vendor
        ctx.extras["token"] = gate.found

    # -- dispatch ---------------------------------------------------------------------------------------------------
    def _rctx(self, ctx: ExchangeContext, operation: str) -> rules.RuleContext:
        token = ctx.extras.get("token")
        return rules.RuleContext(self.store, self.settings.strict, token.platform_code if token else "", operation, self.clock())

    # -- facts -------------------------------------------------------------------------------------------------------
    def _study_facts(self, rctx: rules.RuleContext, d: dict[str, Any]) -> None:
        """Class, configuration, enrolment, resource and open session of a §1.3–§1.10 call."""
        facts, pc = rctx.facts, rctx.platform_code
        cls = state.get_class(self.store, pc, str(d["classCode"]))
        facts["class"] = cls
        if cls is None:
            return
        facts["config"] = state.class_config(cls)
        courses = {str(c.get("courseCode")) for c in cls.get("thirdClassCourseInfoVoList") or []}
        if not rctx.strict:
            courses |= {str(c["courseCode"]) for c in state.live_courses(self.store, pc)}
        facts["class_courses"] = courses
        student = str(d["studentUserCode"])
        facts["enrolment"] = state.enrolment(self.store, pc, str(d["classCode"]), student)
        course = str(d["courseCode"]) if "courseCode" in d else None
        facts["resource"] = state.find_resource(self.store, pc, cls, str(d["resCode"]), course, rctx.strict)
        facts["session"] = state.open_session(self.store, pc, str(d["classCode"]), student, str(d["resCode"]))

    # -- Z1 §1.1 -----------------------------------------------------------------------------------------------------
    def op_thlogin(self, ctx: ExchangeContext, body: dict[str, Any]) -> Response:
        d = body["data"]
        clause = self.rules.get("ZJPX-LOGIN").clause
        account = accounts.check_password(self.store, str(d["studyPlatformAcount"]), str(d["passWord"]))
        if account is None:
            raise PlatformError(
                ErrorKind.CERTIFICATE, [Violation("ZJPX-LOGIN", clause, "unknown account or wrong password", "data.passWord")]
            )
        ctx.exchange.vendor = account.platform_code
        ctx.add([Verdict("ZJPX-LOGIN", clause, True)])
        token = accounts.issue_token(self.store, account, self.clock())
        return self.respond(
            {"acceptToken": token.token, "studyPlatformCode": account.platform_code, "studyPlatformName": account.platform_name}
        )

    # -- Z2 §1.2 -----------------------------------------------------------------------------------------------------
    def op_authentication(self, ctx: ExchangeContext, body: dict[str, Any]) -> Response:
        rctx = self._rctx(ctx, "authentication")
        rctx.facts["learner"] = state.learner(self.store, rctx.platform_code, str(body["data"]["cardNo"]))
        self.enforce(ctx, rctx.operation, rctx, body)
        self.store.execute(
            "INSERT INTO zjpx_realname (platform_code, card_no, at_ms) VALUES (?, ?, ?)"
            " ON CONFLICT (platform_code, card_no) DO UPDATE SET at_ms = excluded.at_ms",
            (rctx.platform_code, rctx.facts["learner"]["card_no"], rctx.now_ms),
        )
        return self.respond()

    # -- Z3 §1.3, §1.4 ---------------------------------------------------------------------------------------------------
    def op_startStudy(self, ctx: ExchangeContext, body: dict[str, Any]) -> Response:
        d = body["data"]
        rctx = self._rctx(ctx, "startStudy")
        self._study_facts(rctx, d)
        if rctx.facts.get("enrolment") is not None:
            rctx.facts["realname_verified"] = state.realname_verified(self.store, rctx.platform_code, rctx.facts["enrolment"]["card_no"])
        self.enforce(ctx, rctx.operation, rctx, body)
        key = (rctx.platform_code, str(d["classCode"]), str(d["studentUserCode"]), str(d["resCode"]))
        resume = state.last_play_time(self.store, *key) or 0
        with self.store.transaction() as conn:
            # D-ZJPX-SESSIONS: a second start abandons the session it replaces.
            conn.execute(
                "UPDATE zjpx_sessions SET status = 'abandoned', ended_ms = ? WHERE platform_code = ? AND class_code = ?"
                " AND student_code = ? AND res_code = ? AND status = 'open'",
                (rctx.now_ms, *key),
            )
            opened = conn.execute(
                "INSERT INTO zjpx_sessions (platform_code, class_code, student_code, res_code, course_code, section_code, status,"
                " started_ms, start_play_time) VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?)",
                (*key, str(d["courseCode"]), str(d.get("sectionCode") or ""), rctx.now_ms, resume),
            ).lastrowid
            # D-ZJPX-SESSIONS, tolerant: face checks made for this learner and video just before startStudy are this
            # session's (the video-start face check a platform may make before it starts the video).
            since = rctx.now_ms - rules.PRE_SESSION_MINUTES * 60000
            pending = "kind = 'face' AND session_id IS NULL AND platform_code = ? AND class_code = ? AND student_code = ? AND res_code = ?"
            conn.execute(
                "UPDATE zjpx_checks SET session_id = ? WHERE session_id IS NULL AND at_ms >= ? AND biz_code IN"
                f" (SELECT biz_code FROM zjpx_bizcodes WHERE {pending})",
                (opened, since, *key),
            )
            conn.execute(f"UPDATE zjpx_bizcodes SET session_id = ? WHERE {pending} AND issued_ms >= ?", (opened, *key, since))
        return self.respond()

    def op_endStudy(self, ctx: ExchangeContext, body: dict[str, Any]) -> Response:
        d = body["data"]
        rctx = self._rctx(ctx, "endStudy")
        self._study_facts(rctx, d)
        session, resource = rctx.facts.get("session"), rctx.facts.get("resource")
        if session is not None:
            kind = {1: "code", 2: "face"}.get(rctx.facts["config"]["videoOnHook"])
            checks = state.session_checks(self.store, session["id"], kind) if kind else []
            rctx.facts["session_check_ms"] = [c["at_ms"] for c in checks]
            rctx.facts["session_issued_ms"] = state.session_issued(self.store, session["id"], kind) if kind else []
            last = session["last_play_time"]
            rctx.facts["finished"] = bool(resource and last is not None and last >= resource.duration - 5)
        failed = self.enforce(ctx, rctx.operation, rctx, body, raise_now=False)
        refusing = [v for v in failed if self.rules.get(v.rule).refuses(v, self.settings.strict)]
        if session is not None and all(v.rule == "ZJPX-ANTI-IDLING" for v in refusing):
            # The session ends even when its checks fell short: the learner did stop watching.
            self.store.execute("UPDATE zjpx_sessions SET status = 'ended', ended_ms = ? WHERE id = ?", (rctx.now_ms, session["id"]))
        if refusing:
            self.refuse(refusing)
        return self.respond()

    # -- Z4/Z5 §1.5, §1.6 -------------------------------------------------------------------------------------------------
    def _issue_bizcode(self, rctx: rules.RuleContext, d: dict[str, Any], kind: str, verification_code: str | None) -> str:
        biz_code = secrets.token_hex(16)
        self.store.execute(
            "INSERT INTO zjpx_bizcodes (biz_code, kind, platform_code, class_code, student_code, res_code, session_id,"
            " verification_code, issued_ms, expires_ms, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'issued')",
            (
                biz_code,
                kind,
                rctx.platform_code,
                str(d["classCode"]),
                str(d["studentUserCode"]),
                str(d["resCode"]),
                rctx.facts["session"]["id"] if rctx.facts.get("session") is not None else None,  # a face check before startStudy
                verification_code,
                rctx.now_ms,
                rctx.now_ms + BIZCODE_MINUTES * 60000,
            ),
        )
        return biz_code

    def op_getFaceCompareConfig(self, ctx: ExchangeContext, body: dict[str, Any]) -> Response:
        rctx = self._rctx(ctx, "getFaceCompareConfig")
        self._study_facts(rctx, body["data"])
        self.enforce(ctx, rctx.operation, rctx, body)
        biz_code = self._issue_bizcode(rctx, body["data"], "face", None)
        return self.respond({"expiresTime": str(BIZCODE_MINUTES), "bizCode": biz_code})

    def op_thirdFaceCompare(self, ctx: ExchangeContext, body: dict[str, Any]) -> Response:
        d = body["data"]
        rctx = self._rctx(ctx, "thirdFaceCompare")
        self._study_facts(rctx, d)
        rctx.facts["bizcode"] = state.get_bizcode(self.store, str(d["bizCode"]))
        mode = str(d["compareMode"])
        image: dict[str, Any] | None = None
        if mode in ("0", "2"):
            raw, why = rules.decode_target(str(d["target"]), rctx.strict)
            if raw is not None:
                image, why = rules.inspect_image(raw, rctx.strict)
            rctx.facts["image_error"] = why
            if image is not None and not rctx.strict:
                rctx.facts["image_strict_refusal"] = rules.strict_image_refusal(str(d["target"]), image)
        self.enforce(ctx, rctx.operation, rctx, body)
        # D-ZJPX-FACE-RULE: deterministic, documented match rule.
        if mode == "1":
            name = urlparse(str(d["target"])).path.rsplit("/", 1)[-1].lower()
            passed, detail = not name.startswith("noface"), {"url": str(d["target"])}
        else:
            assert image is not None
            passed, detail = image["stddev"] >= rules.BLANK_STDDEV, image
        biz = rctx.facts["bizcode"]
        session = rctx.facts.get("session")  # None: before startStudy, which attaches the check (D-ZJPX-SESSIONS)
        session_id = session["id"] if session is not None else None
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO zjpx_checks (session_id, biz_code, kind, passed, video_study_time, detail, at_ms) VALUES (?, ?, 'face', ?, ?, ?, ?)",
                (session_id, biz["biz_code"], int(passed), num(d["videoStudyTime"]), json.dumps(detail), rctx.now_ms),
            )
            conn.execute(
                "UPDATE zjpx_bizcodes SET attempts = attempts + 1, state = CASE WHEN ? THEN 'passed' ELSE state END WHERE biz_code = ?",
                (int(passed), biz["biz_code"]),
            )
        return self.respond({"msg": FACE_PASS if passed else FACE_FAIL, "result": 1 if passed else 2})

    # -- Z6 §1.7, §1.8 --------------------------------------------------------------------------------------------------
    def op_getVerificationCode(self, ctx: ExchangeContext, body: dict[str, Any]) -> Response:
        rctx = self._rctx(ctx, "getVerificationCode")
        self._study_facts(rctx, body["data"])
        self.enforce(ctx, rctx.operation, rctx, body)
        code = f"{secrets.randbelow(10000):04d}"  # four digits, like the example's 5763
        biz_code = self._issue_bizcode(rctx, body["data"], "code", code)
        return self.respond({"expiresTime": str(BIZCODE_MINUTES), "verificationCode": code, "bizCode": biz_code})

    def op_submitVerificationCode(self, ctx: ExchangeContext, body: dict[str, Any]) -> Response:
        d = body["data"]
        rctx = self._rctx(ctx, "submitVerificationCode")
        biz = state.get_bizcode(self.store, str(d["bizCode"]))
        rctx.facts["bizcode"] = biz
        if biz is not None and biz["platform_code"] == rctx.platform_code:
            session = self.store.query_one("SELECT * FROM zjpx_sessions WHERE id = ? AND status = 'open'", (biz["session_id"],))
            rctx.facts["session"] = session
            cls = state.get_class(self.store, rctx.platform_code, biz["class_code"])
            if cls is not None:
                rctx.facts["resource"] = state.find_resource(self.store, rctx.platform_code, cls, biz["res_code"], None, rctx.strict)
        self.enforce(ctx, rctx.operation, rctx, body)
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO zjpx_checks (session_id, biz_code, kind, passed, video_study_time, at_ms) VALUES (?, ?, 'code', 1, ?, ?)",
                (biz["session_id"], biz["biz_code"], num(d["videoStudyTime"]), rctx.now_ms),
            )
            conn.execute("UPDATE zjpx_bizcodes SET attempts = attempts + 1, state = 'passed' WHERE biz_code = ?", (biz["biz_code"],))
        return self.respond()

    # -- Z7 §1.9, §1.11 -------------------------------------------------------------------------------------------------
    def op_submitRecordVideoUrl(self, ctx: ExchangeContext, body: dict[str, Any]) -> Response:
        d = body["data"]
        rctx = self._rctx(ctx, "submitRecordVideoUrl")
        self._study_facts(rctx, d)
        self.enforce(ctx, rctx.operation, rctx, body)
        self.store.execute(
            "INSERT INTO zjpx_videos (platform_code, class_code, student_code, res_code, url, at_ms) VALUES (?, ?, ?, ?, ?, ?)",
            (rctx.platform_code, str(d["classCode"]), str(d["studentUserCode"]), str(d["resCode"]), str(d["recordVideoUrl"]), rctx.now_ms),
        )
        return self.respond()

    def op_updateErcunPhotosUrl(self, ctx: ExchangeContext, body: dict[str, Any]) -> Response:
        d = body["data"]
        rctx = self._rctx(ctx, "updateErcunPhotosUrl")
        rctx.facts["learner"] = state.learner(self.store, rctx.platform_code, str(d["cardNo"]))
        self.enforce(ctx, rctx.operation, rctx, body)
        self.store.execute(
            "UPDATE zjpx_learners SET photo_url = ?, at_ms = ? WHERE platform_code = ? AND card_no = ?",
            (str(d["ercunPhotoUrl"]), rctx.now_ms, rctx.platform_code, rctx.facts["learner"]["card_no"]),
        )
        return self.respond()

    # -- Z8 §1.10 ----------------------------------------------------------------------------------------------------------
    def op_studyHour(self, ctx: ExchangeContext, body: dict[str, Any]) -> Response:
        d = body["data"]
        rctx = self._rctx(ctx, "studyHour")
        self._study_facts(rctx, d)
        session = rctx.facts.get("session")
        day = beijing_day(rctx.now_ms)
        key = (rctx.platform_code, str(d["classCode"]), str(d["studentUserCode"]))
        if session is not None:
            since = session["last_report_ms"] or session["started_ms"]
            rctx.facts["elapsed_ms"] = rctx.now_ms - since
            rctx.facts["previous_play"] = state.last_play_time(self.store, *key, str(d["resCode"]))
            rctx.facts["studied_today"] = state.studied_on(self.store, *key, day)
            rctx.facts["session_faces"] = state.session_checks(self.store, session["id"], "face")
        noted = self.enforce(ctx, rctx.operation, rctx, body)
        play, progress = num(d["playTime"]), num(d["progressTime"])
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO zjpx_reports (session_id, platform_code, class_code, student_code, res_code, course_code, section_code,"
                " play_time, progress_time, at_ms, day) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    session["id"],
                    *key,
                    str(d["resCode"]),
                    str(d["courseCode"]),
                    str(d.get("sectionCode") or ""),
                    play,
                    progress,
                    rctx.now_ms,
                    day,
                ),
            )
            conn.execute(
                "UPDATE zjpx_sessions SET last_report_ms = ?, last_play_time = ?, studied = studied + ?, reports = reports + 1 WHERE id = ?",
                (rctx.now_ms, play, progress, session["id"]),
            )
        message = "success" if not noted else "success; noted: " + "; ".join(f"{v.message} [{v.rule}, {v.clause}]" for v in noted)
        return self.respond(None, message)

    # -- Z9 §1.13 ----------------------------------------------------------------------------------------------------------
    def op_thirdCoursePush(self, ctx: ExchangeContext, body: dict[str, Any]) -> Response:
        rctx = self._rctx(ctx, "thirdCoursePush")
        rctx.facts["existing"] = {
            c["courseCode"]: state.get_course(self.store, rctx.platform_code, str(c["courseCode"])) is not None for c in body["data"]
        }
        self.enforce(ctx, rctx.operation, rctx, body)
        with self.store.transaction() as conn:
            for course in body["data"]:
                code, status = str(course["courseCode"]), num(course["courseStatus"])
                if status == 1:
                    conn.execute(
                        "UPDATE zjpx_courses SET deleted = 1, at_ms = ? WHERE platform_code = ? AND course_code = ?",
                        (rctx.now_ms, rctx.platform_code, code),
                    )
                else:
                    conn.execute(
                        "INSERT INTO zjpx_courses (platform_code, course_code, body, deleted, at_ms) VALUES (?, ?, ?, 0, ?)"
                        " ON CONFLICT (platform_code, course_code) DO UPDATE SET body = excluded.body, deleted = 0, at_ms = excluded.at_ms",
                        (rctx.platform_code, code, json.dumps(_normalise_course(course), ensure_ascii=False), rctx.now_ms),
                    )
        return self.respond()

    # -- Z12 §2.1–§2.5 -------------------------------------------------------------------------------------------------------
    def op_teacherInfo(self, ctx: ExchangeContext, body: dict[str, Any]) -> Response:
        rctx = self._rctx(ctx, "teacherInfo")
        self.enforce(ctx, rctx.operation, rctx, body)
        d = body["data"]
        kept = state.without_people(self.store, d)
        _file_record(self.store.execute, "zjpx_teachers", "tea_code", rctx.platform_code, str(d["teaCode"]), kept, rctx.now_ms)
        return self.respond()

    def op_courseInfo(self, ctx: ExchangeContext, body: dict[str, Any]) -> Response:
        rctx = self._rctx(ctx, "courseInfo")
        self.enforce(ctx, rctx.operation, rctx, body)
        d = body["data"]
        _file_record(self.store.execute, "zjpx_course_infos", "course_name", rctx.platform_code, str(d["courseName"]), d, rctx.now_ms)
        return self.respond()

    def op_studentInfo(self, ctx: ExchangeContext, body: dict[str, Any]) -> Response:
        rctx = self._rctx(ctx, "studentInfo")
        self.enforce(ctx, rctx.operation, rctx, body)
        with self.store.transaction() as conn:
            for s in body["data"]:
                _upsert_learner(conn, rctx, str(s["stuCard"]), str(s["stuName"]), str(s["stuCode"]), s.get("mobile"), s.get("ercunPhotos"))
        return self.respond()

    def op_classInfo(self, ctx: ExchangeContext, body: dict[str, Any]) -> Response:
        d = body["data"]
        rctx = self._rctx(ctx, "classInfo")
        rctx.facts["config"] = state.class_config(d)
        self.enforce(ctx, rctx.operation, rctx, body)
        file_class(self.store, rctx.platform_code, d, rctx.now_ms)
        return self.respond()

    def op_classStudentStudy(self, ctx: ExchangeContext, body: dict[str, Any]) -> Response:
        code = str(body["data"]["classCode"])
        rctx = self._rctx(ctx, "classStudentStudy")
        rctx.facts["class"] = state.get_class(self.store, rctx.platform_code, code)
        self.enforce(ctx, rctx.operation, rctx, body)
        rows = self.store.query(
            "SELECT student_code, res_code, course_code, MAX(section_code) AS section_code, SUM(progress_time) AS studied"
            " FROM zjpx_reports WHERE platform_code = ? AND class_code = ? GROUP BY student_code, res_code, course_code"
            " ORDER BY student_code, res_code",
            (rctx.platform_code, code),
        )
        answer = [
            {
                "resCode": r["res_code"],
                "playTime": str(r["studied"]),  # D-ZJPX-STUDY-ANSWER: seconds studied, a string like the example
                "sectionCode": r["section_code"],
                "classCode": code,
                "courseCode": r["course_code"],
                "userCode": r["student_code"],
            }
            for r in rows
        ]
        return self.respond(answer)


def _upsert_learner(conn: Any, rctx: rules.RuleContext, card: str, name: str, code: str | None, mobile: Any, photo: Any) -> None:
    conn.execute(
        "INSERT INTO zjpx_learners (platform_code, card_no, name, student_code, mobile, photo_url, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (platform_code, card_no) DO UPDATE SET name = excluded.name,"
        " student_code = COALESCE(excluded.student_code, zjpx_learners.student_code),"
        " mobile = COALESCE(excluded.mobile, zjpx_learners.mobile),"
        " photo_url = COALESCE(excluded.photo_url, zjpx_learners.photo_url), at_ms = excluded.at_ms",  # qualified: PostgreSQL
        (
            rctx.platform_code,
            state.card_key(rctx.store, card),
            state.person_key(rctx.store, name),
            code,
            state.person_key(rctx.store, mobile) if mobile else None,
            photo or None,
            rctx.now_ms,
        ),
    )


def _normalise_course(course: dict[str, Any]) -> dict[str, Any]:
    """Store chapters under their canonical keys (D-ZJPX-CHAPTER-KEY) so readers need not know the aliases."""

    def fix(chapters: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for chapter in chapters or []:
            c = dict(chapter)
            if "parentChapertCode" in c and "parentChapterCode" not in c:
                c["parentChapterCode"] = c.pop("parentChapertCode")
            c["chapterList"] = fix(c.get("chapterList") or [])
            out.append(c)
        return out

    return dict(course, chapterList=fix(course.get("chapterList") or []))


def _file_record(execute: Any, table: str, key_column: str, platform_code: str, key: str, record: Any, at_ms: int) -> None:
    """File a §2 intake record (teacher, course, class) under its key, replacing an earlier one. ``table`` and
    ``key_column`` are this module's own constants, never request data."""
    execute(
        f"INSERT INTO {table} (platform_code, {key_column}, body, at_ms) VALUES (?, ?, ?, ?)"
        f" ON CONFLICT (platform_code, {key_column}) DO UPDATE SET body = excluded.body, at_ms = excluded.at_ms",
        (platform_code, key, json.dumps(record, ensure_ascii=False), at_ms),
    )


def file_class(store: Store, platform_code: str, data: dict[str, Any], now_ms: int) -> None:
    """File (or replace) a class with its roster: the §2.4 intake and `harness zjpx class add` both come here."""
    cls = json.loads(json.dumps(data, ensure_ascii=False))
    for course in cls.get("thirdClassCourseInfoVoList") or []:
        for chapter in course.get("children") or []:
            if "chapterCode" not in chapter and "chapetCode" in chapter:
                chapter["chapterCode"] = chapter["chapetCode"]
    code = str(cls["classCode"])
    rctx = rules.RuleContext(store, True, platform_code, "classInfo", now_ms)
    masking.store_key(store)  # the roster's keyed hashes need the key: made before the transaction, not inside it
    with store.transaction() as conn:
        _file_record(conn.execute, "zjpx_classes", "class_code", platform_code, code, state.without_people(store, cls), now_ms)
        conn.execute("DELETE FROM zjpx_enrolments WHERE platform_code = ? AND class_code = ?", (platform_code, code))
        for s in cls.get("thirdClassStudentInfoVoList") or []:
            student = str(s.get("studentCode") or s.get("studentUserCode"))
            conn.execute(
                "INSERT INTO zjpx_enrolments (platform_code, class_code, student_code, card_no, name) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (platform_code, class_code, student_code) DO UPDATE SET card_no = excluded.card_no, name = excluded.name",
                (platform_code, code, student, state.card_key(store, s["cardNo"]), state.person_key(store, s["studentName"])),
            )
            _upsert_learner(conn, rctx, str(s["cardNo"]), str(s["studentName"]), student, s.get("studentPhone"), s.get("ercunPhotos"))
