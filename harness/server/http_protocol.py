"""uvicorn's HTTP/1.1 protocol with a deadline for the request line and headers.

uvicorn bounds an idle keep-alive connection (``timeout_keep_alive``) but not a connection that never completes its
request head: a client that connects and sends nothing, or trickles one header byte every few seconds ("slowloris"),
holds its socket for as long as it likes, and a few thousand such clients hold every descriptor the server has. The
request body has its own deadline (harness.server.exchange.read_body); this is the one for what comes before it.

:class:`HeadDeadlineProtocol` is uvicorn's httptools protocol with one change: from the moment a connection opens, or
the first byte of a request arrives on a kept-alive one, its request line and headers must be complete within
:data:`harness.limits.HEAD_TIMEOUT_SECONDS` (``HARNESS_HEAD_TIMEOUT`` overrides it, in seconds); a connection that
misses it is answered ``408 Request Timeout`` and closed. As with the body deadline, one timer per event loop checks
every waiting connection (a quarter of the deadline apart, at most one second): a timer per request would cost the
heartbeat path a few µs, this costs a dict entry.

``harness serve`` uses it whenever httptools is installed (uvicorn's own choice then too); without httptools uvicorn
serves with h11 and no head deadline (docs/security.md).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from harness import limits

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools is not installed: uvicorn serves with h11
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

TIMEOUT_REPLY = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"


def head_timeout() -> float:
    """The deadline in seconds: ``HARNESS_HEAD_TIMEOUT`` when set to a positive number, else the limit's default."""
    try:
        value = float(os.environ.get("HARNESS_HEAD_TIMEOUT", ""))
    except ValueError:
        return limits.HEAD_TIMEOUT_SECONDS
    return value if value > 0 else limits.HEAD_TIMEOUT_SECONDS


class _Waiting:
    """The connections of one event loop whose request head is not complete yet, and the one timer that checks them."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = loop
        self.timeout = timeout
        self.tick_seconds = min(1.0, timeout / 4)
        self.since: dict[Any, float] = {}  # protocol -> when its head began
        self.armed = False

    def add(self, protocol: Any) -> None:
        if protocol not in self.since:
            self.since[protocol] = time.monotonic()
            if not self.armed:
                self.armed = True
                self.loop.call_later(self.tick_seconds, self.tick)

    def tick(self) -> None:
        late = time.monotonic() - self.timeout
        for protocol, began in list(self.since.items()):
            if began <= late:
                del self.since[protocol]
                protocol.head_timed_out()
        self.armed = bool(self.since)
        if self.armed:
            self.loop.call_later(self.tick_seconds, self.tick)


_by_loop: dict[asyncio.AbstractEventLoop, _Waiting] = {}


def _waiting(loop: asyncio.AbstractEventLoop) -> _Waiting:
    found = _by_loop.get(loop)
    if found is None:
        for old in [k for k in _by_loop if k.is_closed()]:
            del _by_loop[old]
        found = _by_loop[loop] = _Waiting(loop, head_timeout())
    return found


if HttpToolsProtocol is not None:

    class HeadDeadlineProtocol(HttpToolsProtocol):  # type: ignore[misc,valid-type]
        """uvicorn's httptools protocol; the request head must be complete within the deadline (module docstring)."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._head = _waiting(self.loop)
            self._head.add(self)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._head.add(self)  # a kept-alive connection's next request (a no-op for the connection's first)

        def on_headers_complete(self) -> None:
            self._head.since.pop(self, None)
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._head.since.pop(self, None)
            super().connection_lost(exc)

        def head_timed_out(self) -> None:
            if not self.transport.is_closing():
                self.transport.write(TIMEOUT_REPLY)
                self.transport.close()

else:  # pragma: no cover
    HeadDeadlineProtocol = None  # type: ignore[assignment,misc]


def protocol() -> Any:
    """What ``uvicorn.run(http=…)`` is given: the deadline protocol, or ``"auto"`` without httptools."""
    return HeadDeadlineProtocol if HeadDeadlineProtocol is not None else "auto"
