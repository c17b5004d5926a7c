"""The delivery worker: takes ``inbound`` jobs and files each message into its mailboxes.

Any node may run it; a job is held by one worker through its lease (renewed while the job
runs), and a worker that dies lets the lease lapse so another node takes the job again.
The message is parsed once, in the worker pool, then stored for each recipient account in
one transaction of that account through the same ``EmailWriter`` as Email/import (threads,
Mailbox counters, the mail index, full text), marked as delivered so the ``EmailDelivery``
state changes and is pushed with the rest (RFC 8621 §1.5).

Redone jobs deliver nothing twice: every accepted message is a blob of its own (its
``Received`` field carries the queue id), so "this account has an Email of this blob" is
"this job was delivered here", and it is checked inside the delivering transaction. A job
redone after a crash between a delivery and ``complete`` finds its Emails and only
completes. The blob ref that held the queued blob (``inbound.HOLD_PREFIX``) is dropped in
the transaction of the last account delivered. A message the worker pool cannot parse
within its budget stays queued and is retried with a growing delay (logged each time);
a message whose blob is gone, or whose accounts are all gone, is logged and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from typing import Any

from jmap.ids import utc_date
from jmap.services import Services, rerun_on_conflict
from jmap.store.base import NotFoundError, Transaction
from jmap.store.jobs import Job
from jmap.store.mail import mail_index
from jmap.workers import BudgetExceeded
from methods import email_tasks
from methods.email_write import EmailWriter
from methods.mailbox import MailboxType

from .bounces import record_bounce
from .feedback import consume_feedback
from .inbound import HOLD_PREFIX, INBOUND
from .queues import release_hold
from .vacation import reply_if_away

log = logging.getLogger("fulmar.smtp.delivery")

#: the worker pool's fair share is per owner: deliveries together get at most half of it
WORKER_OWNER = "smtp-delivery"
#: jobs delivered at once by one worker
CAPACITY = 64
#: how often the queue is looked at when nothing wakes the worker (jobs of other nodes)
POLL_SECONDS = 1.0
#: retry delays: RETRY_BASE_SECONDS * 2**attempts, at most RETRY_MAX_SECONDS
RETRY_BASE_SECONDS = 30.0
RETRY_MAX_SECONDS = 3600.0
#: where mail goes: folder -> (role, name of the Mailbox created if the role is missing)
FOLDERS = {"inbox": ("inbox", "Inbox"), "junk": ("junk", "Junk")}


def node_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def retry_delay(attempts: int) -> float:
    return min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** min(attempts, 20))


class DeliveryWorker:
    def __init__(
        self,
        services: Services,
        lease_seconds: float,
        owner: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.services = services
        self.queue = services.data.jobs
        self.mail = mail_index(services.data)
        self.lease_seconds = lease_seconds
        self.owner = owner or node_id()
        self.clock = clock
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        #: (account, role) -> Mailbox id, checked again in each transaction
        self._mailboxes: dict[tuple[str, str], str] = {}

    def wake(self) -> None:
        """A job was queued: look at the queue now."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver jobs until cancelled."""
        try:
            while True:
                free = CAPACITY - len(self._running)
                jobs: list[Job] = []
                if free > 0:
                    self._wake.clear()
                    try:
                        jobs = await self._claim(free)
                    except Exception:
                        log.exception("claiming inbound jobs failed")
                for job in jobs:
                    task = asyncio.create_task(self._run_job(job))
                    self._running.add(task)
                    task.add_done_callback(self._job_done)
                if not jobs or len(jobs) == free:
                    await self._idle()
        finally:
            for task in self._running:
                task.cancel()
            await asyncio.gather(*self._running, return_exceptions=True)

    async def _claim(self, limit: int) -> list[Job]:
        """Due jobs nobody holds; an empty queue costs a read, not a write transaction."""
        due = await self.queue.next_due(INBOUND)
        now = self.clock()
        if due is None or due > now:
            return []
        return await self.queue.claim(INBOUND, self.owner, now, self.lease_seconds, limit)

    def _job_done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wake.set()

    async def _idle(self) -> None:
        """Wait for a wake-up, the next due job, or the poll interval."""
        timeout = POLL_SECONDS
        with contextlib.suppress(Exception):
            due = await self.queue.next_due(INBOUND)
            now = self.clock()
            if due is not None and due > now:  # a retry falls due (earlier ones are held)
                timeout = min(timeout, due - now)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def _run_job(self, job: Job) -> None:
        keeper = asyncio.create_task(self._keep_lease(job))
        try:
            done = await self.deliver(job)
        except Exception:
            log.exception("inbound job %s failed; it will be tried again", job.id)
            done = False
        finally:
            keeper.cancel()
        try:
            if done:
                await self.queue.complete(job)
            else:
                await self.queue.retry(job, self.clock() + retry_delay(job.attempts))
        except Exception:
            log.exception("inbound job %s: the queue could not be updated", job.id)

    async def _keep_lease(self, job: Job) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            if await self.queue.renew(job, self.clock(), self.lease_seconds) is None:
                log.warning("inbound job %s: lease lost", job.id)
                return

    async def deliver(self, job: Job) -> bool:
        """File the job's message into each recipient account; False: try again later."""
        payload = job.payload
        blob_id = payload["blobId"]
        octets = await self.services.blobs.get(blob_id)
        if octets is None:
            log.error("inbound job %s: its message (blob %s) is gone; dropped", job.id, blob_id)
            return True
        if await consume_feedback(self.services, job, octets, self.clock()):
            return True  # a feedback report about our mail: recorded, not filed
        try:
            model = await self.services.workers.run(WORKER_OWNER, email_tasks.parse, octets, False)
        except BudgetExceeded:
            log.warning(
                "inbound job %s: the message could not be parsed in time (attempt %d); "
                "it stays queued",
                job.id,
                job.attempts + 1,
            )
            return False
        assert model is not None
        accounts = list(dict.fromkeys(r["accountId"] for r in payload["recipients"]))
        holder = payload["recipients"][0]["accountId"] if payload["recipients"] else None
        if holder is not None:  # the holder last, so the blob stays held until the end
            accounts.remove(holder)
            accounts.append(holder)
        for account_id in accounts:
            release = account_id == holder
            try:
                await rerun_on_conflict(
                    lambda a=account_id, r=release: self._file(job, a, model, r), {}
                )
            except NotFoundError:
                log.warning("inbound job %s: account %s is gone", job.id, account_id)
        await release_hold(self.services, job)
        await self._after_delivery(job, octets)
        return True

    async def _after_delivery(self, job: Job, octets: bytes) -> None:
        """A bounce for one of our submissions updates it; anyone else may be answered by
        the recipient's vacation response. Neither may undo the delivery: failures are
        logged."""
        payload, now = job.payload, self.clock()
        mail_from = payload.get("mailFrom") or ""
        for recipient in payload["recipients"]:
            try:
                if not mail_from:  # DSNs come from the null sender (RFC 3464 §2)
                    await record_bounce(self.services, recipient["address"], octets, now)
                else:
                    await reply_if_away(
                        self.services,
                        recipient["accountId"],
                        recipient["address"],
                        octets,
                        mail_from,
                        now,
                    )
            except Exception:
                log.exception("inbound job %s: after-delivery step failed", job.id)

    async def _file(self, job: Job, account_id: str, model: dict[str, Any], release: bool) -> None:
        payload = job.payload
        blob_id = payload["blobId"]
        role, name = FOLDERS.get(payload.get("folder"), FOLDERS["inbox"])
        async with self.services.write(account_id) as tx:
            if release:
                await tx.remove_blob_refs(HOLD_PREFIX + job.id)
            if blob_id in await self.mail.emails_with_blobs(account_id, [blob_id]):
                return  # delivered before a crash, or by a worker whose lease lapsed
            mailbox_id = await self._mailbox(tx, role, name)
            keywords = {"$junk": True} if role == "junk" else {}
            writer = EmailWriter(tx, self.mail)
            received = utc_date(payload.get("receivedAt") or self.clock())
            await writer.create(model, blob_id, {mailbox_id: True}, keywords, received, True)
            await writer.finish()

    async def _mailbox(self, tx: Transaction, role: str, name: str) -> str:
        """The account's Mailbox with ``role``; else a top-level one named ``name``; else
        a new top-level ``name`` with the role."""
        key = (tx.account_id, role)
        cached = self._mailboxes.get(key)
        if cached is not None:
            doc = (await tx.get(MailboxType.name, [cached])).get(cached)
            if doc is not None and doc.get("role") == role:
                return cached
        boxes = await tx.all(MailboxType.name)
        found = [b for b in boxes if b.get("role") == role] or [
            b
            for b in boxes
            if b.get("parentId") is None and b["name"].casefold() == name.casefold()
        ]
        if found:
            mailbox_id = found[0]["id"]
            if found[0].get("role") == role:
                self._mailboxes[key] = mailbox_id
        else:
            (mailbox_id,) = await tx.new_ids(MailboxType.id_prefix, 1)
            doc = {
                "id": mailbox_id,
                "name": name,
                "parentId": None,
                "role": role,
                "sortOrder": 1 if role == "inbox" else 5,
                "isSubscribed": True,
            }
            await tx.create(MailboxType.name, doc)
            self._mailboxes[key] = mailbox_id
        return mailbox_id
