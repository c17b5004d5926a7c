"""aiosmtpd's SMTP protocol with the limits and replies an MX facing the internet needs.

On top of aiosmtpd (which parses commands, reads DATA with dot-unstuffing and the size
limit, and does STARTTLS): an enhanced status code on every reply (``replies``), a bound on
bad commands per session (then 421 and closed), an idle timeout that also runs within DATA
(aiosmtpd's only runs between commands) and answers 421 before closing, a bound on the
length of data lines, and no AUTH unless it is required (``auth_required``: the submission
listener's). ``implicit_tls``: the transport is TLS from the first octet (RFC 8314).
"""

from __future__ import annotations

import collections
import logging
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import SMTP

from .inbound import InboundEnvelope
from .replies import BAD_COMMAND, reply_code, with_enhanced_code

log = logging.getLogger("fulmar.smtp")

#: aiosmtpd logs every command line at INFO: too much for a server (and a cost)
logging.getLogger("mail.log").setLevel(logging.WARNING)

COMMAND_LINE = 512  # RFC 5321 §4.5.3.1.4, with CRLF

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
#: ``<dot-atom@domain>`` in ASCII, what nearly every MAIL and RCPT carries: parsed by this
#: instead of the stdlib's RFC 5322 header parser, which aiosmtpd uses for every address
#: (anything else, quoted local parts, address literals, source routes, comments or more
#: than one space after the path, still goes there)
_PLAIN_PATH = re.compile(
    rf"<({_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)>(?: ([^ \t\r\n(].*))?",
    re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class SessionLimits:
    max_size: int
    timeout: float
    max_recipients: int
    max_line_length: int
    max_bad_commands: int


class _Commands(dict):
    """aiosmtpd's command table, answering unknown verbs through one method (so they count
    as bad commands like any other, instead of aiosmtpd's own fixed limit)."""

    def __init__(self, commands: dict[str, Any], unknown: Callable[..., Any]) -> None:
        super().__init__(commands)
        self._unknown = unknown

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(key) or self._unknown


class InboundSMTP(SMTP):
    def __init__(
        self,
        handler: Any,
        *,
        limits: SessionLimits,
        hostname: str,
        tls_context: ssl.SSLContext | None,
        on_close: Callable[[InboundSMTP], None],
        loop: Any,
        implicit_tls: bool = False,
        auth_required: bool = False,
    ) -> None:
        # read by SMTP.__init__ for its stream limit; +1 for a stuffed dot (RFC 5321 §4.5.2)
        self.line_length_limit = limits.max_line_length + 1
        super().__init__(
            handler,
            data_size_limit=limits.max_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=hostname,
            ident="Fulmar ESMTP",
            tls_context=tls_context,
            timeout=limits.timeout,
            loop=loop,
            auth_required=auth_required,
        )
        self.limits = limits
        # aiosmtpd keeps this table on the class and grows it with each EHLO
        self.command_size_limits = collections.defaultdict(lambda: COMMAND_LINE)
        self._implicit_tls = implicit_tls
        methods = {k: v for k, v in self._smtp_methods.items() if auth_required or k != "AUTH"}
        self._smtp_methods = _Commands(methods, self._unknown_command)
        self._on_close = on_close
        self._greeted = False
        self._plain_replies = False
        self._in_data = False
        self._bad_commands = 0
        self._closing = False

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        if self._implicit_tls and self.session is not None and self.session.ssl is None:
            # the whole connection is TLS: AUTH is offered and allowed from the start
            self.session.ssl = {"ssl_object": transport.get_extra_info("ssl_object")}
            self._auth_require_tls = False

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        plain = _PLAIN_PATH.fullmatch(arg)
        if plain is None:
            return super()._getaddr(arg)
        address, rest = plain.group(1), plain.group(2) or ""
        if self.local_part_limit and address.rindex("@") > self.local_part_limit:
            return None, None
        return address, rest

    def _create_envelope(self) -> InboundEnvelope:
        return InboundEnvelope()

    # -- replies --
    async def push(self, status: str | bytes) -> None:
        if self._closing:
            return
        line = status.decode("utf-8", "replace") if isinstance(status, bytes) else status
        if not self._greeted or self._plain_replies:
            self._greeted = True  # the greeting and EHLO/HELO replies carry no code
        else:
            line = with_enhanced_code(line)
        await super().push(line)
        if reply_code(line) in BAD_COMMAND and line[3:4] != "-":
            self._bad_commands += 1
            if self._bad_commands >= self.limits.max_bad_commands:
                await super().push(f"421 4.7.0 {self.hostname} Too many bad commands, closing")
                self._close()

    def _close(self) -> None:
        """Stop the session now: nothing more is read or answered."""
        self._closing = True
        if self.transport is not None:
            self.transport.close()
        if self._handler_coroutine is not None:
            self._handler_coroutine.cancel()

    async def _unknown_command(self, arg: str | None) -> None:
        await self.push("500 5.5.2 Command not recognized")

    async def smtp_EHLO(self, hostname: str) -> None:
        self.command_size_limits.clear()
        self._plain_replies = bool(hostname)
        try:
            await super().smtp_EHLO(hostname)
        finally:
            self._plain_replies = False

    async def smtp_HELO(self, hostname: str) -> None:
        self._plain_replies = bool(hostname)
        try:
            await super().smtp_HELO(hostname)
        finally:
            self._plain_replies = False

    # -- timeouts: idle between commands and within DATA --
    async def smtp_DATA(self, arg: str) -> None:
        self._in_data = True
        try:
            await super().smtp_DATA(arg)
        finally:
            self._in_data = False

    def data_received(self, data: bytes) -> None:
        if self._in_data and not self._closing:
            self._reset_timeout()
        super().data_received(data)

    def _timeout_cb(self) -> None:
        if self.transport is not None and not self._closing:
            reply = f"421 4.4.2 {self.hostname} Timeout, closing\r\n"
            self.transport.write(reply.encode())
        self._close()

    def connection_lost(self, error: Exception | None) -> None:
        self._closing = True
        self._on_close(self)
        super().connection_lost(error)

    # -- shutdown --
    def shut_down(self) -> None:
        """Answer 421 and close (the server is stopping)."""
        if self.transport is not None and not self._closing:
            self.transport.write(f"421 4.3.2 {self.hostname} Shutting down\r\n".encode())
        self._close()
