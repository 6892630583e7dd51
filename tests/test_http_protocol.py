"""The request-head deadline of `harness serve` (harness/server/http_protocol.py), against a real server on loopback
with the deadline cut to one second (HARNESS_HEAD_TIMEOUT): a silent connection and a slowloris trickle are answered
408 and closed; a kept-alive connection idle between requests is not (its idle time is the keep-alive timeout's)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures import dudu as fx
from harness.schema import open_store
from harness.server import http_protocol

pytestmark = pytest.mark.skipif(http_protocol.HeadDeadlineProtocol is None, reason="httptools is not installed (pip install httptools)")


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    tmp = tmp_path_factory.mktemp("head")
    db = tmp / "h.db"
    store = open_store(db)
    fx.world(store, devices=1)
    store.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "serve", "--port", str(port), "--db", str(db)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "HARNESS_HEAD_TIMEOUT": "1"},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_harness/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, Path(log.name).read_text(errors="replace")
            assert time.monotonic() < deadline, "harness serve did not come up"
            time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def _read_until_closed(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    """What the server sent until it closed the connection, and after how many seconds (fails after ``limit``)."""
    began = time.monotonic()
    sock.settimeout(limit)
    got = b""
    while chunk := sock.recv(4096):
        got += chunk
    return got, time.monotonic() - began


def test_a_connection_that_sends_nothing_is_closed_with_408(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        got, took = _read_until_closed(sock, 6)
    assert got.startswith(b"HTTP/1.1 408 ") and took < 4, (got, took)


def test_a_head_trickled_byte_by_byte_is_cut_off(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST /dudu/location_report HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        began, got = time.monotonic(), b""
        sock.settimeout(0.3)
        while time.monotonic() - began < 6:
            try:
                sock.sendall(b"X-Slow: 1\r\n")  # a header every 0.3 s: the head never completes
                got = sock.recv(4096)
                break  # the server answered (or closed: b"")
            except TimeoutError:
                continue
            except OSError:  # reset while writing: closed
                break
        took = time.monotonic() - began
    assert got.startswith(b"HTTP/1.1 408 ") and took < 4, (got, took)


def _exchange(sock: socket.socket, body: bytes) -> dict[str, object]:
    sock.sendall(
        b"POST /dudu/location_report HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(rest) < length:
        rest += sock.recv(4096)
    return json.loads(rest)


def test_a_kept_alive_connection_idle_between_requests_is_served(port: int) -> None:
    body = json.dumps(fx.heartbeat(offline_seq=0)).encode()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(10)
        assert _exchange(sock, body)["ret_code"] == 0
        time.sleep(2.2)  # more than the head deadline, less than the keep-alive timeout: the same connection serves
        assert _exchange(sock, body)["ret_code"] == 0
