"""The SMTP gateway's part of ``fulmar serve``: the inbound listener and delivery worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from jmap.services import Services

from .checks import MessageChecks
from .delivery import DeliveryWorker
from .dns import resolver_from_config
from .hostname import smtp_hostname
from .inbound import InboundHandler
from .inbound_checks import InboundChecks
from .listener import SmtpListener
from .recipients import RecipientResolver
from .scanners import scanners_from_config
from .tls import server_context

log = logging.getLogger("fulmar.smtp")


class SmtpGateway:
    """Started and stopped with the server. The delivery worker always runs (other parts
    queue local deliveries too); the listener only when ``smtp_listen`` is set."""

    def __init__(
        self,
        services: Services,
        checks: MessageChecks | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.services = services
        self.checks = checks
        self.clock = clock
        self._own_checks: InboundChecks | None = None
        config = services.config
        self.delivery = DeliveryWorker(services, config.smtp_delivery_lease_seconds, clock=clock)
        self.listener: SmtpListener | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        config = self.services.config
        if config.smtp_listen:
            hostname = smtp_hostname(config)
            tls = await asyncio.to_thread(server_context, config, hostname)
            if self.checks is None:
                self._own_checks = InboundChecks(
                    config, resolver_from_config(config), scanners_from_config(config), hostname
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
        self._task = asyncio.create_task(self.delivery.run())

    async def stop(self) -> None:
        if self.listener is not None:
            await self.listener.stop()
        if self._own_checks is not None:
            await self._own_checks.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
