"""One SMTP client connection to a destination (aiosmtplib), sending message after
message on it: STARTTLS whenever the server offers it, AUTH for a smart host, SMTPUTF8 and
8BITMIME when the message needs them and the server offers them, a reply per recipient."""

from __future__ import annotations

import contextlib
import re
import ssl
from dataclasses import dataclass
from functools import cached_property

import aiosmtplib

from .message_copy import is_8bit
from .routing import Route

_ENHANCED = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}\b")


@dataclass(frozen=True)
class Reply:
    code: int
    text: str

    @property
    def line(self) -> str:
        """The reply on one line (RFC 8621 §7: a multi-line reply is joined with spaces)."""
        return f"{self.code} " + " ".join(t.strip() for t in self.text.splitlines() if t.strip())

    @property
    def outcome(self) -> str:
        """``yes`` (2xx), ``no`` (5xx: permanent) or ``retry`` (anything else)."""
        if 200 <= self.code < 300:
            return "yes"
        return "no" if 500 <= self.code < 600 else "retry"

    @property
    def status(self) -> str:
        """The RFC 3463 status of the reply, or the class's x.0.0."""
        match = _ENHANCED.match(self.text.strip())
        if match:
            return match.group(0)
        return {2: "2.0.0", 5: "5.0.0"}.get(self.code // 100, "4.0.0")


def temporary(text: str) -> Reply:
    return Reply(451, f"4.4.1 {text}")


@dataclass(frozen=True)
class ClientSettings:
    helo_name: str
    source_address: str = ""
    timeout: float = 120.0
    #: CA certificates (PEM) for verified TLS ("": the system's)
    ca_file: str = ""

    @cached_property
    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file or None)


class DeliveryFailed(Exception):
    """No server of the route could be reached; ``reply`` says why, for every recipient."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.line)
        self.reply = reply


class Connection:
    def __init__(self, smtp: aiosmtplib.SMTP, hop: str) -> None:
        self.smtp = smtp
        self.hop = hop

    @classmethod
    async def open(cls, route: Route, settings: ClientSettings) -> Connection:
        """Connect to the first server of the route that answers (RFC 5321 §5.1: try each
        address in order); STARTTLS when offered; AUTH when the route has credentials."""
        last = temporary("no server to connect to")
        for hop in route.hops:
            smtp = aiosmtplib.SMTP(
                hostname=hop.host,
                port=hop.port,
                local_hostname=settings.helo_name,
                source_address=(settings.source_address, 0) if settings.source_address else None,
                timeout=settings.timeout,
                use_tls=route.implicit_tls,
                # opportunistic: upgrade whenever offered; a relay's certificate is checked;
                # MTA-STS: STARTTLS is required and the certificate checked for the MX name
                start_tls=False if route.require_tls else None,
                validate_certs=route.username is not None or route.require_tls,
                tls_context=settings.tls_context if route.username is not None else None,
            )
            try:
                await smtp.connect()
                if route.require_tls:
                    await _required_starttls(smtp, hop.server_name or hop.host, settings)
                if route.username is not None:
                    await smtp.login(route.username, route.password or "")
                return cls(smtp, f"{hop.server_name or hop.host}")
            except aiosmtplib.SMTPAuthenticationError as exc:
                # the relay's credentials are ours to fix: keep the mail and try later
                last = Reply(454, f"4.7.0 The relay refused our login: {exc.code} {exc.message}")
            except aiosmtplib.SMTPResponseException as exc:
                last = Reply(exc.code, exc.message)
            except (aiosmtplib.SMTPException, OSError) as exc:
                last = temporary(f"{hop.host}:{hop.port}: {exc}")
            await _close(smtp)
        raise DeliveryFailed(last)

    async def send(self, mail_from: str, rcpts: list[str], message: bytes) -> dict[str, Reply]:
        """One transaction; the reply for each recipient (a refused RCPT's, else DATA's).

        A lost connection raises (``SMTPServerDisconnected``, timeouts, ``OSError``)."""
        smtp = self.smtp
        utf8 = not all(a.isascii() for a in [mail_from, *rcpts])
        options = []
        if utf8:
            if not smtp.supports_extension("smtputf8"):
                refused = Reply(553, "5.6.7 The server does not offer SMTPUTF8")
                return dict.fromkeys(rcpts, refused)
            options.append("SMTPUTF8")
        if is_8bit(message) and smtp.supports_extension("8bitmime"):
            options.append("BODY=8BITMIME")
        encoding = "utf-8" if utf8 else "ascii"
        try:
            await smtp.mail(mail_from, options=options, encoding=encoding)
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset()
            return dict.fromkeys(rcpts, Reply(exc.code, exc.message))
        replies: dict[str, Reply] = {}
        accepted = []
        for rcpt in rcpts:
            try:
                await smtp.rcpt(rcpt, encoding=encoding)
            except aiosmtplib.SMTPResponseException as exc:
                replies[rcpt] = Reply(exc.code, exc.message)
            else:
                accepted.append(rcpt)
        if not accepted:
            await self._reset()
            return replies
        try:
            response = await smtp.data(message)
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset()
            replies.update(dict.fromkeys(accepted, Reply(exc.code, exc.message)))
        else:
            replies.update(dict.fromkeys(accepted, Reply(response.code, response.message)))
        return replies

    async def _reset(self) -> None:
        with contextlib.suppress(aiosmtplib.SMTPResponseException):
            await self.smtp.rset()

    async def close(self) -> None:
        await _close(self.smtp)


async def _required_starttls(
    smtp: aiosmtplib.SMTP, server_name: str, settings: ClientSettings
) -> None:
    """RFC 8461 §4.2: STARTTLS, and a certificate valid for the MX host's name."""
    await smtp.ehlo()
    if not smtp.supports_extension("starttls"):
        raise aiosmtplib.SMTPException(f"{server_name} offers no STARTTLS (MTA-STS)")
    try:
        await smtp.starttls(
            server_hostname=server_name, validate_certs=True, tls_context=settings.tls_context
        )
    except (ssl.SSLError, ssl.CertificateError) as exc:
        raise aiosmtplib.SMTPException(f"{server_name}: TLS failed (MTA-STS): {exc}") from exc
    await smtp.ehlo()


async def _close(smtp: aiosmtplib.SMTP) -> None:
    if not smtp.is_connected:
        return
    try:
        await smtp.quit()
    except (aiosmtplib.SMTPException, OSError):
        smtp.close()
