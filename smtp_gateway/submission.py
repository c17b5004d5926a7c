"""The submission listener (RFC 6409) for mail clients that do not speak JMAP.

STARTTLS (port 587) or implicit TLS (port 465, RFC 8314), then AUTH PLAIN or LOGIN
(RFC 4954) with the account's password or a Bearer token as the password; AUTH is only
offered and accepted over TLS. Failed logins count in the server's login throttle.

An authenticated session may relay to anyone; MAIL FROM and every From address must be
ones the account may send as (its identities, ``methods/sending.py``). At the end of DATA
the message gets a Received field, the account's send rate is charged, and one job goes
into the outbound queue (a synthetic submission id with no EmailSubmission document, its
blob held by ``send_ref``) in one transaction, committed before the 250.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
import time
from collections.abc import Callable
from datetime import datetime
from email.headerregistry import AddressHeader
from email.parser import BytesHeaderParser
from email.policy import default
from typing import Any

from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from jmap.auth import TOKEN_PREFIX, Authenticator, Throttled
from jmap.config import Config
from jmap.services import Services, rerun_on_conflict
from jmap.store.base import Principal, StoreError
from methods.sending import account_address, identity_covers, may_send_as

from . import trace
from .inbound import TEMPORARY, new_queue_id
from .listener import SmtpListener, address_problem
from .protocol import InboundSMTP
from .queues import OUTBOUND, outbound_job_id, outbound_payload, send_ref
from .rate_limits import RateLimited, charge

log = logging.getLogger("fulmar.smtp.submission")

IDENTITY = "Identity"
#: what ``_authenticate`` hands back: the decoded credentials, still to be checked
_UNCHECKED = "unchecked"


class SubmissionSMTP(InboundSMTP):
    """The MX session with AUTH back (required before MAIL) and checked asynchronously."""

    def _authenticate(self, mechanism: str, auth_data: Any) -> AuthResult:
        # aiosmtpd calls this synchronously; the check (argon2, the store) is awaited below
        return AuthResult(success=False, handled=False, auth_data=auth_data, message=_UNCHECKED)

    async def auth_PLAIN(self, _: Any, args: list[str]) -> AuthResult:
        return await self._check(await super().auth_PLAIN(_, args))

    async def auth_LOGIN(self, _: Any, args: list[str]) -> AuthResult:
        return await self._check(await super().auth_LOGIN(_, args))

    async def _check(self, result: AuthResult) -> AuthResult:
        if result.message != _UNCHECKED:
            return result  # malformed or aborted: aiosmtpd has answered or will
        assert self.session is not None
        client = str(self.session.peer[0]) if self.session.peer else "?"
        handler: SubmissionHandler = self.event_handler
        return await handler.authenticate(result.auth_data, client)


class SubmissionHandler:
    """aiosmtpd handler hooks of the submission listener."""

    def __init__(
        self,
        services: Services,
        auth: Authenticator,
        hostname: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.services = services
        self.auth = auth
        self.hostname = hostname
        self.clock = clock
        self.max_recipients = services.config.smtp_max_recipients

    async def authenticate(self, credentials: LoginPassword, client: str) -> AuthResult:
        try:
            login = credentials.login.decode("utf-8")
            password = credentials.password.decode("utf-8")
        except UnicodeDecodeError:
            return AuthResult(
                success=False, handled=False, message="501 5.5.2 Credentials must be UTF-8"
            )
        if password.startswith(TOKEN_PREFIX):
            authorization = f"Bearer {password}"
        else:
            pair = base64.b64encode(f"{login}:{password}".encode()).decode()
            authorization = f"Basic {pair}"
        try:
            principal = await self.auth.authenticate(authorization, client)
        except Throttled as exc:
            reply = f"454 4.7.0 Too many failed logins, try in {exc.retry_after} s"
            return AuthResult(success=False, handled=False, message=reply)
        except StoreError as exc:
            log.error("login check failed: %s", exc)
            return AuthResult(
                success=False, handled=False, message="454 4.7.0 Temporary authentication failure"
            )
        if principal is not None and principal.login.lower() != login.lower():
            # a token names its own principal: it must be the login given with it
            if self.auth.throttle is not None:
                self.auth.throttle.failed(login, client)
            principal = None
        if principal is None:
            return AuthResult(success=False, handled=False)  # 535 5.7.8
        return AuthResult(success=True, auth_data=principal)

    async def handle_EHLO(
        self, server: Any, session: Session, envelope: Envelope, hostname: str, responses: list
    ) -> list[str]:
        if not hostname.strip() or not all(" " <= c <= "~" for c in hostname):
            return ["501 5.5.4 The EHLO name must be printable ASCII"]
        session.host_name = hostname.split()[0]
        return [*responses[:-1], "250-PIPELINING", "250 ENHANCEDSTATUSCODES"]

    async def _may_send_as(self, principal: Principal, address: str) -> bool | None:
        """None when the account cannot be found (a storage problem)."""
        data = self.services.data
        accounts = [a for a in await data.accounts_for(principal.id) if a.owner_id == principal.id]
        if not accounts:
            return None
        account = accounts[0]
        _, identities = await data.get(account.id, IDENTITY, None)
        if any(identity_covers(str(i.get("email", "")), address) for i in identities):
            return True
        return await may_send_as(data, await account_address(data, account), address)

    async def handle_MAIL(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if not address.isascii() and not envelope.smtp_utf8:
            return "550 5.6.7 A non-ASCII address needs the SMTPUTF8 parameter (RFC 6531)"
        try:
            allowed = await self._may_send_as(session.auth_data, address)
        except StoreError as exc:
            log.error("sender check failed: %s", exc)
            return TEMPORARY
        if not allowed:
            return "550 5.7.1 This account may not send as that address"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return "452 4.5.3 Too many recipients"
        if not address.isascii() and not envelope.smtp_utf8:
            return "553 5.6.7 A non-ASCII address needs the SMTPUTF8 parameter (RFC 6531)"
        if "@" not in address.strip("@"):
            return "553 5.1.3 A recipient needs a domain"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        principal: Principal = session.auth_data
        senders = await asyncio.to_thread(from_addresses, raw)
        if senders is None:
            return "550 5.6.0 The message needs a From field with addresses (RFC 5322 §3.6.2)"
        try:
            for sender in senders:
                if not await self._may_send_as(principal, sender):
                    return f"550 5.7.1 This account may not send as {sender}"
            accounts = await self.services.data.accounts_for(principal.id)
        except StoreError as exc:
            log.error("sender check failed: %s", exc)
            return TEMPORARY
        account_id = next((a.id for a in accounts if a.owner_id == principal.id), None)
        if account_id is None:
            return "550 5.7.1 This login has no account to send from"
        queue_id = new_queue_id()
        now = self.clock()
        head = trace.received(
            helo=session.host_name or "",
            client_ip=str(session.peer[0]) if session.peer else "",
            hostname=self.hostname,
            with_protocol=trace.protocol(True, session.ssl is not None, True, envelope.smtp_utf8),
            queue_id=queue_id,
            recipients=envelope.rcpt_tos,
            when=datetime.fromtimestamp(now).astimezone(),
        )
        payload = outbound_payload(
            account_id, "smtp-" + queue_id, "", envelope.mail_from or "", envelope.rcpt_tos
        )
        payload["signDomain"] = senders[0].rpartition("@")[2].lower()
        try:
            await asyncio.shield(self._queue(head.encode() + raw, payload, now))
        except RateLimited as exc:
            wait = f"{exc.retry_after:.0f}"
            return f"452 4.7.1 Sending rate limit reached, try again in {wait} s"
        except (StoreError, OSError) as exc:
            log.error("could not queue a submitted message: %s", exc)
            return TEMPORARY
        return f"250 2.0.0 Ok: queued as {queue_id}"

    async def _queue(self, message: bytes, payload: dict[str, Any], now: float) -> None:
        """Blob, rate charge, hold and job: durable before the caller says 250."""
        services = self.services
        account_id, submission_id = payload["accountId"], payload["submissionId"]
        payload["blobId"] = await services.blobs.put(message)

        async def commit() -> None:
            async with services.write(account_id) as tx:
                await charge(tx, now, services.config.smtp_max_messages_per_hour)
                await tx.add_blob_refs([(payload["blobId"], send_ref(submission_id))])
                job_id = outbound_job_id(account_id, submission_id)
                await tx.enqueue(OUTBOUND, payload, now, job_id)

        await rerun_on_conflict(commit, {})

    async def handle_exception(self, error: Exception) -> str:
        log.error("SMTP submission session error: %r", error, exc_info=error)
        return TEMPORARY


def from_addresses(raw: bytes) -> list[str] | None:
    """The addresses of the message's From field(s), or None if there are none."""
    headers = BytesHeaderParser(policy=default).parsebytes(raw)
    found: list[str] = []
    for value in headers.get_all("From") or []:
        if not isinstance(value, AddressHeader):
            return None
        found.extend(a.addr_spec for a in value.addresses if a.domain)
    return found or None


def submission_listen_problems(config: Config) -> list[str]:
    """Why the submission ports cannot be listened on (checked before serving)."""
    addresses = (config.submission_listen, config.submissions_listen)
    found = (address_problem(a, "SMTP submission") for a in addresses if a)
    return [p for p in found if p]


def submission_listener(
    config: Config,
    address: str,
    handler: SubmissionHandler,
    hostname: str,
    tls_context: ssl.SSLContext,
    implicit_tls: bool,
) -> SmtpListener:
    """One port: ``implicit_tls`` for 465 (TLS from the first octet), else STARTTLS."""
    return SmtpListener(
        config,
        handler,
        hostname,
        tls_context,
        address=address,
        session_class=SubmissionSMTP,
        implicit_tls=implicit_tls,
        auth_required=True,
        name="SMTP submission",
    )
