"""The SMTP listener of ``fulmar serve``: aiosmtpd sessions on the server's event loop."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from typing import Any

from jmap.config import Config

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
    """One listening port of SMTP sessions: the MX listener or a submission port.

    The logic is the same for every port; what differs is passed in: the session class
    (``session_class``, with the handler hooks in ``handler``), the TLS mode
    (``implicit_tls``: TLS from the first octet, RFC 8314; otherwise STARTTLS when
    ``tls_context`` is given) and whether AUTH is required before MAIL (``auth_required``,
    which also keeps the AUTH command).
    """

    def __init__(
        self,
        config: Config,
        handler: Any,
        hostname: str,
        tls_context: ssl.SSLContext | None,
        *,
        address: str | None = None,
        session_class: type[InboundSMTP] = InboundSMTP,
        implicit_tls: bool = False,
        auth_required: bool = False,
        name: str = "SMTP",
    ) -> None:
        if implicit_tls and tls_context is None:
            raise ValueError("implicit TLS needs a TLS context")
        self.config = config
        self.address = address or config.smtp_listen
        self.handler = handler
        self.hostname = hostname
        self.tls_context = tls_context
        self.session_class = session_class
        self.implicit_tls = implicit_tls
        self.auth_required = auth_required
        self.name = name
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
        session = self.session_class(
            self.handler,
            limits=self.limits,
            hostname=self.hostname,
            # with implicit TLS the transport is TLS already: no STARTTLS on top
            tls_context=None if self.implicit_tls else self.tls_context,
            implicit_tls=self.implicit_tls,
            auth_required=self.auth_required,
            on_close=self.sessions.discard,
            loop=asyncio.get_running_loop(),
        )
        self.sessions.add(session)
        return session

    async def start(self) -> None:
        host, port = listen_address(self.address)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._new_session,
            host,
            port,
            reuse_address=True,
            ssl=self.tls_context if self.implicit_tls else None,
        )
        kind = " (implicit TLS)" if self.implicit_tls else ""
        log.info("%s%s listening on %s", self.name, kind, self.address)

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
