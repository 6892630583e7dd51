"""The certify roles (event streams from harness.conformance.engine) and `harness simulate zjpx-push-class`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from fixtures.photos import b64, two_inch_photo
from harness.conformance.model import CheckFinished, CheckResult, RunFinished, RunStarted
from harness.zjpx.certify import LearningPlatformClientRole, LearningPlatformServerRole, summary
from harness.zjpx.simulate import push_class
from tests.zjpx.conftest import Served, Zjpx, failed_rules
from tests.zjpx.fake_vendor import FakeLearningPlatform

TARGET = "http://vendor.example.invalid"


def server_events(vendor: FakeLearningPlatform, fuzz_examples: int = 0, profile: str = "strict") -> list[object]:
    client = httpx.Client(transport=vendor.transport())
    events = list(LearningPlatformServerRole(TARGET, profile, client=client, fuzz_examples=fuzz_examples).run(seed=3))
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    return events


def server_run(vendor: FakeLearningPlatform, fuzz_examples: int = 0, profile: str = "strict") -> tuple[str, dict[str, str]]:
    events = server_events(vendor, fuzz_examples, profile)
    results = {e.result.check_id: e.result.status for e in events if isinstance(e, CheckFinished)}
    return events[-1].verdict, results  # type: ignore[attr-defined]


def test_a_conforming_learning_platform_passes_the_server_role() -> None:
    verdict, results = server_run(FakeLearningPlatform(), fuzz_examples=1)
    assert verdict == "passed", results
    assert set(results) == {c.id for c in LearningPlatformServerRole.checks}
    assert set(results.values()) == {"passed", "review"}, results
    assert results["ZJPX-S-PASSWORD-RULE"] == "review"


def test_pull_with_digit_strings_as_the_seed_example_passes_with_a_warning_under_every_profile() -> None:
    """002 §1.14.4 writes "courseStatus": "0", "chapterSort": "1": a vendor copying it is certifiable (D-ZJPX-NUMSTR)."""
    for profile in ("strict", "tolerant"):
        events = server_events(FakeLearningPlatform(numbers_as_strings=True), profile=profile)
        pull = next(e.result for e in events if isinstance(e, CheckFinished) and e.result.check_id == "ZJPX-S-PULL")
        assert pull.status == "warning" and pull.decision and "D-ZJPX-NUMSTR" in pull.decision, pull
        assert "D-ZJPX-NUMSTR: the examples' digit strings" in pull.message and "courseStatus" in pull.message
        assert events[-1].verdict == "passed"  # type: ignore[attr-defined]
        assert isinstance(events[0], RunStarted) and events[0].options.get("profile") is None


def test_the_seed_example_reply_itself_passes_the_pull_check_with_a_warning() -> None:
    _, results = server_run(FakeLearningPlatform(seed_example=True))
    assert results["ZJPX-S-PULL"] == "warning"  # its values (one course listed twice) are another matter: ZJPX-S-PAGES


def test_the_table_form_passes_with_a_warning_and_its_courses_are_still_judged() -> None:
    """002 §1.14.5 puts the page under returnData (父标记), the §1.14.4 example at the top level: both pass."""
    events = server_events(FakeLearningPlatform(table_form=True))
    found = {e.result.check_id: e.result for e in events if isinstance(e, CheckFinished)}
    assert found["ZJPX-S-PULL"].status == "warning" and found["ZJPX-S-PULL"].decision == "D-ZJPX-PULL-SHAPE"
    assert events[-1].verdict == "passed"  # type: ignore[attr-defined]
    _, results = server_run(FakeLearningPlatform(table_form=True, no_course_name=True))
    assert results["ZJPX-S-PULL"] == "failed"  # the courses under returnData are validated as well


def test_the_tables_fields_alone_pass_with_a_warning_naming_the_decision() -> None:
    """002 §1.14.5 lists no studyPlatformCode, courseStatus, chapterSort or sectionSort (only the §1.14.4 example has
    them): a reply with the table's fields alone is one of the seed's forms, a WARNING naming D-ZJPX-PULL-FIELDS."""
    events = server_events(FakeLearningPlatform(table_fields=True))
    found = {e.result.check_id: e.result for e in events if isinstance(e, CheckFinished)}
    pull = found["ZJPX-S-PULL"]
    assert pull.status == "warning" and pull.decision == "D-ZJPX-PULL-FIELDS", (pull.status, pull.decision, pull.message)
    assert "the §1.14.5 table's fields only" in pull.message and "'courseStatus' is a required property" in pull.message
    assert events[-1].verdict == "passed"  # type: ignore[attr-defined]
    _, results = server_run(FakeLearningPlatform(table_fields=True, no_course_name=True))
    assert results["ZJPX-S-PULL"] == "failed"  # a field the table does list is still required


def test_validity_comes_from_the_target_not_the_profile() -> None:
    events = server_events(FakeLearningPlatform())
    start = events[0]
    assert isinstance(start, RunStarted) and start.certification_valid is False
    assert "not https" in start.options["validity"]


def test_the_class_is_pushed_on_a_course_the_vendor_listed() -> None:
    vendor = FakeLearningPlatform()
    server_run(vendor)
    listed = {p["courseCode"] for p in vendor.packages}
    # ZJPX-S-PUSH's class, and ZJPX-S-SEED-FORMS's class in the §1.12.3 example's forms: both on a listed course
    assert len(vendor.classes) == 2
    for pushed in vendor.classes.values():
        assert [c["courseCode"] for c in pushed["thirdClassCourseInfoVoList"]][0] in listed


def test_no_package_fails_the_pull_and_skips_push_and_accounts() -> None:
    verdict, results = server_run(FakeLearningPlatform(no_packages=True))
    assert verdict == "failed" and results["ZJPX-S-PULL"] == "failed"
    assert results["ZJPX-S-PUSH"] == results["ZJPX-S-ACCOUNTS"] == results["ZJPX-S-TREE"] == "skipped"


def test_fewer_accounts_than_learners_fails() -> None:
    verdict, results = server_run(FakeLearningPlatform(drop_account=True))
    assert verdict == "failed" and results["ZJPX-S-ACCOUNTS"] == "failed"


def test_overlapping_pages_fail() -> None:
    verdict, results = server_run(FakeLearningPlatform(overlap_pages=True))
    assert verdict == "failed" and results["ZJPX-S-PAGES"] == "failed"


def test_accepting_anything_is_a_warning_with_the_broken_constraint_in_the_evidence() -> None:
    events = server_events(FakeLearningPlatform(accept_anything=True), fuzz_examples=2)
    results = {e.result.check_id: e.result for e in events if isinstance(e, CheckFinished)}
    assert results["ZJPX-S-PUSH-NEGATIVE"].status == "warning" and results["ZJPX-S-FUZZ-NEGATIVE"].status == "warning"
    # advice beyond the seed: each WARNING names the decision it rests on, in the report's decision field too
    assert results["ZJPX-S-PUSH-NEGATIVE"].decision == "D-ZJPX-RECEIVER-CHECKS"
    assert results["ZJPX-S-FUZZ-NEGATIVE"].decision == "D-ZJPX-RECEIVER-CHECKS"
    assert events[-1].verdict == "passed"  # type: ignore[attr-defined]  # the seed makes no receiver refuse (D-ZJPX-RECEIVER-CHECKS)
    evidence = results["ZJPX-S-FUZZ-NEGATIVE"].evidence[0]
    assert evidence.request is not None and evidence.request["broken"] and evidence.note
    assert evidence.request["broken"][0]["keyword"] in evidence.note


def test_unreachable_vendor_ends_the_run_with_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    role = LearningPlatformServerRole(TARGET, client=httpx.Client(transport=httpx.MockTransport(refuse)))
    assert list(role.run(seed=1))[-1].verdict == "error"  # type: ignore[union-attr]


def test_simulate_push_class() -> None:
    good = push_class(TARGET, seed=2, client=httpx.Client(transport=FakeLearningPlatform().transport()))
    assert good.passed, good.problems
    bad = push_class(TARGET, seed=2, client=httpx.Client(transport=FakeLearningPlatform(drop_account=True).transport()))
    assert not bad.passed and any("got no account" in p for p in bad.problems)


FACE = b64(two_inch_photo(9))


def learn(zj: Zjpx, *, cheat_progress: bool = False, skip_face: bool = False, face_first: bool = False) -> None:
    """A learning platform studying two videos with per-minute reports and a face check every 2 minutes.
    ``face_first``: the video-start face check comes before startStudy (the seed does not order them)."""
    intake = zj.file_class(seed=21, video_on_hook=2, trigger_type=1, trigger_value=2, video_start_face=1)
    for video in (0, 1):
        keys = zj.keys(intake, video=video)
        if face_first:
            assert zj.face(keys, FACE, at=0)["returnCode"] == "0"
        assert zj.start(keys)["returnCode"] == "0"
        if not skip_face and not face_first:
            zj.face(keys, FACE, at=0)
        for minute in range(1, 5):
            zj.advance(60)
            progress = 90 if cheat_progress and minute == 2 else 60
            zj.hour(keys, 60 * minute, progress)
            if minute % 2 == 0 and not skip_face:
                zj.face(keys, FACE, at=60 * minute)
        zj.advance(20)
        zj.end(keys)


def client_run(zj: Zjpx) -> tuple[str, dict[str, str], str]:
    events = list(LearningPlatformClientRole(zj.store, zj.code).run(seed=0))
    results = {e.result.check_id: e.result.status for e in events if isinstance(e, CheckFinished)}
    return events[-1].verdict, results, summary(events)  # type: ignore[union-attr]


def test_a_conforming_learning_platform_passes_the_client_role(zj: Zjpx) -> None:
    learn(zj)
    verdict, results, text = client_run(zj)
    assert verdict == "passed", text


def test_a_face_check_before_start_study_passes_with_a_warning_naming_the_decision(zj_tolerant: Zjpx) -> None:
    """002 §1.5.1 and §1.12.2 (视频开始时人脸识别) do not order the video-start face check and startStudy: a platform that
    checks the face first and then starts the video is served, its check counts for the session startStudy opens,
    and the role warns naming D-ZJPX-SESSIONS (whose strict reading wants startStudy first) instead of failing."""
    learn(zj_tolerant, face_first=True)
    verdict, results, text = client_run(zj_tolerant)
    assert verdict == "passed", text
    assert results["ZJPX-C-SESSIONS"] == "warning" and "D-ZJPX-SESSIONS" in text, text


def test_the_strict_reading_refuses_a_face_check_before_start_study(zj: Zjpx) -> None:
    intake = zj.file_class(seed=23, video_on_hook=0, trigger_type=1, trigger_value=2, video_start_face=1)
    ids = zj.only(zj.keys(intake), "studyPlatformCode", "resCode", "studentUserCode", "classCode")
    assert "ZJPX-SESSION-OPEN" in failed_rules(zj.call("/api/v1/getFaceCompareConfig", ids))


def test_a_face_check_long_before_start_study_does_not_count_for_it(zj_tolerant: Zjpx) -> None:
    zj = zj_tolerant
    intake = zj.file_class(seed=22, video_on_hook=0, trigger_type=1, trigger_value=2, video_start_face=1)
    keys = zj.keys(intake, video=0)
    assert zj.face(keys, FACE, at=0)["returnCode"] == "0"
    zj.advance(3600)  # an hour later: not the start of this video
    assert zj.start(keys)["returnCode"] == "0"
    zj.advance(60)
    assert "ZJPX-START-FACE" in failed_rules(zj.hour(keys, 60, 60))


def test_ninety_seconds_in_a_sixty_second_minute_fails_with_the_clause(zj: Zjpx) -> None:
    learn(zj, cheat_progress=True)
    verdict, results, text = client_run(zj)
    assert verdict == "failed" and results["ZJPX-C-STUDYHOUR"] == "failed"
    assert "ZJPX-STUDYHOUR-PROGRESS, 002 §1.10.2 progressTime" in text


def test_skipping_the_configured_face_checks_fails_with_the_clause(zj: Zjpx) -> None:
    learn(zj, skip_face=True)
    verdict, results, text = client_run(zj)
    assert verdict == "failed" and results["ZJPX-C-ANTI-IDLING"] == "failed"
    assert "002 §1.12.2" in text


def test_a_platform_that_logged_in_but_never_studied_fails(zj: Zjpx) -> None:
    verdict, results, _ = client_run(zj)
    assert results["ZJPX-C-LOGIN"] == "passed" and results["ZJPX-C-STUDYHOUR"] == "failed" and verdict == "failed"


def test_harness_certify_runs_both_roles_from_the_registry(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from harness.cli import main

    served = Served(tmp_path / "h", "strict")
    zj = Zjpx(served)
    zj.login()
    learn(zj)
    runner = CliRunner()
    db = str(tmp_path / "h" / "harness.db")
    passed = runner.invoke(
        main, ["certify", "zjpx-learning-platform-client", "--platform", zj.code, "--db", db, "--report", str(tmp_path / "r1"), "-q"]
    )
    assert passed.exit_code == 0, passed.output
    assert any((tmp_path / "r1").iterdir())
    from tests.zjpx.scenarios import business_platform

    business_platform(zj)
    filed = runner.invoke(
        main, ["certify", "zjpx-business-platform", "--platform", zj.code, "--db", db, "--report", str(tmp_path / "r3"), "-q"]
    )
    assert filed.exit_code == 0, filed.output
    unreachable = runner.invoke(
        main,
        ["certify", "zjpx-learning-platform-server", "--target", "http://127.0.0.1:9", "--db", db, "--report", str(tmp_path / "r2"), "-q"],
    )
    assert unreachable.exit_code == 2, unreachable.output


def test_simulate_command_against_a_real_http_server(tmp_path: Path) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from click.testing import CliRunner

    from harness.cli import main

    vendor = FakeLearningPlatform()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            reply = vendor.safely(httpx.Request("POST", f"http://vendor{self.path}", content=body))
            self.send_response(reply.status_code)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(reply.content)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        target = f"http://127.0.0.1:{server.server_address[1]}"
        result = CliRunner().invoke(main, ["simulate", "zjpx-push-class", "--target", target, "--seed", "5"])
        assert result.exit_code == 0, result.output
        assert '"returnCode": "0"' in result.output
        # The learners are generated, but have the form of personal data: masked unless asked for.
        printed = json.loads(result.output[: result.output.rindex("}") + 1])
        learners = printed["request"]["data"]["thirdClassStudentInfoVoList"]
        assert learners and all("*" in s["cardNo"] and "*" in s["studentName"] and "*" in s["studentPhone"] for s in learners), learners
        assert not re.search(r"(?<!\d)\d{17}[\dX](?!\d)|(?<!\d)1[3-9]\d{9}(?!\d)", result.output)
        shown = CliRunner().invoke(main, ["simulate", "zjpx-push-class", "--target", target, "--seed", "5", "--show-personal-data"])
        assert shown.exit_code == 0 and re.search(r"(?<!\d)\d{17}[\dX](?!\d)", shown.output), shown.output
        for bad, said in ((["--students", "0"], "'--students'"), (["--target", "notaurl"], "notaurl")):
            refused = CliRunner().invoke(main, ["simulate", "zjpx-push-class", "--target", target, *bad])
            assert refused.exit_code == 2 and said in refused.output.strip().splitlines()[-1], refused.output
            assert "Traceback" not in refused.output
        # The certify command against the same server, the vendor writing digit strings as the seed's example does:
        # it passes (exit 0) under --profile tolerant as under strict, the report says why it is a development run.
        vendor.numbers_as_strings = True
        for profile in ("strict", "tolerant"):
            report = tmp_path / profile
            args = ["certify", "zjpx-learning-platform-server", "--target", target, "--fuzz-examples", "0", "--profile", profile]
            certified = CliRunner().invoke(main, [*args, "--db", str(tmp_path / "h.db"), "--report", str(report), "-q"])
            assert certified.exit_code == 0, certified.output
            text = " ".join(f.read_text(encoding="utf-8", errors="replace") for f in report.rglob("*.json"))
            assert "D-ZJPX-NUMSTR" in text and "development run" in text
        vendor.numbers_as_strings = False
        vendor.drop_account = True
        assert CliRunner().invoke(main, ["simulate", "zjpx-push-class", "--target", target]).exit_code == 1
    finally:
        server.shutdown()
        server.server_close()


def test_catalogue_rules_and_checks_are_in_step() -> None:
    """One naming: the catalogue lists every reference rule with its clause, and each check's requirements."""
    from harness.conformance import catalogue
    from harness.rules import RuleSet
    from harness.zjpx import rules
    from harness.zjpx.business import BUSINESS
    from harness.zjpx.certify import CLIENT, SERVER

    reqs = catalogue.by_id("zjpx")
    every = [*CLIENT, *SERVER, *BUSINESS]
    for rule in rules.install(RuleSet("zjpx")):
        req = reqs[rule.id]
        assert (req.clause, req.text, req.decision, req.rules) == (rule.clause, rule.title, rule.decision, (rule.id,))
        assert req.level == rule.level, rule.id
    for req in reqs.values():
        assert req.level_reason, req.id
        assert set(req.checks) == {c.id for c in every if req.id in c.requirements}, req.id
    cited = {r for check in every for r in check.requirements} - {"SCHEMA", "ROUTING"}
    assert cited <= set(reqs)


def test_a_failed_should_verdict_in_the_journal_is_a_warning_not_a_failure(zj: Zjpx) -> None:
    from tests.zjpx.scenarios import learning_platform

    learning_platform(zj, late_report=True)  # ZJPX-STUDYHOUR-GAP is advisory: journaled with "level": "SHOULD"
    assert any(v.get("level") == "SHOULD" and not v["held"] for e in zj.journal() for v in e["verdicts"])
    events = list(LearningPlatformClientRole(zj.store, zj.code).run(seed=0))
    study = next(e.result for e in events if isinstance(e, CheckFinished) and e.result.check_id == "ZJPX-C-STUDYHOUR")
    assert study.status == "warning" and study.decision == "D-ZJPX-STUDY-CADENCE" and "ZJPX-STUDYHOUR-GAP" in study.message
    assert events[-1].verdict == "passed"  # type: ignore[attr-defined]


def test_a_platform_whose_every_study_hour_was_refused_fails(zj: Zjpx) -> None:
    from tests.zjpx.scenarios import learning_platform

    learning_platform(zj, early_reports=True)
    assert all(e["reply"]["returnCode"] != "0" for e in zj.journal() if e["operation"] == "studyHour")
    verdict, results, _ = client_run(zj)
    assert verdict == "failed" and results["ZJPX-C-STUDYHOUR"] == "failed"


def test_a_check_with_nothing_to_judge_is_skipped(zj: Zjpx) -> None:
    learn(zj)  # no class needs real-name authentication, no course package was pushed
    _, results, _ = client_run(zj)
    assert results["ZJPX-C-REALNAME"] == "skipped" and results["ZJPX-C-COURSES"] == "skipped"


def test_the_business_role_reads_the_intake_the_client_role_leaves_out() -> None:
    from harness.zjpx.business import INTAKE, OPERATIONS
    from harness.zjpx.certify import BUSINESS_OPERATIONS

    assert tuple(INTAKE) == BUSINESS_OPERATIONS and set(OPERATIONS) == {"thlogin", *BUSINESS_OPERATIONS}


def server_results(vendor: FakeLearningPlatform, fuzz_examples: int = 0) -> tuple[str, dict[str, CheckResult]]:
    events = server_events(vendor, fuzz_examples)
    found = {e.result.check_id: e.result for e in events if isinstance(e, CheckFinished)}
    return events[-1].verdict, found  # type: ignore[attr-defined]


def test_a_totalpage_that_hides_courses_fails_the_pages_check() -> None:
    """002 §1.14.5 totalPage 总页码数: 5 courses, pageSize 2, totalPage always 1 - a supervision platform that follows
    totalPage never sees 3 of 5 packages. A page past the last that only repeats stays the SHOULD warning."""
    verdict, found = server_results(FakeLearningPlatform(totalpage_short=True))
    assert verdict == "failed"
    pages = found["ZJPX-S-PAGES"]
    assert pages.status == "failed" and "never sees 3 of 5 course packages" in pages.message and pages.evidence
    assert "ZJPX-S-PAGES fails for it" in found["ZJPX-S-PAGES-PAST-LAST"].message
    verdict, found = server_results(FakeLearningPlatform(past_last=True))
    assert verdict == "passed" and found["ZJPX-S-PAGES"].status == "passed"
    assert found["ZJPX-S-PAGES-PAST-LAST"].status == "warning" and "repeating" in found["ZJPX-S-PAGES-PAST-LAST"].message


def test_the_seed_example_request_forms_are_sent_and_a_server_error_fails() -> None:
    """§1.12.3 / §1.14.3 send "videoOnHook": "0", "pageNo": "acbcf…": a 500 for them fails (MUST) without fuzzing."""
    verdict, found = server_results(FakeLearningPlatform(crash_numstr=True))
    assert verdict == "failed"
    forms = found["ZJPX-S-SEED-FORMS"]
    assert forms.status == "failed" and "HTTP 500" in forms.message and "D-ZJPX-EXAMPLE-REQUESTS" in forms.message
    sent = [e.request["body"]["data"] for e in forms.evidence]
    assert {"pageNo": "1", "pageSize": "2"} in sent


def test_refusing_the_seed_example_request_forms_in_the_envelope_is_a_warning() -> None:
    verdict, found = server_results(FakeLearningPlatform(table_requests_only=True))
    assert verdict == "passed"
    forms = found["ZJPX-S-SEED-FORMS"]
    assert forms.status == "warning" and forms.decision == "D-ZJPX-CHAPTER-KEY, D-ZJPX-NUMSTR"
    assert "§1.12.3 example's forms: refused" in forms.message
    pushed = [e.request["body"]["data"] for e in forms.evidence if "pushClassInfo" in e.request["url"]]
    assert pushed and pushed[0]["videoOnHook"] == "0" and pushed[0]["videoOnHookDetail"]["triggervValue"] == "0"
    assert "chapetCode" in pushed[0]["thirdClassCourseInfoVoList"][0]["children"][0]
    _, found = server_results(FakeLearningPlatform())
    assert found["ZJPX-S-SEED-FORMS"].status == "passed"


def test_the_seed_examples_unrelated_chapter_parent_is_a_warning_naming_its_decision() -> None:
    """§1.14.5 says 章父节点编码（课程编码）; the §1.14.4 example's second chapter names 432r54…: both pass (WARNING)."""
    verdict, found = server_results(FakeLearningPlatform(example_parents=True))
    tree = found["ZJPX-S-TREE"]
    assert verdict == "passed" and tree.status == "warning" and tree.decision == "D-ZJPX-CHAPTER-PARENT"
    assert "names neither its course nor its enclosing chapter" in tree.message
    _, found = server_results(FakeLearningPlatform(wrong_parent=True))
    assert found["ZJPX-S-TREE"].status == "failed"  # sections still name their chapter


def test_a_non_hex_parent_chapter_code_names_the_uuid_decision() -> None:
    """The pattern of parentChapterCode is D-ZJPX-UUID32's (32 hexadecimal characters), not the chapter-key spelling."""
    vendor = FakeLearningPlatform()
    for package in vendor.packages:
        package["chapterList"][0]["parentChapterCode"] = "k" + package["courseCode"][1:]
    _, found = server_results(vendor)
    pull = found["ZJPX-S-PULL"]
    assert pull.status == "warning" and pull.decision == "D-ZJPX-UUID32", pull
    assert "D-ZJPX-CHAPTER-KEY" not in pull.message


def test_a_sessions_calls_the_gate_refused_before_naming_the_platform_are_read(tmp_path) -> None:
    """zjpx-learning-platform-client reads, in a session, the calls the gate refused before naming a platform code (no
    token): graded as refused, never read as missing; another session's are not."""
    from harness.conformance.sessions import Window
    from harness.journal import Exchange, Journal
    from harness.schema import open_store
    from harness.zjpx.certify import journal_entries

    store = open_store(tmp_path / "h.db")
    for session in ("s1", "s2"):
        Journal(store).record_now(Exchange("zjpx", "POST", "/zjpx/api/v1/startStudy", "", {}, b"{}", status=200, code="3", session=session))
    assert [(e["session"], e["code"]) for e in journal_entries(store, "P001", Window(session="s1"))] == [("s1", "3")]
