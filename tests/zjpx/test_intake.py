"""Z9 course packages (thirdCoursePush) and the Z12 business-platform intake (teacher, course, student, class)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from fixtures.zjpx import ZjpxData
from tests.zjpx.conftest import Zjpx, failed_rules

SEED_PUSH = json.loads((Path(__file__).parent / "examples" / "seed_thirdCoursePush.json").read_text(encoding="utf-8"))


def push(zj: Zjpx, *courses: dict) -> dict:
    return zj.call("/api/v1/thirdCoursePush", list(courses))


def first_video(course: dict) -> dict:
    return course["chapterList"][0]["sectionList"][0]["sectionSourceList"][0]


@pytest.mark.parametrize("zj", ["sqlite", "postgresql"], indirect=True)  # both stores
def test_course_package_add_modify_delete(zj: Zjpx) -> None:
    course = ZjpxData(11).course_package(zj.code)
    assert push(zj, course)["returnCode"] == "0"
    again = push(zj, course)
    assert again["returnCode"] == "1" and failed_rules(again) == {"ZJPX-COURSE-STATUS"}
    modified = dict(course, courseStatus=2, courseName="改名后的课程")
    assert push(zj, modified)["returnCode"] == "0"
    assert push(zj, dict(course, courseStatus=1))["returnCode"] == "0"
    gone = push(zj, dict(course, courseStatus=2))
    assert gone["returnCode"] == "1" and failed_rules(gone) == {"ZJPX-COURSE-STATUS"}
    missing = push(zj, dict(ZjpxData(12).course_package(zj.code), courseStatus=1))
    assert failed_rules(missing) == {"ZJPX-COURSE-STATUS"}


def test_a_class_can_study_a_pushed_package_until_it_is_deleted(zj: Zjpx) -> None:
    course = ZjpxData(13).course_package(zj.code)
    push(zj, course)
    intake = zj.file_class()
    # The class lists the package's courseCode; the video comes from the package (D-ZJPX-REFERENCES).
    intake["thirdClassCourseInfoVoList"][0]["courseCode"] = course["courseCode"]
    assert zj.call("/api/class/v1/pushClassInfo", intake)["returnCode"] == "0"
    keys = dict(zj.keys(intake), resCode=first_video(course)["resCode"], courseCode=course["courseCode"])
    assert zj.start(keys)["returnCode"] == "0"
    push(zj, dict(course, courseStatus=1))
    reply = zj.start(keys)
    assert reply["returnCode"] == "1" and failed_rules(reply) == {"ZJPX-REF-RESOURCE"}


def test_duplicate_codes_and_wrong_parents_are_strictly_refused(zj: Zjpx, zj_tolerant: Zjpx) -> None:
    course = ZjpxData(14).course_package(zj.code)
    dup = copy.deepcopy(course)
    dup["chapterList"][1]["sectionList"][0]["sectionSourceList"][0]["resCode"] = first_video(dup)["resCode"]
    reply = push(zj, dup)
    assert reply["returnCode"] == "2" and failed_rules(reply) == {"ZJPX-COURSE-UNIQUE"}
    orphan = copy.deepcopy(course)
    orphan["chapterList"][0]["parentChapterCode"] = "f" * 32
    reply = push(zj, orphan)
    assert reply["returnCode"] == "1" and failed_rules(reply) == {"ZJPX-COURSE-PARENT"}
    dup["studyPlatformCode"] = zj_tolerant.code
    assert push(zj_tolerant, dup)["returnCode"] == "0"


def test_the_seeds_own_example_passes_only_the_tolerant_profile(zj: Zjpx, zj_tolerant: Zjpx) -> None:
    for harness, expected in ((zj, "2"), (zj_tolerant, "0")):
        courses = copy.deepcopy(SEED_PUSH["data"])
        for c in courses:
            c["studyPlatformCode"] = harness.code
        reply = harness.call("/api/v1/thirdCoursePush", courses)
        assert reply["returnCode"] == expected, reply


def test_push_for_another_platform_is_refused(zj: Zjpx) -> None:
    reply = push(zj, ZjpxData(15).course_package("a" * 32))
    assert reply["returnCode"] == "1" and failed_rules(reply) == {"ZJPX-PLATFORM-CODE"}


def test_teacher_and_course_info(zj: Zjpx) -> None:
    data = ZjpxData(16)
    teacher = data.teacher_info()
    assert zj.call("/api/user/v1/teacherInfo", teacher)["returnCode"] == "0"
    bad = dict(teacher, teaCard=teacher["teaCard"][:17] + ("0" if teacher["teaCard"][17] != "0" else "1"))
    reply = zj.call("/api/user/v1/teacherInfo", bad)
    assert reply["returnCode"] == "2" and failed_rules(reply) == {"ZJPX-CARDNO-CHECK"}
    course_info = {
        "studyPlatformApiUrl": "http://learning.example.invalid/api",
        "courseName": "课程名称",
        "coursePoster": "http://photos.example.invalid/poster.jpg",
        "sectionList": [
            {
                "sectionName": "第一章",
                "sectionSort": 1,
                "sectionSourceList": [
                    {"chapterName": "第一节", "videoUrl": "http://video.example.invalid/1.mp4", "chapterSort": 1, "duration": 50}
                ],
            }
        ],
    }
    assert zj.call("/api/course/v1/courseInfo", course_info)["returnCode"] == "0"


@pytest.mark.parametrize("zj", ["sqlite", "postgresql"], indirect=True)  # both stores
def test_student_info_array_enrols_learners_for_the_realname_check(zj: Zjpx) -> None:
    students = ZjpxData(17).student_infos(2)
    assert zj.call("/api/user/v1/studentInfo", students)["returnCode"] == "0"
    s = students[1]
    assert (
        zj.call("/api/v1/authentication", {"studyPlatformCode": zj.code, "cardNo": s["stuCard"], "name": s["stuName"]})["returnCode"] == "0"
    )


def test_repeated_learners_and_missing_api_url(zj: Zjpx, zj_tolerant: Zjpx) -> None:
    students = ZjpxData(18).student_infos(1)
    twice = [students[0], dict(students[0])]  # as the seed's §2.3.3 example does
    reply = zj.call("/api/user/v1/studentInfo", twice)
    assert reply["returnCode"] == "2" and failed_rules(reply) == {"ZJPX-INTAKE-UNIQUE"}
    assert zj_tolerant.call("/api/user/v1/studentInfo", twice)["returnCode"] == "0"
    no_url = [{k: v for k, v in students[0].items() if k != "studyPlatformApiUrl"}]
    assert zj.call("/api/user/v1/studentInfo", no_url)["returnCode"] == "2"
    assert zj_tolerant.call("/api/user/v1/studentInfo", no_url)["returnCode"] == "0"


def test_class_intake_rules(zj: Zjpx, zj_tolerant: Zjpx) -> None:
    no_trigger = ZjpxData(19).class_intake(video_on_hook=2, trigger_type=1, trigger_value=0)
    reply = zj.call("/api/class/v1/pushClassInfo", no_trigger)
    assert reply["returnCode"] == "1" and failed_rules(reply) == {"ZJPX-CLASS-TRIGGER"}
    misspelt = ZjpxData(20).class_intake()
    chapter = misspelt["thirdClassCourseInfoVoList"][0]["children"][0]
    chapter["chapetCode"] = chapter.pop("chapterCode")  # as the seed's §2.4.3 example spells it
    assert zj.call("/api/class/v1/pushClassInfo", misspelt)["returnCode"] == "2"
    assert zj_tolerant.call("/api/class/v1/pushClassInfo", misspelt)["returnCode"] == "0"
    keys = zj_tolerant.keys(dict(misspelt, thirdClassCourseInfoVoList=ZjpxData(20).class_intake()["thirdClassCourseInfoVoList"]))
    assert zj_tolerant.start(keys)["returnCode"] == "0"  # the aliased chapter's videos are studiable


def test_a_student_code_as_the_tables_integer_passes_with_a_warning(zj: Zjpx, zj_tolerant: Zjpx) -> None:
    """§2.4.2 types studentCode 整型, its §2.4.3 example sends a 32-hex string: both are the seed's forms. An integer is
    accepted with a SHOULD verdict naming D-ZJPX-STUDENTUSERCODE (refused only under --profile strict, naming it too),
    and the business role warns, naming the decision."""
    from harness.zjpx.business import BusinessPlatformRole
    from tests.zjpx.test_verdicts import should_verdicts

    for harness, code in ((zj_tolerant, "0"), (zj, "2")):
        intake = ZjpxData(61).class_intake(students=2)
        for n, learner in enumerate(intake["thirdClassStudentInfoVoList"]):
            learner["studentCode"] = 862227322 + n
        reply = harness.call("/api/class/v1/pushClassInfo", intake)
        assert reply["returnCode"] == code, reply
        verdicts = should_verdicts(harness, "classInfo")
        assert verdicts and {v["decision"] for v in verdicts} == {"D-ZJPX-STUDENTUSERCODE"}, verdicts
        assert all("D-ZJPX-STUDENTUSERCODE" in v["clause"] for v in verdicts), verdicts
        if code == "0":
            events = list(BusinessPlatformRole(harness.store, harness.code).run(seed=0))
            found = {e.result.check_id: e.result for e in events if hasattr(e, "result")}
            assert found["ZJPX-B-FORMAT"].status == "warning", found["ZJPX-B-FORMAT"]
            assert found["ZJPX-B-FORMAT"].decision == "D-ZJPX-STUDENTUSERCODE", found["ZJPX-B-FORMAT"]
            assert found["ZJPX-B-CLASSES"].status == "passed", found["ZJPX-B-CLASSES"]
        else:
            assert "D-ZJPX-STUDENTUSERCODE" in reply["returnMsg"], reply
