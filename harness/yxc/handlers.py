"""YXC operations: the operationIds ``harness.yxc.handlers.<op>`` of specs/yxc/province.yaml (000 附件四).

The five filings (备案及修改) store a record once every rule held; imageup stores the signed file. The logic is on
:class:`harness.yxc.platform.YxcPlatform`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from harness.platform import ExchangeContext, Handlers

if TYPE_CHECKING:
    from harness.yxc.platform import YxcPlatform

HANDLERS = Handlers("yxc")
Body = dict[str, Any]


@HANDLERS.operation
async def imageup(platform: YxcPlatform, ctx: ExchangeContext, type: str, file: Any = None) -> Response:  # noqa: A002 - the spec's name
    return await platform.imageup(type, file)


@HANDLERS.operation
def coach(platform: YxcPlatform, ctx: ExchangeContext, body: Body) -> Response:
    return platform.file_record("coach", body)


@HANDLERS.operation
def trainingsimulator(platform: YxcPlatform, ctx: ExchangeContext, body: Body) -> Response:
    return platform.file_record("trainingsimulator", body)


@HANDLERS.operation
def student(platform: YxcPlatform, ctx: ExchangeContext, body: Body) -> Response:
    return platform.file_record("student", body)


@HANDLERS.operation
def learningcertificate(platform: YxcPlatform, ctx: ExchangeContext, body: Body) -> Response:
    return platform.file_record("learningcertificate", body)


@HANDLERS.operation
def classrecord(platform: YxcPlatform, ctx: ExchangeContext, body: Body) -> Response:
    return platform.file_record("classrecord", body)
