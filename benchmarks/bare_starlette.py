"""The ceiling for benchmarks/heartbeat.py: a bare Starlette endpoint on the same path and body, no validation, no journal.

It parses the JSON body (orjson) and answers a fixed heartbeat reply, so the difference to `harness serve` is exactly
what the harness adds: schema validation, rules, store look-ups and durable journaling.
"""

from __future__ import annotations

import argparse

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

REPLY = orjson.dumps(
    {
        "ret_code": 0,
        "ret_msg": "成功",
        "enterprise_id": "398",
        "server_time": "250101120000",
        "version_code": "1735689600",
        "check_mode": 0,
        "check_card_mode": 0,
        "qrcode_mode": 1,
        "card_mode": 1,
        "white_mode": 1,
        "version_code_all": "0",
        "version_code_add": "1",
        "line_version_code_all": "1",
        "is_line_white": 0,
        "check_start_time_format": "2025-01-01 00:00:00",
        "check_end_time_format": "2025-01-01 23:59:59",
        "heartbeat_interval": 5,
        "offline_missing": 0,
    }
)


async def location_report(request: Request) -> Response:
    body = orjson.loads(await request.body())
    reply = REPLY if "req_id" not in body else orjson.dumps({"req_id": body["req_id"], **orjson.loads(REPLY)})
    return Response(reply, media_type="application/json")


app = Starlette(routes=[Route("/dudu/location_report", location_report, methods=["POST"])])

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8101, help="port on 127.0.0.1 to serve the bare endpoint on (default 8101)")
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
