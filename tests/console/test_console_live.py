"""The live journal's event stream against a real ``harness serve`` (no browser needed): events as rows commit, the
catch-up after a reconnect (Last-Event-ID), and a server that stops promptly with a stream open."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.console.live_server import live_server


def _events(base: str, headers: dict[str, str], want: int, got: list[dict[str, Any]], query: str = "") -> None:
    with httpx.stream("GET", f"{base}/console/events{query}", headers=headers, timeout=30) as reply:
        assert reply.headers["content-type"].startswith("text/event-stream")
        event = ""
        for line in reply.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "exchange":
                got.append(json.loads(line[6:]))
                if len(got) >= want:
                    return


def _hang(base: str) -> None:
    try:
        _events(base, {}, 99, [])
    except httpx.HTTPError:  # the server went away: what this listener waits for
        pass


def test_the_event_stream_and_its_catch_up(tmp_path: Path) -> None:
    with live_server(tmp_path) as server:
        server.heartbeat()
        first = httpx.get(f"{server.base}/_harness/journal?limit=1").json()["entries"][0]["id"]
        live: list[dict[str, Any]] = []
        listener = threading.Thread(target=_events, args=(server.base, {}, 2, live, "?platform=dudu"), daemon=True)
        listener.start()
        time.sleep(1.0)  # the stream is open
        server.coach(drop="name")  # yxc: filtered out of this stream
        server.heartbeat()
        server.heartbeat(device_id="NOSUCHDEVICE")
        listener.join(15)
        assert [e["outcome"] for e in live] == ["held", "failed"], live
        assert all(">dudu<" in e["html"] and "location_report" in e["html"] for e in live)
        assert "DUDU-DEVICE-KNOWN" in live[1]["html"]
        # a reconnecting EventSource sends Last-Event-ID: what committed after it comes first, from the journal
        caught: list[dict[str, Any]] = []
        _events(server.base, {"Last-Event-ID": str(first)}, 3, caught)
        assert [e["id"] for e in caught] == sorted(e["id"] for e in caught) and caught[0]["id"] > first
        # a stream left open does not hold the server's shutdown for long
        hanging = threading.Thread(target=_hang, args=(server.base,), daemon=True)
        hanging.start()
        time.sleep(0.5)
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 8
    hanging.join(5)
