"""Certify roles for ZJPX, built on harness.conformance.engine (the lead wires them to `harness certify`).

- ``zjpx-learning-platform-server``: the vendor serves Z10 pushClassInfo and Z11 thirdCoursePull; the harness calls them.
- ``zjpx-learning-platform-client``: the vendor's learning platform called the harness; it is graded from the journal
  (every exchange under its studyPlatformCode, with the verdicts the reference recorded) and the study sessions.

Each role's ``run(seed)`` yields engine events and nothing else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness.conformance import catalogue
from harness.conformance.engine import CheckSet, TargetUnreachable, failed, passed, run, skipped
from harness.conformance.model import Event, Evidence, Requirement
from harness.conformance.roles import SINCE_OPTION, CommonOptions, RoleOption
from harness.conformance.sessions import Window
from harness.journal import Journal
from harness.schema import open_store
from harness.specs import spec_sha256
from harness.store import Store
from harness.zjpx.vendor import Exchanged, VendorClient, VendorUnreachable, account_problems, page_of


def requirements() -> tuple[Requirement, ...]:
    """What a learning platform calling the supervision side is held to: the catalogue entries of the reference's rules."""
    return tuple(r for r in catalogue.load("zjpx") if r.rules)


def server_requirements() -> tuple[Requirement, ...]:
    """What a learning platform serving Z10/Z11 is held to (catalogue entries without a reference rule)."""
    return tuple(r for r in catalogue.load("zjpx") if not r.rules)


# What a learning platform serving Z10/Z11 is held to (002 §1.12, §1.14), and which server check enforces each. The
# catalogue (specs/zjpx/requirements.yaml) is what reports read; tests/zjpx/test_certify.py keeps the two in step.
SERVER_REQUIREMENTS = (
    Requirement("ZJPX-Z10-ACCEPT", "zjpx", "002 §1.12.1, §1.12.4", "pushClassInfo accepts a valid class and answers returnCode 0"),
    Requirement("ZJPX-Z10-REFUSE", "zjpx", "002 §1.12.2 (是否可空 否)", "pushClassInfo refuses a class that breaks the interface"),
    Requirement("ZJPX-Z10-ACCOUNTS", "zjpx", "002 §1.12.1, §1.12.5", "one login account per pushed learner, and passwordRules"),
    Requirement("ZJPX-Z11-SHAPE", "zjpx", "002 §1.14.4, §1.14.5", "thirdCoursePull answers as the example", "D-ZJPX-PULL-SHAPE"),
    Requirement("ZJPX-Z11-PAGES", "zjpx", "002 §1.14.2, §1.14.5", "pages honour pageSize, totalPage is consistent, no duplicates or gaps"),
    Requirement("ZJPX-Z11-TREE", "zjpx", "002 §1.12.3, §1.14.5", "the pushed class's course tree reads back intact"),
    Requirement("ZJPX-ENVELOPE", "zjpx", "002 §1.x.5 returnCode; D-HTTP-STATUS", "every reply is the {returnCode, returnMsg} envelope"),
)
SERVER_LINKS = {
    "ZJPX-S-PUSH": ("ZJPX-Z10-ACCEPT",),
    "ZJPX-S-ACCOUNTS": ("ZJPX-Z10-ACCOUNTS",),
    "ZJPX-S-PUSH-NEGATIVE": ("ZJPX-Z10-REFUSE",),
    "ZJPX-S-PULL": ("ZJPX-Z11-SHAPE",),
    "ZJPX-S-PAGES": ("ZJPX-Z11-PAGES",),
    "ZJPX-S-TREE": ("ZJPX-Z11-TREE",),
    "ZJPX-S-FUZZ-POSITIVE": ("ZJPX-ENVELOPE",),
    "ZJPX-S-FUZZ-NEGATIVE": ("ZJPX-ENVELOPE", "ZJPX-Z10-REFUSE"),
}


def _evidence(x: Exchanged, note: str = "") -> Evidence:
    # Personal data stays out of reports: the learner list is summarised, never copied.
    request = dict(x.request)
    data = request.get("data")
    if isinstance(data, dict) and "thirdClassStudentInfoVoList" in data:
        request = dict(request, data=dict(data, thirdClassStudentInfoVoList=f"<{len(data['thirdClassStudentInfoVoList'])} learners>"))
    reply = x.reply
    if isinstance(reply, dict) and isinstance(reply.get("returnData"), list) and x.path.endswith("pushClassInfo"):
        reply = dict(reply, returnData=f"<{len(reply['returnData'])} accounts>")
    return Evidence(note, {"method": "POST", "url": x.path, "body": request}, {"status": x.status, "body": reply})


# --- zjpx-learning-platform-server ------------------------------------------------------------------------------------
SERVER = CheckSet()


@dataclass
class ServerContext:
    vendor: VendorClient
    seed: int
    students: int
    page_size: int
    strict: bool
    fuzz_examples: int = 5
    pushed: dict[str, Any] = field(default_factory=dict)
    push: Exchanged | None = None
    pages: list[Exchanged] = field(default_factory=list)

    def call(self, fn: Any, *args: Any) -> Exchanged:
        try:
            return fn(*args)
        except VendorUnreachable as exc:
            raise TargetUnreachable(str(exc)) from None


@SERVER.check("ZJPX-S-PUSH", title="pushClassInfo accepts a valid class and answers in the spec's shape", clause="002 §1.12.3, §1.12.4")
def push_accepted(ctx: ServerContext) -> Any:
    from fixtures.zjpx import ZjpxData

    intake = ZjpxData(ctx.seed).class_intake(students=ctx.students, video_on_hook=2, trigger_type=1, trigger_value=5)
    ctx.pushed = ZjpxData.push_class_info(intake, strict=ctx.strict)
    ctx.push = ctx.call(ctx.vendor.push_class, ctx.pushed)
    if not ctx.push.ok:
        return failed('pushClassInfo did not answer returnCode "0" to a valid class', _evidence(ctx.push))
    if ctx.push.schema_errors:
        return failed("; ".join(ctx.push.schema_errors[:3]), _evidence(ctx.push))
    return passed("accepted", _evidence(ctx.push))


@SERVER.check(
    "ZJPX-S-ACCOUNTS",
    title="one login account per pushed learner, and the password rule",
    clause="002 §1.12.1 (推送成功后接收学习平台返回过来的学员登录账号), §1.12.5 passwordRules",
)
def accounts_returned(ctx: ServerContext) -> Any:
    if ctx.push is None or not isinstance(ctx.push.reply, dict):
        return skipped("pushClassInfo gave no reply")
    problems = account_problems(ctx.pushed, ctx.push.reply)
    if problems:
        return failed("; ".join(problems), _evidence(ctx.push))
    return passed(f"{len(ctx.pushed['thirdClassStudentInfoVoList'])} learners, {len(ctx.pushed['thirdClassStudentInfoVoList'])} accounts")


@SERVER.check("ZJPX-S-PUSH-NEGATIVE", title="pushClassInfo refuses a class without learners", clause="002 §1.12.2 (是否可空 否)")
def push_refuses_incomplete(ctx: ServerContext) -> Any:
    if not ctx.pushed:
        return skipped("no class was pushed")
    broken = {k: v for k, v in ctx.pushed.items() if k != "thirdClassStudentInfoVoList"}
    x = ctx.call(ctx.vendor.push_class, broken)
    if x.ok:
        return failed('a class without thirdClassStudentInfoVoList was accepted with returnCode "0"', _evidence(x))
    return passed("refused")


def _walk_pages(ctx: ServerContext) -> list[Exchanged]:
    if not ctx.pages:
        first = ctx.call(ctx.vendor.pull, 1, ctx.page_size)
        ctx.pages = [first]
        total, _ = page_of(first.reply)
        for page in range(2, min(total or 1, 200) + 1):
            ctx.pages.append(ctx.call(ctx.vendor.pull, page, ctx.page_size))
    return ctx.pages


@SERVER.check("ZJPX-S-PULL", title="thirdCoursePull answers in the spec's shape", clause="002 §1.14.4, §1.14.5")
def pull_shape(ctx: ServerContext) -> Any:
    pages = _walk_pages(ctx)
    for x in pages:
        if not x.ok or x.schema_errors:
            return failed("; ".join(x.schema_errors[:3]) or 'returnCode is not "0"', _evidence(x))
    return passed(f"{len(pages)} page(s)")


@SERVER.check(
    "ZJPX-S-PAGES",
    title="pages are consistent: totalPage, pageSize honoured, no duplicates or gaps",
    clause="002 §1.14.2 pageNo/pageSize, §1.14.5 totalPage",
)
def pages_consistent(ctx: ServerContext) -> Any:
    pages = _walk_pages(ctx)
    total, _ = page_of(pages[0].reply)
    if total is None:
        return failed("totalPage is missing", _evidence(pages[0]))
    seen: dict[str, int] = {}
    for number, x in enumerate(pages, 1):
        page_total, items = page_of(x.reply)
        if page_total != total:
            return failed(f"page {number} says totalPage {page_total}, page 1 said {total}", _evidence(x))
        if len(items) > ctx.page_size:
            return failed(f"page {number} has {len(items)} courses for pageSize {ctx.page_size}", _evidence(x))
        if number < total and len(items) < ctx.page_size:
            return failed(f"page {number} of {total} has only {len(items)} courses (a gap before the last page)", _evidence(x))
        for item in items:
            code = str(item.get("courseCode")) if isinstance(item, dict) else repr(item)
            if code in seen:
                return failed(f"course {code} appears on page {seen[code]} and again on page {number}", _evidence(x))
            seen[code] = number
    beyond = ctx.call(ctx.vendor.pull, total + 1, ctx.page_size)
    if page_of(beyond.reply)[1]:
        return failed(f"page {total + 1} (past totalPage {total}) still returns courses", _evidence(beyond))
    return passed(f"{len(seen)} courses on {total} page(s) of {ctx.page_size}")


@SERVER.check(
    "ZJPX-S-TREE", title="the pushed class's course tree reads back intact", clause="002 §1.12.3 thirdClassCourseInfoVoList; §1.14.5"
)
def tree_intact(ctx: ServerContext) -> Any:
    if not ctx.pushed:
        return skipped("no class was pushed")
    pulled = {str(c.get("courseCode")): c for x in _walk_pages(ctx) for c in page_of(x.reply)[1] if isinstance(c, dict)}
    from harness.zjpx.state import num, package_resources

    for course in ctx.pushed["thirdClassCourseInfoVoList"]:
        got = pulled.get(course["courseCode"])
        if got is None:
            return failed(f"pushed course {course['courseCode']} is not among the pulled course packages")
        want = {v["resCode"]: (v["videoUrl"], num(v["videoTimeLength"])) for ch in course["children"] for v in ch["children"]}
        have = {r.res_code: r.duration for r in package_resources(got)}
        urls = {
            str(s.get("resCode")): s.get("videoUrl")
            for chapter in got.get("chapterList") or []
            for section in chapter.get("sectionList") or []
            for s in section.get("sectionSourceList") or []
        }
        if set(have) != set(want):
            return failed(
                f"course {course['courseCode']}: {len(set(want) - set(have))} pushed video(s) missing, {len(set(have) - set(want))} extra"
            )
        for code, (url, seconds) in want.items():
            if have[code] != seconds or (code in urls and urls[code] != url):
                return failed(f"course {course['courseCode']}: video {code} reads back with another duration or URL")
    return passed("every pushed course and video reads back")


def _run_cases(operation: Any, mode: Any, judge: Any, examples: int, seed: int) -> None:
    from hypothesis import HealthCheck, assume, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis.errors import Unsatisfiable

    # Seeded from the run's seed, so a report can be reproduced; a case without a body (a negative case may mutate only
    # what this spec does not send) is rejected with assume() rather than counted, so that `examples` cases are sent.
    @hypothesis_seed(seed)
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy(generation_mode=mode))
    def one(case: Any) -> None:
        assume(case.body is not None and not (isinstance(case.body, dict) and not case.body))
        judge(case)

    try:
        one()
    except Unsatisfiable:  # no case with a body at all: the caller reports that nothing was sent
        pass


def _judge(ctx: ServerContext, path: str, body: Any, negative: bool, problems: list[tuple[str, Exchanged]], sent: list[int]) -> None:
    if body is None or (isinstance(body, dict) and not body):
        return
    x = ctx.call(ctx.vendor.send, path, body)
    sent.append(1)
    if x.status >= 500:
        problems.append((f"{path}: HTTP {x.status}", x))
    elif not isinstance(x.reply, dict) or not isinstance(x.reply.get("returnCode"), str) or "returnMsg" not in x.reply:
        problems.append((f"{path}: the reply is not a {{returnCode, returnMsg, …}} envelope", x))
    elif negative and x.reply["returnCode"] == "0":
        problems.append((f'{path}: a request that breaks the spec was accepted with returnCode "0"', x))


def _fuzz(ctx: ServerContext, negative: bool) -> Any:
    """Schemathesis generates bodies from the vendor's spec; the harness sends them with its own client."""
    if ctx.fuzz_examples <= 0:
        return skipped("fuzzing turned off (fuzz_examples=0)")
    import schemathesis
    from schemathesis.generation import GenerationMode

    from harness.specs import load_spec

    schema = schemathesis.openapi.from_dict(load_spec("zjpx/learning-platform.yaml", "strict" if ctx.strict else "tolerant"))
    mode = GenerationMode.NEGATIVE if negative else GenerationMode.POSITIVE
    problems: list[tuple[str, Exchanged]] = []
    sent: list[int] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        _run_cases(
            operation,
            mode,
            lambda case, path=operation.path: _judge(ctx, path, case.body, negative, problems, sent),
            ctx.fuzz_examples,
            ctx.seed,
        )
    if not sent:  # nothing was tried, so nothing was shown
        return skipped("Schemathesis generated no request with a body to send")
    if problems:
        return failed(
            f"{len(problems)} of {sent} cases: " + "; ".join(p for p, _ in problems[:3]), *[_evidence(x) for _, x in problems[:3]]
        )
    return passed(f"{len(sent)} generated requests")


@SERVER.check(
    "ZJPX-S-FUZZ-POSITIVE",
    title="generated valid requests get a ZJPX envelope, never a server error",
    clause="002 §1.12, §1.14; D-HTTP-STATUS",
)
def fuzz_positive(ctx: ServerContext) -> Any:
    return _fuzz(ctx, negative=False)


@SERVER.check(
    "ZJPX-S-FUZZ-NEGATIVE",
    title='generated invalid requests are refused (returnCode ≠ "0")',
    clause="002 §1.12.2, §1.14.2 (是否可空 否, 字段类型)",
)
def fuzz_negative(ctx: ServerContext) -> Any:
    return _fuzz(ctx, negative=True)


# Link each check to the requirements it enforces (coverage in reports), from the tables above.
SERVER.checks[:] = [dataclasses.replace(c, requirements=SERVER_LINKS[c.id]) for c in SERVER.checks]


class LearningPlatformServerRole:
    name = "zjpx-learning-platform-server"
    platform = "zjpx"
    description = "The vendor's learning platform serves pushClassInfo (Z10) and thirdCoursePull (Z11)."

    def __init__(
        self,
        target: str,
        profile: str = "strict",
        client: httpx.Client | None = None,
        students: int = 3,
        page_size: int = 2,
        fuzz_examples: int = 5,
    ) -> None:
        self.target, self.profile, self.client, self.students, self.page_size = target, profile, client, students, page_size
        self.fuzz_examples = fuzz_examples  # per operation and mode (positive, negative); 0 turns fuzzing off

    def run(self, seed: int) -> Iterator[Event]:
        context = ServerContext(
            VendorClient(self.target, self.profile, self.client),
            seed,
            self.students,
            self.page_size,
            self.profile == "strict",
            self.fuzz_examples,
        )
        yield from run(
            role=self.name,
            platform=self.platform,
            target=self.target,
            checks=SERVER,
            context=context,
            seed=seed,
            options={"profile": self.profile, "students": self.students, "page_size": self.page_size, "fuzz_examples": self.fuzz_examples},
            spec_hashes={"specs/zjpx/learning-platform.yaml": spec_sha256("zjpx/learning-platform.yaml")},
            requirements=server_requirements(),
            certification_valid=self.profile == "strict",  # a tolerant run is for development only
        )


# --- zjpx-learning-platform-client ------------------------------------------------------------------------------------
CLIENT = CheckSet()


@dataclass
class ClientContext:
    store: Store
    platform_code: str
    entries: list[dict[str, Any]]

    def failures(self, *rule_ids: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return [(e, v) for e in self.entries for v in e["verdicts"] if not v["held"] and v["rule"] in rule_ids]

    def count(self, operation: str, held_only: bool = True) -> int:
        return sum(1 for e in self.entries if e["operation"] == operation and (e["outcome"] == "held" or not held_only))


# Which reference rules each client check grades (also the requirements it covers in the report).
GRADES = {
    "ZJPX-C-LOGIN": ("ZJPX-TOKEN",),
    "ZJPX-C-REALNAME": ("ZJPX-REALNAME-FIRST",),
    "ZJPX-C-SESSIONS": ("ZJPX-SESSION-OPEN", "ZJPX-REF-CLASS", "ZJPX-REF-ENROLMENT", "ZJPX-REF-COURSE", "ZJPX-REF-RESOURCE"),
    "ZJPX-C-STUDYHOUR": (
        "ZJPX-STUDYHOUR-EARLY",
        "ZJPX-STUDYHOUR-GAP",
        "ZJPX-STUDYHOUR-PROGRESS",
        "ZJPX-STUDYHOUR-BACKWARDS",
        "ZJPX-STUDYHOUR-DURATION",
        "ZJPX-STUDYHOUR-JUMP",
        "ZJPX-STUDY-LIMIT",
    ),
    "ZJPX-C-ANTI-IDLING": ("ZJPX-ANTI-IDLING", "ZJPX-START-FACE"),
    "ZJPX-C-BIZCODES": ("ZJPX-FACE-BIZCODE", "ZJPX-CODE-BIZCODE", "ZJPX-CODE-SESSION", "ZJPX-FACE-IMAGE", "ZJPX-VIDEO-TIME"),
    "ZJPX-C-COURSES": ("ZJPX-COURSE-STATUS", "ZJPX-COURSE-UNIQUE", "ZJPX-COURSE-PARENT", "ZJPX-PHOTO-LEARNER"),
    "ZJPX-C-FORMAT": ("SCHEMA", "ROUTING", "ZJPX-PLATFORM-CODE", "ZJPX-CARDNO-CHECK"),
}


def _graded(ctx: ClientContext, rule_ids: tuple[str, ...], none_message: str | None = None, needs: str | None = None) -> Any:
    found = ctx.failures(*rule_ids)
    if found:
        lines = [f"#{e['id']} {e['operation']}: {v.get('message', '')} [{v['rule']}, {v['clause']}]" for e, v in found[:5]]
        more = f" (+{len(found) - 5} more)" if len(found) > 5 else ""
        return failed("; ".join(lines) + more, *[Evidence(f"journal #{e['id']}: {v['rule']} {v['clause']}") for e, v in found[:5]])
    if needs is not None and ctx.count(needs) == 0:
        return failed(none_message or f"no accepted {needs} in the journal")
    return passed("no violation in the journal")


@CLIENT.check("ZJPX-C-LOGIN", title="logs in and uses a valid token", clause="002 §1.1; 通用请求参数 userToken")
def client_login(ctx: ClientContext) -> Any:
    return _graded(ctx, GRADES["ZJPX-C-LOGIN"], "the platform never logged in successfully (/api/v1/thlogin)", needs="thlogin")


@CLIENT.check(
    "ZJPX-C-REALNAME", title="real-name check before study where the class requires it", clause="002 §1.2; §1.12.2 realNameAuthentication"
)
def client_realname(ctx: ClientContext) -> Any:
    return _graded(ctx, GRADES["ZJPX-C-REALNAME"])


@CLIENT.check("ZJPX-C-SESSIONS", title="startStudy and endStudy once per video watched", clause="002 §1.3.1, §1.4.1")
def client_sessions(ctx: ClientContext) -> Any:
    graded = _graded(ctx, GRADES["ZJPX-C-SESSIONS"], needs="startStudy")
    if graded[0] != "passed":
        return graded
    rows = ctx.store.query("SELECT id, res_code, status FROM zjpx_sessions WHERE platform_code = ? ORDER BY id", (ctx.platform_code,))
    unended = [r for r in rows if r["status"] != "ended"]
    if unended:
        return failed(f"{len(unended)} of {len(rows)} study session(s) never got their endStudy (e.g. video {unended[0]['res_code']})")
    return passed(f"{len(rows)} session(s), each started and ended")


@CLIENT.check(
    "ZJPX-C-STUDYHOUR", title="studyHour every minute with plausible progress", clause="002 §1.10.1, §1.10.2; §1.12.2 studyHourLimit"
)
def client_study_hour(ctx: ClientContext) -> Any:
    return _graded(ctx, GRADES["ZJPX-C-STUDYHOUR"], "no studyHour was accepted", needs="studyHour")


@CLIENT.check(
    "ZJPX-C-ANTI-IDLING",
    title="face or code checks as the class configured them",
    clause="002 §1.12.2 videoOnHook, triggerType, triggervValue, videoStartFace",
)
def client_anti_idling(ctx: ClientContext) -> Any:
    return _graded(ctx, GRADES["ZJPX-C-ANTI-IDLING"])


@CLIENT.check("ZJPX-C-BIZCODES", title="bizCodes used as issued and within their expiry", clause="002 §1.5–§1.8 bizCode, expiresTime")
def client_bizcodes(ctx: ClientContext) -> Any:
    return _graded(ctx, GRADES["ZJPX-C-BIZCODES"])


@CLIENT.check("ZJPX-C-COURSES", title="course packages and photo updates as the supervision side keeps them", clause="002 §1.13.2; §1.11.1")
def client_courses(ctx: ClientContext) -> Any:
    return _graded(ctx, GRADES["ZJPX-C-COURSES"])


@CLIENT.check(
    "ZJPX-C-FORMAT", title="requests match the interface definition", clause="002 请求接口示例 {headers, data}; specs/zjpx/supervision.yaml"
)
def client_format(ctx: ClientContext) -> Any:
    return _graded(ctx, GRADES["ZJPX-C-FORMAT"])


CLIENT.checks[:] = [dataclasses.replace(c, requirements=GRADES[c.id]) for c in CLIENT.checks]


class LearningPlatformClientRole:
    name = "zjpx-learning-platform-client"
    platform = "zjpx"
    description = "The vendor's learning platform calls the supervision side; graded from the harness's journal."

    def __init__(
        self, store: Store, platform_code: str, profile: str = "strict", after_id: int | None = None, window: Window | None = None
    ) -> None:
        self.store, self.platform_code, self.profile = store, platform_code, profile
        self.window = window or Window(after_id=after_id)  # a certification session's, or --since's

    def run(self, seed: int) -> Iterator[Event]:
        entries = Journal(self.store).query(platform="zjpx", vendor=self.platform_code, where=self.window.sql(), limit=None, ascending=True)
        yield from run(
            role=self.name,
            platform=self.platform,
            target=self.platform_code,
            checks=CLIENT,
            context=ClientContext(self.store, self.platform_code, entries),
            seed=seed,
            options={"platform": self.platform_code, **self.window.options(), "profile": self.profile, "exchanges": len(entries)},
            spec_hashes={"specs/zjpx/supervision.yaml": spec_sha256("zjpx/supervision.yaml")},
            requirements=requirements(),
            certification_valid=self.profile == "strict",
        )


def summary(events: list[Event]) -> str:
    """A one-line-per-check text of a run (for tests and quick looks; reporters are the lead's)."""
    from harness.conformance.model import CheckFinished, RunFinished

    lines = [f"{e.result.status:7} {e.result.check_id} {e.result.message}" for e in events if isinstance(e, CheckFinished)]
    end = events[-1]
    lines.append(f"verdict {end.verdict}" if isinstance(end, RunFinished) else "unfinished")
    return "\n".join(lines)


# --- `harness certify` entry points (harness.conformance.roles registry protocol) ---------------------------------------
class ServerRoleCommand(LearningPlatformServerRole):
    summary = "Certify a learning platform's pushClassInfo and thirdCoursePull (vendor as server)."
    description = (
        "Call the vendor's Z10 pushClassInfo and Z11 thirdCoursePull (002 §1.12, §1.14): a generated class must be accepted "
        "with one account per learner and the password rule, an incomplete one refused; pages must be consistent; the "
        "pushed course tree must read back intact; Schemathesis-generated valid and invalid requests must be answered in the envelope."
    )
    options = (
        RoleOption("target", "Base URL of the vendor's learning platform (…/api/v1/pushClassInfo is appended).", required=True),
        RoleOption("students", "Learners in the pushed class.", default=3, type=int),
        RoleOption("page_size", "pageSize for thirdCoursePull.", default=2, type=int),
        RoleOption("fuzz_examples", "Generated requests per interface and mode (0: no fuzzing).", default=5, type=int),
    )

    def __init__(self, common: CommonOptions, target: str, students: int = 3, page_size: int = 2, fuzz_examples: int = 5) -> None:
        super().__init__(target, common.profile, None, students, page_size, fuzz_examples)


class ClientRoleCommand:
    name = LearningPlatformClientRole.name
    platform = "zjpx"
    summary = "Grade a learning platform (vendor as client of /zjpx) from the journal."
    description = (
        "Grade a learning platform from what it sent to `harness serve` under /zjpx: login and token use, real-name check "
        "before study, start and end per video, studyHour every minute with plausible progress, the configured face or code "
        "checks, bizCodes within their expiry."
    )
    options = (
        RoleOption("platform", "The platform's studyPlatformCode (harness zjpx account list).", required=True),
        SINCE_OPTION,
    )

    def __init__(self, common: CommonOptions, platform: str, since: int | None = None, window: Window | None = None) -> None:
        self.common, self.code = common, platform
        self.window = window or Window(after_id=since)

    def run(self, seed: int) -> Iterator[Event]:
        store = open_store(self.common.db)
        try:
            yield from LearningPlatformClientRole(store, self.code, self.common.profile, window=self.window).run(seed)
        finally:
            store.close()
