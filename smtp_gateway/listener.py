"""The SMTP listener of ``fulmar serve``: aiosmtpd sessions on the server's event loop."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from typing import Any

from jmap.config import Config

from .inbound import InboundHandler
from .protocol import InboundSMTP, SessionLimits

log = logging.getLogger("fulmar.smtp")


class _Busy(asyncio.Protocol):
    """What a connection past ``smtp_max_connections`` gets: 421, then closed."""

    def __init__(self, hostname: str) -> None:
        self.hostname = hostname

    def connection_made(self, transport: Any) -> None:
        transport.write(f"421 4.3.2 {self.hostname} Too many connections, try later\r\n".encode())
        transport.close()


def listen_address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.removeprefix("[").removesuffix("]"), int(port)


def session_limits(config: Config) -> SessionLimits:
    return SessionLimits(
        max_size=config.limits.max_size_email,
        timeout=config.smtp_timeout_seconds,
        max_recipients=config.smtp_max_recipients,
        max_line_length=config.smtp_max_line_length,
        max_bad_commands=config.smtp_max_bad_commands,
    )


class SmtpListener:
    def __init__(
        self,
        config: Config,
        handler: InboundHandler,
        hostname: str,
        tls_context: ssl.SSLContext | None,
    ) -> None:
        self.config = config
        self.handler = handler
        self.hostname = hostname
        self.tls_context = tls_context
        self.limits = session_limits(config)
        self.sessions: set[InboundSMTP] = set()
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    def _new_session(self) -> asyncio.Protocol:
        if len(self.sessions) >= self.config.smtp_max_connections:
            return _Busy(self.hostname)
        session = InboundSMTP(
            self.handler,
            limits=self.limits,
            hostname=self.hostname,
            tls_context=self.tls_context,
            on_close=self.sessions.discard,
            loop=asyncio.get_running_loop(),
        )
        self.sessions.add(session)
        return session

    async def start(self) -> None:
        host, port = listen_address(self.config.smtp_listen)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._new_session, host, port, reuse_address=True)
        log.info("SMTP listening on %s", self.config.smtp_listen)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for session in list(self.sessions):
            session.shut_down()
        self._server = None


def smtp_listen_problem(config: Config) -> str | None:
    """Why ``smtp_listen`` cannot be listened on (checked before serving, so the operator
    gets one line rather than a failed start-up)."""
    if not config.smtp_listen:
        return None
    return address_problem(config.smtp_listen, "SMTP")


def address_problem(address: str, what: str) -> str | None:
    """Why ``address`` (HOST:PORT) cannot be listened on, or None."""
    host, port = listen_address(address)
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        return f"cannot listen for {what} on {address}: {exc.strerror or exc}"
    return None
