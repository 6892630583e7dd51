"""Issue 2's "done when", tried as a new user would: real processes, a plain HTTP client, the schemathesis CLI."""

from __future__ import annotations

import hashlib
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
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from fixtures import files
from fixtures.yxc import YxcData

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PlainVendor:
    """A vendor's client written from the signing rule alone: no harness code, raw RSA over the padded hash."""

    def __init__(self, base: str, key_pem: Path, cert_pem: Path) -> None:
        self.base = base
        self.key = serialization.load_pem_private_key(key_pem.read_bytes(), password=None)
        self.user = format(x509.load_pem_x509_certificate(cert_pem.read_bytes()).serial_number, "X")
        self.last_ts = 0

    def sign(self, payload: bytes, ts: int) -> str:
        h = hashlib.sha256(payload + ts.to_bytes(8, "big")).digest()
        numbers = self.key.private_numbers()
        k = (numbers.public_numbers.n.bit_length() + 7) // 8
        block = b"\x00\x01" + b"\xff" * (k - len(h) - 3) + b"\x00" + h
        return pow(int.from_bytes(block, "big"), numbers.d, numbers.public_numbers.n).to_bytes(k, "big").hex().upper()

    def params(self, payload: bytes, ts: int | None = None) -> dict[str, str]:
        if ts is None:
            ts = self.last_ts = max(int(time.time() * 1000), self.last_ts + 1)
        return {"v": "1.0.0.e2", "ts": str(ts), "sign": self.sign(payload, ts), "user": self.user}

    def upload(self, file_type: str, data: bytes) -> dict:
        return httpx.post(f"{self.base}/imageup/{file_type}", params=self.params(data), files={"file": ("f", data)}).json()

    def post(self, service: str, body: dict | None = None, *, raw: bytes | None = None, params: dict | None = None) -> dict:
        data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
        return httpx.post(
            f"{self.base}/{service}", params=params or self.params(data), content=data, headers={"Content-Type": "application/json"}
        ).json()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("live")
    env = {**os.environ, "HARNESS_DB": str(tmp / "harness.db")}
    user = subprocess.run(
        [BIN / "harness", "vendor", "add", "yxc", "--platnum", "A0001", "--out", tmp / "vendor"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    port = free_port()
    log = (tmp / "serve.log").open("wb")  # a file, not a pipe: an unread pipe would block the server once full
    server = subprocess.Popen([BIN / "harness", "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/_harness/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("harness serve did not start")
        yield {"base": base, "user": user, "vendor_dir": tmp / "vendor", "env": env}
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()
        print((tmp / "serve.log").read_text(errors="replace")[-2000:])


def test_vendor_flow_with_a_plain_http_client(live: dict) -> None:
    vendor_dir = live["vendor_dir"]
    vendor = PlainVendor(live["base"] + "/yxc", vendor_dir / "yxc-A0001.key.pem", vendor_dir / "yxc-A0001.cert.pem")
    assert vendor.user == live["user"]
    ids = {}
    for file_type, data in (
        ("coachimg", files.jpeg()),
        ("jsz", files.png()),
        ("sfz", files.png()),
        ("pyht", files.pdf()),
        ("stuimg", files.png()),
    ):
        reply = vendor.upload(file_type, data)
        assert reply["errorcode"] == 0, reply
        ids[file_type] = reply["data"]["id"]
    data = YxcData(21)
    coach, student = data.coach(ids), data.student(ids)
    assert vendor.post("coach", coach)["errorcode"] == 0
    assert vendor.post("student", student)["errorcode"] == 0

    # the same calls, spoiled one way each
    tampered = json.dumps(coach).encode()
    assert vendor.post("coach", raw=tampered.replace(b"C1", b"C2"), params=vendor.params(tampered))["errorcode"] == 202
    ts = int(time.time() * 1000) + 5
    body = json.dumps(coach, ensure_ascii=False).encode()
    assert vendor.post("coach", raw=body, params=vendor.params(body, ts))["errorcode"] == 0
    reused = vendor.post("coach", raw=body, params=vendor.params(body, ts))
    assert reused["errorcode"] == 201 and "already used" in reused["message"]
    stale = vendor.post("coach", raw=body, params=vendor.params(body, int(time.time() * 1000) - 600_000))
    assert stale["errorcode"] == 201 and "server clock" in stale["message"]
    wrong_type = vendor.post("coach", {**coach, "photo": ids["sfz"]})
    assert wrong_type["errorcode"] == 1 and "photo" in wrong_type["message"] and "coachimg" in wrong_type["message"]
    missing = {k: v for k, v in student.items() if k != "name"}
    reply = vendor.post("student", missing)
    assert reply["errorcode"] == 200 and "name" in reply["message"] and "required" in reply["message"]

    # every one of those exchanges is evidence, readable over HTTP and from the CLI
    entries = httpx.get(f"{live['base']}/_harness/journal", params={"vendor": vendor.user, "limit": 50}).json()["entries"]
    assert len(entries) >= 12
    failed = subprocess.run(
        [BIN / "harness", "journal", "--vendor", vendor.user, "--verdict", "failed", "--json"],
        env=live["env"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    assert {json.loads(line)["code"] for line in failed} == {"1", "200", "201", "202"}


def test_schemathesis_cli_with_the_signing_hook_finds_nothing(live: dict) -> None:
    env = {**live["env"], "HARNESS_VENDOR_DIR": str(live["vendor_dir"])}
    run = subprocess.run(
        [
            BIN / "schemathesis",
            "run",
            "specs/yxc/province.yaml",
            "--url",
            f"{live['base']}/yxc",
            "-n",
            "5",
            "--seed",
            "7",
            "--phases",
            "coverage,fuzzing",
            "--max-time",
            "120",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert "No issues found" in run.stdout
