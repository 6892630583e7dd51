"""The control plane's gate: who may use the control API (``/_harness/…``) and the console (``/``).

The platforms (``/yxc``, ``/zjpx``, ``/dudu`` and their ``/_session/<id>/`` base paths) answer every client: vendors
call them. Everything else the server answers is the control plane: it reads the whole journal and mints the YXC
sign-in codes that ``YXC-CR-LOGININFO`` takes as proof of presence, so it answers

* loopback clients (127.0.0.0/8, ::1; a Unix socket) always;
* any other client only with ``Authorization: Bearer <token>`` when ``harness serve`` was given ``--control-token``
  (``HARNESS_CONTROL_TOKEN``), compared in constant time; without a token it is closed to them.
* a browser (which cannot send that header) opens ``/?token=<token>`` once: the gate answers a redirect to ``/``
  that sets the HttpOnly, SameSite=Strict cookie ``harness_console``, holding a keyed hash of the token (never the
  token itself), which then admits it like the header does.

A refusal is a JSON body (``{"error": …, "status": …}``), 403 or 401, never a 500. The gate sits inside the session
layer, so ``/_session/<id>/_harness/…`` is judged as the ``/_harness/…`` it is served as.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from collections.abc import Iterable
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harness.config import Settings

# Starlette's TestClient names its client "testclient"; a server fills ``client`` from the socket, never from the
# request, so no remote client can claim this name.
_IN_PROCESS_CLIENTS = frozenset({"testclient"})


def is_loopback(host: str | None) -> bool:
    """True for a loopback address (IPv4, IPv6, IPv4-mapped IPv6), a Unix-socket client (no address) or an in-process client."""
    if host is None or host in _IN_PROCESS_CLIENTS:
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def is_loopback_bind(host: str) -> bool:
    """True when ``harness serve --host`` binds only loopback interfaces."""
    return host == "localhost" or is_loopback(host) and host not in _IN_PROCESS_CLIENTS


class ControlGate:
    """ASGI layer: control routes answer loopback clients, and others only with the control token."""

    def __init__(self, app: ASGIApp, *, settings: Settings, platform_paths: Iterable[str] = ("/yxc", "/zjpx", "/dudu")) -> None:
        self.app = app
        self.token = (settings.control_token or "").encode("utf-8")
        # What the console's cookie holds: a keyed hash of the token, so that the cookie jar never holds the token.
        self.cookie = hmac.new(self.token, b"harness console cookie", hashlib.sha256).hexdigest().encode() if self.token else b"\0"
        self.max_body = settings.max_body_bytes
        self.body_timeout = settings.body_timeout_seconds
        self.platform_paths = tuple(platform_paths)
        self._bases = frozenset(self.platform_paths)
        self._prefixes = tuple(p + "/" for p in self.platform_paths)  # one str.startswith call on the hot path

    def is_control(self, path: str) -> bool:
        """Every path no platform owns: ``/_harness/…``, ``/`` and whatever else the console serves."""
        return not (path.startswith(self._prefixes) or path in self._bases)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not self.is_control(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        if is_loopback(client[0] if client else None):
            await self._admit(scope, receive, send)
            return
        if not self.token:
            await _refuse(
                scope,
                send,
                403,
                "the control API answers loopback clients only; start `harness serve` with --control-token "
                "(HARNESS_CONTROL_TOKEN) to open it to other addresses with Authorization: Bearer <token>",
            )
            return
        if hmac.compare_digest(_bearer(scope), self.token) or hmac.compare_digest(_cookie(scope), self.cookie):
            await self._admit(scope, receive, send)
            return
        if scope["type"] == "http" and scope.get("path") == "/" and hmac.compare_digest(_query_token(scope), self.token):
            await _sign_in(scope, send, self.cookie)
            return
        await _refuse(
            scope,
            send,
            401,
            "the control API needs Authorization: Bearer <control token> from this address; a browser opens /?token=<control token> once",
        )

    async def _admit(self, scope: Scope, receive: Receive, send: Send) -> None:
        """An admitted control request, its body under the platforms' limits (``max_body_bytes``, the body-read
        deadline: harness.server.exchange.read_body): larger is a 413, a body not received in full in time or cut
        short by the client a 400, before anything below parses it or changes any state."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from harness.server.exchange import read_body

        body, refused = await read_body(receive, self.max_body, self.body_timeout)
        if refused is not None:
            status = 413 if any(v.rule == "BODY-SIZE" for v in refused.violations) else 400
            await _refuse(scope, send, status, refused.summary)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()  # after the body: the client's disconnect, for a streaming reply
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _bearer(scope: Scope) -> bytes:
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            scheme, _, credentials = value.partition(b" ")
            if scheme.lower() == b"bearer":
                return credentials.strip()
    return b""


async def _refuse(scope: Scope, send: Send, status: int, message: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps({"error": message, "status": status}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="harness control"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


COOKIE = "harness_console"


def _cookie(scope: Scope) -> bytes:
    for name, value in scope.get("headers", []):
        if name.lower() == b"cookie":
            for part in value.split(b";"):
                key, _, found = part.strip().partition(b"=")
                if key == COOKIE.encode():
                    return found.strip()
    return b""


def _query_token(scope: Scope) -> bytes:
    query = scope.get("query_string", b"").decode("latin-1")
    for key, value in parse_qsl(query):
        if key == "token":
            return value.encode("utf-8")
    return b""


async def _sign_in(scope: Scope, send: Send, cookie: bytes) -> None:
    """``/?token=…`` with the right token: set the console cookie and send the browser to ``/`` (the token leaves the
    address bar and the history)."""
    secure = "; Secure" if scope.get("scheme") == "https" else ""
    headers = [
        (b"location", b"/"),
        (b"set-cookie", f"{COOKIE}={cookie.decode()}; HttpOnly; SameSite=Strict; Path=/{secure}".encode()),
        (b"cache-control", b"no-store"),
        (b"referrer-policy", b"no-referrer"),
        (b"content-length", b"0"),
    ]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
