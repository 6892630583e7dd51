"""The ``zjpx-business-platform`` certify role: the business platform files teachers, course infos, learners and classes
with the supervision platform and queries the classes' study records (002 §2.1–§2.5). It is a client of the
supervision side, so it is graded from the journal of what it sent to `harness serve` under /zjpx, like
``zjpx-learning-platform-client``: the reference's verdicts on each call, and the filed records themselves (the
request bodies the reference accepted) for the references between them.

The business platform logs in with the learning platform's account it files for (D-ZJPX-BUSINESS-AUTH), so the journal
of that studyPlatformCode also holds the learning platform's §1 traffic; this role reads only the §2 interfaces and
the logins.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from harness.conformance.engine import CheckSet, failed, passed, run, skipped
from harness.conformance.findings import entry_evidence
from harness.conformance.model import Event
from harness.conformance.roles import SINCE_OPTION, RoleOption
from harness.conformance.sessions import Window
from harness.journal import Journal
from harness.masking import SECRET_PREFIX, mask_text
from harness.specs import spec_sha256
from harness.store import Store
from harness.zjpx.certify import (
    BUSINESS_OPERATIONS,
    JournalContext,
    JournalRoleCommand,
    graded,
    reply_code,
    request_data,
    requirements,
    status_of,
)
from harness.zjpx.state import get_course

INTAKE = {  # operation -> (interface, clause)
    "teacherInfo": ("/api/user/v1/teacherInfo", "002 §2.1"),
    "courseInfo": ("/api/course/v1/courseInfo", "002 §2.2"),
    "studentInfo": ("/api/user/v1/studentInfo", "002 §2.3"),
    "classInfo": ("/api/class/v1/pushClassInfo", "002 §2.4"),
    "classStudentStudy": ("/api/class/v1/classStudentStudy", "002 §2.5"),
}
OPERATIONS = ("thlogin", *BUSINESS_OPERATIONS)

BUSINESS = CheckSet()


def _filed(ctx: JournalContext, operation: str, business_rules: tuple[str, ...] = ()) -> Any:
    """An interface used, and accepted at least once; every refusal for a business rule of it is graded."""
    path, clause = INTAKE[operation]
    calls = ctx.calls(operation)
    check_id = {
        "teacherInfo": "ZJPX-B-TEACHERS",
        "courseInfo": "ZJPX-B-COURSES",
        "studentInfo": "ZJPX-B-STUDENTS",
        "classInfo": "ZJPX-B-CLASSES",
    }[operation]
    if not calls:
        return failed(f"{path} was never called: the business platform files these records through it ({clause}.1)")
    if business_rules:
        # Only this interface's verdicts: a rule shared by several intakes (ZJPX-INTAKE-UNIQUE) is graded where it broke.
        result = graded(BUSINESS, check_id, JournalContext(ctx.store, ctx.platform_code, calls), business_rules)
        if status_of(result) in ("failed", "warning"):
            return result
    accepted = ctx.accepted(operation)
    refused = [e for e in calls if reply_code(e) != "0"]
    if not accepted:
        first = refused[0]
        return failed(f"none of {len(calls)} {path} call(s) was accepted; e.g. {_refusal(first)}", entry_evidence(first, "refused"))
    more = f"; {len(refused)} refused (graded by ZJPX-B-FORMAT)" if refused else ""
    return passed(f"{len(accepted)} of {len(calls)} {path} call(s) accepted{more}")


def _refusal(entry: dict[str, Any]) -> str:
    """Why the reference refused one call: its returnCode and the first failed verdict (a call the gate refused for its
    token says so: it was called, without a valid token)."""
    reply = entry.get("reply") if isinstance(entry.get("reply"), dict) else {}
    code = f"returnCode {reply.get('returnCode')}" if reply.get("returnCode") is not None else f"HTTP {entry.get('status')}"
    failing = [v for v in entry.get("verdicts") or [] if not v.get("held")]
    token = next((v for v in failing if v.get("rule") == "ZJPX-TOKEN"), None)
    if token is not None:
        return f"#{entry['id']} was called without a valid token: {code} ({mask_text(token.get('message', ''))[:160]}) [ZJPX-TOKEN]"
    if failing:
        v = failing[0]
        return f"#{entry['id']} was refused: {code} ({mask_text(v.get('message', ''))[:160]}) [{v['rule']}]"
    return f"#{entry['id']} was refused: {code} {mask_text(str(reply.get('returnMsg', '')))[:160]}".rstrip()


@BUSINESS.check(
    "ZJPX-B-LOGIN",
    title="logs in and files with a valid token",
    clause="002 §1.1; 通用请求参数 userToken; D-ZJPX-BUSINESS-AUTH",
    requirements=("ZJPX-TOKEN",),
)
def business_login(ctx: JournalContext) -> Any:
    if not ctx.accepted("thlogin"):
        tokenless = [e for op in INTAKE for e in ctx.calls(op) if any(v["rule"] == "ZJPX-TOKEN" and not v["held"] for v in e["verdicts"])]
        also = f"; {len(tokenless)} §2 call(s) were refused for their token, e.g. {_refusal(tokenless[0])}" if tokenless else ""
        return failed(f"the platform never logged in successfully (/api/v1/thlogin, D-ZJPX-BUSINESS-AUTH){also}")
    if not any(ctx.calls(op) for op in INTAKE):
        return skipped("no §2 interface was called: no token use to judge")
    return graded(BUSINESS, "ZJPX-B-LOGIN", ctx, ("ZJPX-TOKEN",))


@BUSINESS.check(
    "ZJPX-B-TEACHERS",
    title="teachers are filed through teacherInfo and accepted",
    clause="002 §2.1.1, §2.1.2",
    requirements=("ZJPX-B-TEACHER-FILED",),
)
def business_teachers(ctx: JournalContext) -> Any:
    return _filed(ctx, "teacherInfo")


@BUSINESS.check(
    "ZJPX-B-COURSES",
    title="course infos are filed through courseInfo and accepted",
    clause="002 §2.2.1, §2.2.2",
    requirements=("ZJPX-B-COURSE-FILED",),
)
def business_courses(ctx: JournalContext) -> Any:
    return _filed(ctx, "courseInfo")


@BUSINESS.check(
    "ZJPX-B-STUDENTS",
    title="learners are filed through studentInfo, each once per intake, and accepted",
    clause="002 §2.3.1, §2.3.2; D-ZJPX-INTAKE-DUPLICATES",
    requirements=("ZJPX-B-STUDENT-FILED", "ZJPX-INTAKE-UNIQUE"),
)
def business_students(ctx: JournalContext) -> Any:
    return _filed(ctx, "studentInfo", ("ZJPX-INTAKE-UNIQUE",))


@BUSINESS.check(
    "ZJPX-B-CLASSES",
    title="classes are filed through pushClassInfo with their learners, course packages and trigger, and accepted",
    clause="002 §2.4.1, §2.4.2; §1.12.2 triggervValue; D-ZJPX-INTAKE-DUPLICATES",
    requirements=("ZJPX-B-CLASS-FILED", "ZJPX-INTAKE-UNIQUE", "ZJPX-CLASS-TRIGGER"),
)
def business_classes(ctx: JournalContext) -> Any:
    return _filed(ctx, "classInfo", ("ZJPX-INTAKE-UNIQUE", "ZJPX-CLASS-TRIGGER"))


@BUSINESS.check(
    "ZJPX-B-STUDY",
    title="classStudentStudy asks for a filed class and is answered",
    clause="002 §2.5.1, §2.5.2 classCode (是否可空 否); D-ZJPX-REFERENCES",
    requirements=("ZJPX-B-STUDY-QUERY", "ZJPX-REF-CLASS"),
)
def business_study(ctx: JournalContext) -> Any:
    calls = ctx.calls("classStudentStudy")
    if not calls:
        return skipped("classStudentStudy was never called: §2.5 is a query the business platform makes when it needs the records")
    result = graded(BUSINESS, "ZJPX-B-STUDY", ctx, ("ZJPX-REF-CLASS",))
    if status_of(result) in ("failed", "warning"):
        return result
    accepted = ctx.accepted("classStudentStudy")
    if not accepted:
        return failed(f"none of {len(calls)} classStudentStudy call(s) was accepted; e.g. {_refusal(calls[0])}")
    records = sum(len(e["reply"].get("returnData") or []) for e in accepted if isinstance(e.get("reply"), dict))
    return passed(f"{len(accepted)} query(ies) for filed classes answered, {records} study record(s)")


@BUSINESS.check(
    "ZJPX-B-FORMAT",
    title="§2 requests carry every field 是否可空 否, in the seed's types, with valid ID numbers",
    clause="002 §2.1.2–§2.5.2 (是否可空 否, 字段类型); 请求接口示例 {headers, data}; D-ZJPX-CARDNO",
    requirements=("ZJPX-B-REQUIRED", "ZJPX-CARDNO-CHECK"),
)
def business_format(ctx: JournalContext) -> Any:
    if not any(ctx.calls(op) for op in INTAKE):
        return skipped("no §2 interface was called: no request to judge")
    return graded(BUSINESS, "ZJPX-B-FORMAT", ctx, ("SCHEMA", "ROUTING", "ZJPX-PLATFORM-CODE", "ZJPX-CARDNO-CHECK"))


@BUSINESS.check(
    "ZJPX-B-REFERENCES",
    title="filed records refer to each other: a class's learners were filed as students, its organisation has teachers, "
    "its courses are pushed course packages",
    clause="002 §2.3.2 stuCard/stuCode, §2.4.2 cardNo/studentCode, §2.1.2 / §2.4.2 orgCode, §2.4.2 courseCode (课程包编码); §1.13",
    requirements=("ZJPX-B-LEARNERS-FILED", "ZJPX-B-ORG-TEACHERS", "ZJPX-B-CLASS-PACKAGES"),
    level="SHOULD",
)
def business_references(ctx: JournalContext) -> Any:
    classes = [d for e in ctx.accepted("classInfo") if isinstance(d := request_data(e), dict)]
    if not classes:
        return skipped("no class intake was accepted: no reference to judge")
    students: dict[str, str] = {}
    for e in ctx.accepted("studentInfo"):
        for s in request_data(e) or []:
            if isinstance(s, dict):
                students[str(s.get("stuCard", "")).upper()] = str(s.get("stuCode", ""))
    orgs = {str(d.get("orgCode")) for e in ctx.accepted("teacherInfo") if isinstance(d := request_data(e), dict)}
    problems: list[str] = []
    learners = 0
    for cls in classes:
        code = cls.get("classCode")
        for s in cls.get("thirdClassStudentInfoVoList") or []:
            if not isinstance(s, dict):
                continue
            learners += 1
            card, student = str(s.get("cardNo", "")).upper(), str(s.get("studentCode", ""))
            masked = shown_card(card)
            if card not in students:
                problems.append(f"class {code}: learner {masked} was not filed through studentInfo")
            elif students[card] != student:
                problems.append(f"class {code}: learner {masked} has studentCode {student}, filed as stuCode {students[card]}")
        if str(cls.get("orgCode")) not in orgs:
            problems.append(f"class {code}: organisation {cls.get('orgCode')} has no teacher filed through teacherInfo")
        for course in cls.get("thirdClassCourseInfoVoList") or []:
            course_code = str(course.get("courseCode")) if isinstance(course, dict) else ""
            if get_course(ctx.store, ctx.platform_code, course_code) is None:
                problems.append(f"class {code}: course {course_code} is not a course package the platform pushed (§1.13) and kept")
    if problems:
        # Advice beyond the seed (requirements ZJPX-B-LEARNERS-FILED, -ORG-TEACHERS, -CLASS-PACKAGES): the warning names
        # the decision on what the codes must name (D-ZJPX-REFERENCES), as every WARNING of a report does.
        more = f" (+{len(problems) - 4} more)" if len(problems) > 4 else ""
        return BUSINESS.get("ZJPX-B-REFERENCES").result(
            "failed",
            f"{len(problems)} reference(s) to records never filed: "
            + "; ".join(problems[:4])
            + more
            + " (advice beyond the seed: no clause orders §2.1/§2.3/§1.13 before §2.4)",
            decision="D-ZJPX-REFERENCES",
        )
    return passed(
        f"{len(classes)} class(es), {learners} learner(s): every learner filed as a student, every organisation has "
        "teachers, every course a pushed course package"
    )


def shown_card(card: str) -> str:
    """A learner's ID number as a report names it: the journal keeps a keyed hash (``hmac-sha256:<hex>:…<tail>``, the
    ZJPX platform's personal fields), shown by its tail; an older row's clear number by its first four and last two."""
    if card.upper().startswith(SECRET_PREFIX.upper()):
        return "…" + card.rpartition("…")[2]
    return card[:4] + "…" + card[-2:] if len(card) > 6 else "…"


class BusinessPlatformRole:
    name = "zjpx-business-platform"
    platform = "zjpx"
    description = "The vendor's business platform files §2 records with the supervision side; graded from the harness's journal."
    checks = BUSINESS

    def __init__(self, store: Store, platform_code: str, after_id: int | None = None, window: Window | None = None) -> None:
        self.store, self.platform_code = store, platform_code
        self.window = window or Window(after_id=after_id)  # a certification session's, or --since's

    def run(self, seed: int) -> Iterator[Event]:
        # The calls the gate attributed to the platform code, and those of the session it refused before naming one.
        where = self.window.attributed(self.platform_code)
        journaled = Journal(self.store).query(platform="zjpx", where=where, limit=None, ascending=True)
        entries = [e for e in journaled if e["operation"] in OPERATIONS]
        yield from run(
            role=self.name,
            platform=self.platform,
            target=self.platform_code,
            checks=BUSINESS,
            context=JournalContext(self.store, self.platform_code, entries),
            seed=seed,
            options={"platform": self.platform_code, **self.window.options(), "exchanges": len(entries)},
            spec_hashes={"specs/zjpx/supervision.yaml": spec_sha256("zjpx/supervision.yaml")},
            requirements=requirements(),
        )


class BusinessPlatformRoleCommand(JournalRoleCommand):
    name = BusinessPlatformRole.name
    checks = BUSINESS
    summary = "Grade a business platform (vendor filing §2 records with /zjpx) from the journal."
    description = (
        "Grade a business platform from what it sent to `harness serve` under /zjpx (002 §2.1–§2.5): login with the "
        "learning platform's account (D-ZJPX-BUSINESS-AUTH), teachers, course infos, learners and classes filed and "
        "accepted, the fields the seed marks 是否可空 否, study-record queries for filed classes, and (advice) a class's "
        "learners filed as students, its organisation's teachers filed and its courses pushed as course packages."
    )
    options = (
        RoleOption("platform", "The studyPlatformCode the business platform files for (harness zjpx account list).", required=True),
        SINCE_OPTION,
    )

    def role(self, store: Store) -> BusinessPlatformRole:
        return BusinessPlatformRole(store, self.code, window=self.window)
