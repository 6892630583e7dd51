"""The harness's own YMT platform behind a real uvicorn on a loopback port (a thread), optionally behind an ASGI
wrapper that tampers with its replies: the subject of the channel simulator's tests and of the ymt-platform defect table.

``tamper(path, request_body, reply) -> reply`` sees each /ymt reply as JSON (the request as sent) and returns what the
client gets instead (or ``(http_status, reply)``); None leaves it alone. One server serves a whole test module; each test sets its own ``tamper``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.config import Settings
from harness.schema import open_store

with warnings.catch_warnings():  # connexion 3.3 imports starlette.testclient, which warns under httpx 0.28
    warnings.simplefilter("ignore")
    from harness.server import create_app

Tamper = Callable[[str, Any, Any], Any]


class TamperingApp:
    """ASGI wrapper: buffers each /ymt reply, hands it to ``tamper``, and sends what that returns."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.tamper: Tamper | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        tamper = self.tamper
        if scope["type"] != "http" or tamper is None or not scope["path"].startswith("/ymt/"):
            await self.app(scope, receive, send)
            return
        path = scope["path"].removeprefix("/ymt")
        chunks: list[bytes] = []

        async def receive_kept() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        start: dict[str, Any] = {}
        body: list[bytes] = []

        async def send_kept(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] == "http.response.body":
                body.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                try:
                    request = json.loads(b"".join(chunks) or b"null")
                except ValueError:
                    request = None
                try:
                    reply = json.loads(b"".join(body))
                except ValueError:
                    reply = None
                changed = tamper(path, request, reply)
                if isinstance(changed, tuple):
                    start["status"], changed = changed
                payload = b"".join(body) if changed is None else json.dumps(changed, ensure_ascii=False).encode("utf-8")
                headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
                headers.append((b"content-length", str(len(payload)).encode()))
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": payload})
                return
            await send(message)

        await self.app(scope, receive_kept, send_kept)


class ServedPlatform:
    """create_app on a tmp store, wrapped, served by uvicorn on 127.0.0.1."""

    def __init__(self, tmp: Path, profile: str = "strict") -> None:
        import uvicorn

        self.db = tmp / "ymt-platform.db"
        self.store = open_store(self.db)
        self.app = TamperingApp(create_app(Settings(db=self.db, profile=profile), self.store))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="critical", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 15
        while not self.server.started and time.time() < deadline:
            time.sleep(0.02)
        assert self.server.started, "uvicorn did not start"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ymt"

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.store.close()
