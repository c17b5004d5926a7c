"""The SMTP gateway's part of ``fulmar serve``: the inbound listener and delivery worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from jmap.auth import Authenticator
from jmap.services import Services

from .checks import MessageChecks
from .delivery import DeliveryWorker
from .dkim_keys import DkimKeyError
from .dkim_sign import DkimSignError, sign_message
from .dns import resolver_from_config
from .hostname import smtp_hostname
from .inbound import InboundHandler
from .inbound_checks import InboundChecks
from .intake import IntakeGate
from .listener import SmtpListener
from .outbound import OutboundWorker
from .recipients import RecipientResolver
from .scanners import scanners_from_config
from .submission import SubmissionHandler, submission_listener
from .tls import server_context

log = logging.getLogger("fulmar.smtp")


class SmtpGateway:
    """Started and stopped with the server. The listeners (``start_listeners``: the MX
    listener when ``smtp_listen`` is set, the submission ports when theirs are) run on nodes
    with the smtp role; the delivery worker and the outbound queue's worker
    (``start_workers``) on nodes with the worker role, any number of them (jobs are leased).
    ``start`` starts both. Outgoing mail is DKIM-signed with the sending domain's keys, made
    on first use, and routed with the gateway's one resolver."""

    def __init__(
        self,
        services: Services,
        checks: MessageChecks | None = None,
        clock: Callable[[], float] = time.time,
        auth: Authenticator | None = None,
    ) -> None:
        self.services = services
        self.auth = auth or Authenticator(services.data)
        self.checks = checks
        self.clock = clock
        self._own_checks: InboundChecks | None = None
        config = services.config
        self.delivery = DeliveryWorker(services, config.smtp_delivery_lease_seconds, clock=clock)
        self.resolver = resolver_from_config(config)
        self.outbound = OutboundWorker(services, resolver=self.resolver, sign=self._sign)
        self.listener: SmtpListener | None = None
        self.submission: list[SmtpListener] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.start_listeners()
        self.start_workers()

    async def start_listeners(self) -> None:
        """The MX and submission listeners (a listener wakes this node's delivery worker,
        if it runs one; other nodes' workers find the job within a poll)."""
        config = self.services.config
        if config.smtp_listen:
            hostname = smtp_hostname(config)
            tls = await asyncio.to_thread(server_context, config, hostname)
            if self.checks is None:
                self._own_checks = InboundChecks(
                    config, self.resolver, scanners_from_config(config), hostname
                )
                self.checks = self._own_checks
            handler = InboundHandler(
                data=self.services.data,
                blobs=self.services.blobs,
                resolver=RecipientResolver(self.services.data),
                checks=self.checks,
                hostname=hostname,
                max_recipients=config.smtp_max_recipients,
                on_queued=self.delivery.wake,
                clock=self.clock,
            )
            self.listener = SmtpListener(config, handler, hostname, tls)
            await self.listener.start()
        await self._start_submission()

    def start_workers(self) -> None:
        """The delivery worker (``inbound`` jobs) and the outbound queue's worker. With
        the MX listener on this node too, the listener hands its jobs to this worker, and
        waits while the worker has ``smtp_intake_backlog`` of them in hand (a node
        without the worker leaves them in the queue for any worker's claim)."""
        config = self.services.config
        if self.listener is not None:
            gate = IntakeGate(
                self.delivery.backlog,
                config.smtp_intake_backlog,
                config.smtp_intake_max_wait_seconds,
            )
            self.delivery.on_progress = gate.changed
            self.listener.handler.handoff = self.delivery
            self.listener.handler.gate = gate
        self._tasks = [
            asyncio.create_task(self.delivery.run()),
            asyncio.create_task(self.outbound.run()),
        ]

    async def _start_submission(self) -> None:
        """The listeners for mail clients (``submission_listen``, ``submissions_listen``)."""
        config = self.services.config
        ports = [
            (a, i)
            for a, i in ((config.submission_listen, False), (config.submissions_listen, True))
            if a
        ]
        if not ports:
            return
        hostname = smtp_hostname(config)
        tls = await asyncio.to_thread(server_context, config, hostname)
        handler = SubmissionHandler(self.services, self.auth, hostname, clock=self.clock)
        for address, implicit in ports:
            listener = submission_listener(config, address, handler, hostname, tls, implicit)
            await listener.start()
            self.submission.append(listener)

    async def _sign(self, message: bytes, domain: str) -> bytes:
        """DKIM-signed; a message or domain that cannot be signed goes out unsigned (and
        is logged) rather than being held in the queue for ever."""
        try:
            return await sign_message(message, domain, self.services.data)
        except (DkimSignError, DkimKeyError) as exc:
            log.warning("sending unsigned mail for %s: %s", domain, exc)
            return message

    async def stop(self) -> None:
        if self.listener is not None:
            await self.listener.stop()
        for listener in self.submission:
            await listener.stop()
        if self._own_checks is not None:
            await self._own_checks.close()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
