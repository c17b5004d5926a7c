"""Running the app under uvicorn: slow clients, the connection cap, and shutdown.

uvicorn waits forever for a request's headers and body and accepts any number of
connections, so its HTTP protocol is extended here: the line and headers of a request must
arrive within ``header_timeout_seconds`` (408, then closed; a new connection that sends
nothing is closed after as long), a body may pause at most ``body_timeout_seconds`` between
chunks (then the connection is closed), and past ``max_connections`` open connections a new
one is answered 503 with Retry-After and closed (0 turns each of them off). A request line
and headers of more than ``MAX_HEAD_OCTETS`` are answered 431. When the
shutdown grace period ends, a request still running is answered 503 with Retry-After
(``ShutdownMiddleware``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .config import Config

_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n"
    b"connection: close\r\n\r\n"
)
#: the request line and headers of one request may take this many octets (httptools has
#: no limit of its own)
MAX_HEAD_OCTETS = 64 * 1024
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-length: 0\r\n"
    b"connection: close\r\n\r\n"
)


class _HeadTooLarge(Exception):
    """Raised in a parser callback to stop parsing (uvicorn answers parse errors)."""


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    header_timeout: float
    body_timeout: float
    max_connections: int


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with read timeouts and a connection cap."""

    limits: ClassVar[ConnectionLimits]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self._body_seen = 0.0
        self._request_begun = False
        self._head_octets = 0
        self._head_too_large = False

    # -- timers --
    def _arm(self, delay: float, callback: Any) -> None:
        self._disarm()
        self._timer = self.loop.call_later(delay, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _headers_timed_out(self) -> None:
        self._timer = None
        if not self.transport.is_closing():
            if self._request_begun:
                self.transport.write(_TIMED_OUT)
            self.transport.close()

    def _body_timed_out(self) -> None:
        self._timer = None
        now = self.loop.time()
        if self.flow.read_paused or (
            self.cycle is not None and self.cycle.waiting_for_100_continue
        ):
            self._body_seen = now  # the app is not reading yet: the client is not late
        idle = now - self._body_seen
        if idle < self.limits.body_timeout:
            self._arm(self.limits.body_timeout - idle, self._body_timed_out)
        elif not self.transport.is_closing():
            self.transport.close()  # the app's receive() gets http.disconnect

    # -- protocol events --
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        cap = self.limits.max_connections
        if cap and len(self.connections) > cap:
            transport.write(_BUSY)
            transport.close()
            return
        if self.limits.header_timeout:
            self._arm(self.limits.header_timeout, self._headers_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _count_head(self, octets: int) -> None:
        self._head_octets += octets
        if self._head_octets > MAX_HEAD_OCTETS:
            self._head_too_large = True
            raise _HeadTooLarge

    def send_400_response(self, msg: str) -> None:
        if not self._head_too_large:
            super().send_400_response(msg)
            return
        self.transport.write(_HEAD_TOO_LARGE)
        self.transport.close()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._request_begun = True
        self._head_octets = 0
        if self._timer is None and self.limits.header_timeout:  # a new connection's runs already
            self._arm(self.limits.header_timeout, self._headers_timed_out)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        upgrade = self.parser.should_upgrade() and self._should_upgrade()
        if self.limits.body_timeout and not upgrade:
            self._body_seen = self.loop.time()
            self._arm(self.limits.body_timeout, self._body_timed_out)

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._body_seen = self.loop.time()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()
        self._request_begun = False


def protocol_class(limits: ConnectionLimits) -> type[GuardedHttpToolsProtocol]:
    """The protocol class for uvicorn (which instantiates it per connection)."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"limits": limits})


class ShutdownMiddleware:
    """A request uvicorn cancels when the shutdown grace period ends is answered 503 with
    Retry-After (or, once its response has started, ends there) instead of a 500 with a
    traceback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except asyncio.CancelledError:
            if not started:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 503,
                        "headers": [
                            (b"retry-after", b"5"),
                            (b"content-length", b"0"),
                            (b"connection", b"close"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": b""})


def uvicorn_options(config: Config) -> dict[str, Any]:
    """Keyword arguments of ``uvicorn.run`` for this configuration."""
    limits = ConnectionLimits(
        config.header_timeout_seconds, config.body_timeout_seconds, config.max_connections
    )
    return {
        "host": config.host,
        "port": config.port,
        "loop": "uvloop",
        "http": protocol_class(limits),
        "lifespan": "on",
        "access_log": False,
        "log_config": None,
        "ssl_certfile": config.tls_cert,
        "ssl_keyfile": config.tls_key,
        "timeout_graceful_shutdown": config.shutdown_grace_seconds,
        "ws_ping_interval": config.ws_ping_interval or None,
        "ws_ping_timeout": config.ws_ping_timeout or None,
        # a message just over maxSizeRequest still gets a RequestError, not a 1009 close
        "ws_max_size": config.limits.max_size_request + 65536,
        "ws_per_message_deflate": config.ws_per_message_deflate,
        # X-Forwarded-* only from the configured proxies (uvicorn trusts loopback by default)
        "proxy_headers": bool(config.trusted_proxies),
        "forwarded_allow_ips": list(config.trusted_proxies),
    }
