"""Fixtures for the YXC scan-flow tests: the reference vendor served on 127.0.0.1 (free port) in a thread."""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from werkzeug.serving import BaseWSGIServer, make_server

from examples.yxc_vendor.app import Vendor, create_app, self_signed
from harness.schema import open_store
from harness.store import Store

logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per request drowns failure reports


@dataclass
class RunningVendor:
    server: BaseWSGIServer
    base: str
    callback_url: str
    cert: Path | None

    def qr_text(self) -> str:
        return httpx.get(f"{self.base}/qr", verify=_verify(self.cert)).text.strip()

    def qr_png(self) -> bytes:
        return httpx.get(f"{self.base}/qr.png", verify=_verify(self.cert)).content

    @property
    def vendor(self) -> Vendor:
        return self.server.app.config["VENDOR"]


def _verify(cert: Path | None) -> ssl.SSLContext | bool:
    return ssl.create_default_context(cafile=str(cert)) if cert else True


@pytest.fixture
def start_vendor(tmp_path: Path) -> Iterator[Callable[..., RunningVendor]]:
    servers: list[BaseWSGIServer] = []

    def start(defect: str | None = None, https: bool = False) -> RunningVendor:
        cert = key = None
        context = None
        if https:
            cert, key = self_signed(tmp_path / f"tls-{len(servers)}")
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
        server = make_server("127.0.0.1", 0, create_app("http://placeholder/"), threaded=True, ssl_context=context)
        host = "localhost" if https else "127.0.0.1"
        base = f"{'https' if https else 'http'}://{host}:{server.server_port}"
        server.app = create_app(f"{base}/yxc/callback", defect)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return RunningVendor(server, base, f"{base}/yxc/callback", cert)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "harness.db")
    yield s
    s.close()
