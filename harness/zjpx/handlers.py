"""ZJPX operations: the operationIds ``harness.zjpx.handlers.<op>`` of specs/zjpx/platform.yaml (002 §1.1–§1.14).

Each answers the platform's envelope; the logic is on :class:`harness.zjpx.platform.ZjpxPlatform` (``op_<name>``).
The tolerant profile's alias paths (D-ZJPX-PATHS) are aliases of the same handlers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from harness.platform import ExchangeContext, Handlers

if TYPE_CHECKING:
    from harness.zjpx.platform import ZjpxPlatform

HANDLERS = Handlers("zjpx")
Body = dict[str, Any]
# The §1.3.2, §1.6.2, §1.7.2, §1.9.2, §1.10.2 tables' spelling, accepted (with a SHOULD verdict) wherever §1 has the field
# (D-ZJPX-STUDENTUSERCODE-KEY).
TABLE_KEY = "student UserCode"


def learner_key(body: Body) -> Body:
    """The body with the tables' ``student UserCode`` read as ``studentUserCode`` (which wins when both are sent).
    Schema validation has already judged the spelling (a SHOULD verdict naming D-ZJPX-STUDENTUSERCODE-KEY)."""
    d = body.get("data") if isinstance(body, dict) else None
    if not isinstance(d, dict) or TABLE_KEY not in d:
        return body
    d = dict(d)
    value = d.pop(TABLE_KEY)
    d.setdefault("studentUserCode", value)
    return dict(body, data=d)


@HANDLERS.operation
def thlogin(platform: ZjpxPlatform, ctx: ExchangeContext, body: Body) -> Response:
    return platform.op_thlogin(ctx, body)


@HANDLERS.operation
def authentication(platform: ZjpxPlatform, ctx: ExchangeContext, body: Body) -> Response:
    return platform.op_authentication(ctx, body)


@HANDLERS.operation(aliases=("startStudyAlias",))
def startStudy(platform: ZjpxPlatform, ctx: ExchangeContext, body: Body) -> Response:
    return platform.op_startStudy(ctx, learner_key(body))


@HANDLERS.operation
def endStudy(platform: ZjpxPlatform, ctx: ExchangeContext, body: Body) -> Response:
    return platform.op_endStudy(ctx, learner_key(body))


@HANDLERS.operation
def getFaceCompareConfig(platform: ZjpxPlatform, ctx: ExchangeContext, body: Body) -> Response:
    return platform.op_getFaceCompareConfig(ctx, learner_key(body))


@HANDLERS.operation(aliases=("thirdFaceCompareAlias",))
def thirdFaceCompare(platform: ZjpxPlatform, ctx: ExchangeContext, body: Body) -> Response:
    return platform.op_thirdFaceCompare(ctx, learner_key(body))


@HANDLERS.operation
def getVerificationCode(platform: ZjpxPlatform, ctx: ExchangeContext, body: Body) -> Response:
    return platform.op_getVerificationCode(ctx, learner_key(body))


@HANDLERS.operation
def submitVerificationCode(platform: ZjpxPlatform, ctx: ExchangeContext, body: Body) -> Response:
    return platform.op_submitVerificationCode(ctx, body)


@HANDLERS.operation
def submitRecordVideoUrl(platform: ZjpxPlatform, ctx: ExchangeContext, body: Body) -> Response:
    return platform.op_submitRecordVideoUrl(ctx, learner_key(body))


@HANDLERS.operation
def updateErcunPhotosUrl(platform: ZjpxPlatform, ctx: ExchangeContext, body: Body) -> Response:
    return platform.op_updateErcunPhotosUrl(ctx, body)


@HANDLERS.operation
def studyHour(platform: ZjpxPlatform, ctx: ExchangeContext, body: Body) -> Response:
    return platform.op_studyHour(ctx, learner_key(body))


@HANDLERS.operation
def thirdCoursePush(platform: ZjpxPlatform, ctx: ExchangeContext, body: Body) -> Response:
    return platform.op_thirdCoursePush(ctx, body)


@HANDLERS.operation
def teacherInfo(platform: ZjpxPlatform, ctx: ExchangeContext, body: Body) -> Response:
    return platform.op_teacherInfo(ctx, body)


@HANDLERS.operation
def courseInfo(platform: ZjpxPlatform, ctx: ExchangeContext, body: Body) -> Response:
    return platform.op_courseInfo(ctx, body)


@HANDLERS.operation
def studentInfo(platform: ZjpxPlatform, ctx: ExchangeContext, body: Body) -> Response:
    return platform.op_studentInfo(ctx, body)


@HANDLERS.operation
def classInfo(platform: ZjpxPlatform, ctx: ExchangeContext, body: Body) -> Response:
    return platform.op_classInfo(ctx, body)


@HANDLERS.operation
def classStudentStudy(platform: ZjpxPlatform, ctx: ExchangeContext, body: Body) -> Response:
    return platform.op_classStudentStudy(ctx, body)
