"""Conforming reference clients of the supervision side, with plantable defects (examples/defects/zjpx-*.yaml):

- :func:`learning_platform`: a learning platform studying a class (002 §1): real-name check, one session per video,
  a face check at the start and every 2 minutes, studyHour every minute, endStudy, and a course package of its own.
- :func:`business_platform`: a business platform filing a teacher, a course info, the learners and the class, then
  querying the class's study records (002 §2.1–§2.5).

Both drive the in-process reference (tests.zjpx.conftest.Zjpx) with its settable clock; the journal they leave is what
the journal-graded roles grade.
"""

from __future__ import annotations

from typing import Any

from fixtures.photos import b64, two_inch_photo
from fixtures.zjpx import ZjpxData
from tests.zjpx.conftest import Zjpx

FACE = b64(two_inch_photo(9))
LEARNING_DEFECTS = (
    "expired_token",  # a call with a token issued more than 2 hours before
    "skip_realname",  # studies a real-name class without /api/v1/authentication
    "no_end",  # the last video's session never gets its endStudy
    "cheat_progress",  # progressTime 90 in a 60-second minute
    "early_reports",  # every studyHour 10 s after the previous one: all refused
    "skip_face",  # none of the configured face checks
    "reused_bizcode",  # a face comparison with a bizCode that already passed
    "course_added_twice",  # the same course package pushed twice with courseStatus 0
    "missing_field",  # a studyHour without progressTime
    "late_report",  # one studyHour 120 s after the previous one (an advisory verdict: a WARNING, not in the table)
    "final_partial_report",  # the learner stops 20 s into a minute: a last 20 s studyHour, then endStudy (a WARNING)
    "start_face_only",  # a face every 3 minutes configured; only the start face is done, no later one even requested
)
BUSINESS_DEFECTS = (
    "expired_token",  # a §2 call with a token issued more than 2 hours before
    "no_teachers",  # never files a teacher
    "no_course_info",  # never files a course info
    "repeated_learner",  # one studentInfo lists a learner twice
    "no_trigger",  # a class with face checks but no trigger value
    "unknown_class_query",  # classStudentStudy for a class never filed
    "missing_field",  # a teacherInfo without mobile (是否可空 否)
    "learners_not_filed",  # the class's learners were never filed through studentInfo
    "class_on_unknown_course",  # the class's course is no course package the platform pushed
)


def _check(defects: dict[str, bool], known: tuple[str, ...]) -> None:
    unknown = set(defects) - set(known)
    if unknown:
        raise ValueError(f"unknown defect(s) {sorted(unknown)}; known: {known}")


def learning_platform(zj: Zjpx, **defects: bool) -> None:
    _check(defects, LEARNING_DEFECTS)
    d = dict.fromkeys(LEARNING_DEFECTS, False) | defects
    package = ZjpxData(31).course_package(zj.code)
    assert zj.call("/api/v1/thirdCoursePush", [package])["returnCode"] == "0"
    if d["course_added_twice"]:
        zj.call("/api/v1/thirdCoursePush", [package])
    every = 3 if d["start_face_only"] else 2  # 4 min 20 s sessions: within the tolerant grace of 3 + 2 minutes
    intake = zj.file_class(seed=21, real_name=1, video_on_hook=2, trigger_type=1, trigger_value=every, video_start_face=1)
    if not d["skip_realname"]:
        learner = intake["thirdClassStudentInfoVoList"][0]
        reply = zj.call(
            "/api/v1/authentication", {"studyPlatformCode": zj.code, "cardNo": learner["cardNo"], "name": learner["studentName"]}
        )
        assert reply["returnCode"] == "0", reply
    for video in (0, 1):
        keys = zj.keys(intake, video=video)
        zj.start(keys)
        biz = None
        if not d["skip_face"]:
            cfg = zj.call("/api/v1/getFaceCompareConfig", zj.only(keys, "studyPlatformCode", "resCode", "studentUserCode", "classCode"))
            biz = (cfg.get("returnData") or {}).get("bizCode")
            if biz:  # no bizCode when the session was refused (a planted defect)
                zj.face(keys, FACE, at=0, biz=biz)
        for minute in range(1, 5):
            step = 10 if d["early_reports"] else 120 if d["late_report"] and minute == 3 else 60
            zj.advance(step)
            played = 60 * minute + (60 if d["late_report"] and minute >= 3 else 0)
            progress = 90 if d["cheat_progress"] and minute == 2 else step
            zj.hour(keys, played if not d["early_reports"] else 10 * minute, progress)
            if minute % 2 == 0 and not d["skip_face"] and not d["start_face_only"] and biz:
                zj.face(keys, FACE, at=played)
        if d["reused_bizcode"] and biz:
            zj.face(keys, FACE, at=0, biz=biz)
        if d["missing_field"]:
            zj.call("/api/v1/studyHour", dict(keys, playTime=250))
        zj.advance(20)
        if d["final_partial_report"]:
            zj.hour(keys, played + 20, 20)
        if not (d["no_end"] and video == 1):
            zj.end(keys)
    if d["expired_token"]:
        zj.advance(2 * 3600 + 60)
        zj.start(zj.keys(intake, video=0))


def course_info() -> dict[str, Any]:
    return {
        "studyPlatformApiUrl": "http://learning.example.invalid/api",
        "courseName": "家政服务线上课程",
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


def business_platform(zj: Zjpx, **defects: bool) -> dict[str, Any]:
    """File a class as a business platform does; returns the class intake."""
    _check(defects, BUSINESS_DEFECTS)
    d = dict.fromkeys(BUSINESS_DEFECTS, False) | defects
    data = ZjpxData(41)
    intake = data.class_intake(students=2, video_on_hook=2, trigger_type=1, trigger_value=0 if d["no_trigger"] else 5)
    if not d["class_on_unknown_course"]:  # the learning platform pushed the package the class is on (§1.13)
        package = data.course_package(zj.code)
        assert zj.call("/api/v1/thirdCoursePush", [package])["returnCode"] == "0"
        intake["thirdClassCourseInfoVoList"][0]["courseCode"] = package["courseCode"]
    if not d["no_teachers"]:
        teacher = data.teacher_info(org_code=intake["orgCode"])
        if d["missing_field"]:
            zj.call("/api/user/v1/teacherInfo", {k: v for k, v in teacher.items() if k != "mobile"})
        assert zj.call("/api/user/v1/teacherInfo", teacher)["returnCode"] == "0"
    if not d["no_course_info"]:
        assert zj.call("/api/course/v1/courseInfo", course_info())["returnCode"] == "0"
    if not d["learners_not_filed"]:
        students = [
            {
                "studyPlatformApiUrl": intake["studyPlatformApiUrl"],
                "stuCode": s["studentCode"],
                "stuName": s["studentName"],
                "stuCard": s["cardNo"],
                "mobile": s["studentPhone"],
                "ercunPhotos": s["ercunPhotos"],
                "remark": "",
            }
            for s in intake["thirdClassStudentInfoVoList"]
        ]
        if d["repeated_learner"]:
            zj.call("/api/user/v1/studentInfo", [students[0], dict(students[0])])
        assert zj.call("/api/user/v1/studentInfo", students)["returnCode"] == "0"
    zj.call("/api/class/v1/pushClassInfo", intake)
    code = ZjpxData(42).code() if d["unknown_class_query"] else intake["classCode"]
    zj.call("/api/class/v1/classStudentStudy", {"classCode": code})
    if d["expired_token"]:
        zj.advance(2 * 3600 + 60)
        zj.call("/api/course/v1/courseInfo", course_info())
    return intake
