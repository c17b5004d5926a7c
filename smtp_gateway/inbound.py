"""What the listener does with each command of a mail transaction: check recipients at
RCPT, and at the end of DATA check the message, make it durable, and only then say 250.

Accepted means durable: the stored message (trace fields + the checks' header + the raw
message) is written to the blob role (fsynced), then one job on the ``inbound`` queue is
committed, with a blob ref ``inbound:<job id>`` in the first recipient's account that
holds the blob until delivery (the orphan sweep leaves held blobs alone); on SQLite both
go straight into the group commit (``enqueue_holding``), with no account transaction, so
sessions ending DATA together for one account share one fsync, and the job is born leased
to the local delivery worker (``Handoff``), which gets the message in memory. The job's payload::

    {"blobId": str, "mailFrom": str ("" for <>), "receivedAt": float (epoch seconds),
     "recipients": [{"address": str, "accountId": str}, ...], "folder": "inbox" | "junk"}

A client that goes away before the final dot leaves nothing behind (aiosmtpd drops the
transaction); one that goes away while the message is being stored does not stop it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from aiosmtpd.smtp import Envelope, Session, TLSSetupException

from jmap.services import rerun_on_conflict
from jmap.store.base import BlobStore, DataStore, StoreError
from jmap.store.jobs import Job

from . import trace
from .checks import MessageChecks
from .intake import REFUSED, IntakeGate
from .queues import HOLD_PREFIX, INBOUND
from .recipients import RecipientResolver
from .scanners import ScannerUnavailable

log = logging.getLogger("fulmar.smtp")


TEMPORARY = "451 4.3.0 Temporary failure, please try again later"
#: RFC 5321 §6.3: a message with this many Received fields is looping
MAX_RECEIVED = 100


@dataclass
class Route:
    address: str
    account_id: str


class InboundEnvelope(Envelope):
    """aiosmtpd's envelope plus the account each accepted recipient resolved to."""

    def __init__(self) -> None:
        super().__init__()
        self.routes: list[Route] = []


def new_queue_id() -> str:
    return "J" + secrets.token_hex(12)


class Handoff(Protocol):
    """The local delivery worker, taking jobs the listener enqueued already leased to it,
    with their message: no claim and no blob read before it delivers."""

    def lease(self) -> tuple[str, float] | None:
        """A lease (token, until) for a job about to be enqueued; None: enqueue it
        unleased (the worker has enough in hand)."""

    def take(self, job: Job, octets: bytes) -> None:
        """Deliver this job, committed with the lease from ``lease``."""


class InboundHandler:
    """aiosmtpd handler hooks (``handle_*``) of the MX listener."""

    def __init__(
        self,
        *,
        data: DataStore,
        blobs: BlobStore,
        resolver: RecipientResolver,
        checks: MessageChecks,
        hostname: str,
        max_recipients: int,
        on_queued: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
        handoff: Handoff | None = None,
        gate: IntakeGate | None = None,
    ) -> None:
        self.data = data
        self.blobs = blobs
        self.resolver = resolver
        self.checks = checks
        self.hostname = hostname
        self.max_recipients = max_recipients
        self.on_queued = on_queued
        self.clock = clock
        self.handoff = handoff
        #: backpressure: a new transaction waits while the delivery backlog is too long
        self.gate = gate

    async def handle_EHLO(
        self, server: Any, session: Session, envelope: Envelope, hostname: str, responses: list
    ) -> list[str]:
        if not _printable_ascii(hostname):
            return ["501 5.5.4 The EHLO name must be printable ASCII (RFC 6531 §3.7.1)"]
        session.host_name = hostname.split()[0]  # an address literal may have text after it
        lines = [r for r in responses[:-1] if not r[4:].upper().startswith("AUTH")]
        # aiosmtpd's last line is "250 HELP"; HELP is a command, not an extension
        return [*lines, "250-PIPELINING", "250 ENHANCEDSTATUSCODES"]

    async def handle_HELO(
        self, server: Any, session: Session, envelope: Envelope, hostname: str
    ) -> str:
        if not _printable_ascii(hostname):
            return "501 5.5.4 The HELO name must be printable ASCII"
        session.host_name = hostname.split()[0]
        return f"250 {self.hostname}"

    async def handle_MAIL(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if not address.isascii() and not envelope.smtp_utf8:
            return "550 5.6.7 A non-ASCII address needs the SMTPUTF8 parameter (RFC 6531)"
        if self.gate is not None and not await self.gate.admit():
            return REFUSED
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: InboundEnvelope, address: str, options: list
    ) -> str:
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return "452 4.5.3 Too many recipients"
        if not address.isascii() and not envelope.smtp_utf8:
            return "553 5.6.7 A non-ASCII address needs the SMTPUTF8 parameter (RFC 6531)"
        try:
            found = await self.resolver.resolve(address)
        except StoreError as exc:
            log.error("recipient lookup failed: %s", exc)
            return TEMPORARY
        if found.account_id is None:
            if found.local:
                return "550 5.1.1 No such user here"
            return "550 5.7.1 Relaying denied"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        envelope.routes.append(Route(address, found.account_id))
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: InboundEnvelope) -> str:
        raw = envelope.original_content or b""
        client_ip = str(session.peer[0]) if session.peer else ""
        mail_from = "" if envelope.mail_from == "<>" else envelope.mail_from or ""
        helo = session.host_name or ""
        if received_fields(raw) >= MAX_RECEIVED:
            return "554 5.4.6 Too many Received fields: a mail loop"
        try:
            verdict = await self.checks(raw, client_ip=client_ip, helo=helo, mail_from=mail_from)
        except ScannerUnavailable as exc:
            log.warning("refused for now, a content scanner is unavailable: %s", exc)
            return "451 4.3.0 Content scanner unavailable, try again later"
        except Exception:
            log.exception("message checks failed")
            return TEMPORARY
        if verdict.action == "reject":
            return getattr(verdict, "reply", None) or "550 5.7.1 Message refused by policy"
        folder = "junk" if verdict.action == "quarantine" else "inbox"
        queue_id = new_queue_id()
        received_at = self.clock()
        head = trace.return_path(mail_from) + trace.received(
            helo=helo,
            client_ip=client_ip,
            hostname=self.hostname,
            with_protocol=trace.protocol(
                session.extended_smtp,
                session.ssl is not None,
                bool(session.authenticated),
                bool(envelope.smtp_utf8),
            ),
            queue_id=queue_id,
            recipients=envelope.rcpt_tos,
            when=datetime.fromtimestamp(received_at).astimezone(),
        )
        stored = head.encode() + verdict.header.encode() + getattr(verdict, "message", raw)
        payload = {
            "blobId": "",
            "mailFrom": mail_from,
            "recipients": [
                {"address": r.address, "accountId": r.account_id} for r in envelope.routes
            ],
            "receivedAt": received_at,
            "folder": folder,
        }
        # once storing has begun it finishes, even if the client hangs up meanwhile
        try:
            await asyncio.shield(self._store(queue_id, stored, payload))
        except (StoreError, OSError) as exc:
            log.error("could not queue a message: %s", exc)
            return TEMPORARY
        self.on_queued()
        return f"250 2.0.0 Ok: queued as {queue_id}"

    async def _store(self, queue_id: str, stored: bytes, payload: dict[str, Any]) -> None:
        blob_id = await self.blobs.put(stored)
        payload["blobId"] = blob_id
        holder = payload["recipients"][0]["accountId"]
        hold = (holder, blob_id, HOLD_PREFIX + queue_id)
        enqueue_holding = getattr(self.data.jobs, "enqueue_holding", None)
        if enqueue_holding is not None:  # a backend that can do both in one commit
            due = payload["receivedAt"]
            lease = self.handoff.lease() if self.handoff is not None else None
            await enqueue_holding(INBOUND, payload, due, queue_id, hold, lease)
            if self.handoff is not None and lease is not None:
                self.handoff.take(Job(INBOUND, queue_id, payload, due, 0, *lease), stored)
            return

        async def commit() -> None:
            async with self.data.transaction(holder) as tx:
                await tx.add_blob_refs([(blob_id, HOLD_PREFIX + queue_id)])
                await tx.enqueue(INBOUND, payload, payload["receivedAt"], queue_id)

        await rerun_on_conflict(commit, {})

    async def handle_exception(self, error: Exception) -> str:
        if isinstance(error, TLSSetupException):  # the client's doing: aiosmtpd closes
            log.info("TLS handshake failed: %r", error.__cause__)
        else:
            log.error("SMTP session error: %r", error, exc_info=error)
        return TEMPORARY


def received_fields(raw: bytes) -> int:
    """How many Received fields the header section has (one pass, header section only)."""
    end = raw.find(b"\r\n\r\n")
    head = raw[: end if end >= 0 else len(raw)]
    return sum(line[:9].lower() == b"received:" for line in head.split(b"\r\n"))


def _printable_ascii(name: str) -> bool:
    return bool(name.strip()) and all(" " <= c <= "~" for c in name)
