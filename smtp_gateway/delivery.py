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
completes. The blob ref that held the queued blob (``queues.HOLD_PREFIX``) is dropped in
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
from dataclasses import dataclass
from typing import Any

from jmap.ids import utc_date
from jmap.services import Services, rerun_on_conflict
from jmap.store.base import NotFoundError, Transaction
from jmap.store.jobs import Job
from jmap.store.mail import mail_index
from jmap.workers import BudgetExceeded
from methods.email_write import EmailWriter
from methods.mailbox import MailboxType

from .bounces import record_bounce
from .feedback import consume_feedback
from .parse_batch import parse_all
from .queues import HOLD_PREFIX, INBOUND, release_hold
from .vacation import reply_if_away

log = logging.getLogger("fulmar.smtp.delivery")

#: the worker pool's fair share is per owner: deliveries together get at most half of it
WORKER_OWNER = "smtp-delivery"
#: jobs delivered at once by one worker (in batches: one per claim)
CAPACITY = 64
#: while batches are being delivered, how long a claim waits for more jobs to gather (an
#: idle worker claims at once, so a message arriving alone is not delayed)
LINGER_SECONDS = 0.025
#: messages parsed in one call to the worker pool
PARSE_BATCH = 16
#: how often the queue is looked at when nothing wakes the worker (jobs of other nodes)
POLL_SECONDS = 1.0
#: retry delays: RETRY_BASE_SECONDS * 2**attempts, at most RETRY_MAX_SECONDS
RETRY_BASE_SECONDS = 30.0
RETRY_MAX_SECONDS = 3600.0
#: where mail goes: folder -> (role, name of the Mailbox created if the role is missing)
FOLDERS = {"inbox": ("inbox", "Inbox"), "junk": ("junk", "Junk")}


@dataclass(frozen=True, slots=True)
class _Filing:
    """One job's message for one of its accounts."""

    job: Job
    account_id: str
    model: dict[str, Any]
    release: bool


def _ids(items: list[Job] | list[_Filing]) -> str:
    return ", ".join(getattr(item, "job", item).id for item in items)


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
        #: jobs the listener enqueued leased to this worker, with their messages (``take``)
        self._handed: dict[str, tuple[Job, bytes]] = {}
        self._claimed_at = 0.0
        #: batches being delivered, and how many jobs each holds
        self._running: dict[asyncio.Task[None], int] = {}
        self._in_flight = 0
        #: called when the backlog shrank (a batch is done): the intake gate's ``changed``
        self.on_progress: Callable[[], None] = lambda: None
        #: (account, role) -> Mailbox id, checked again in each transaction
        self._mailboxes: dict[tuple[str, str], str] = {}

    def wake(self) -> None:
        """A job was queued: look at the queue now."""
        self._wake.set()

    def backlog(self) -> int:
        """Jobs in hand, accepted and not yet settled: handed over or being delivered."""
        return len(self._handed) + self._in_flight

    def lease(self) -> tuple[str, float] | None:
        """A lease of this worker for a job the listener is about to enqueue (``take``);
        None when ``CAPACITY`` jobs wait in memory already (the job then waits in the
        queue, unleased, for a claim)."""
        if len(self._handed) >= CAPACITY:
            return None
        return f"{self.owner}:{secrets.token_hex(8)}", self.clock() + self.lease_seconds

    def take(self, job: Job, octets: bytes) -> None:
        """Deliver ``job``, enqueued with a lease from ``lease``, with its message in hand:
        no claim and no blob read. Should this worker die first, the lease lapses and the
        job is claimed from the queue like any other."""
        self._handed[job.id] = (job, octets)
        self._wake.set()

    async def run(self) -> None:
        """Deliver jobs until cancelled: each claim is one batch, delivered together."""
        try:
            while True:
                free = CAPACITY - self._in_flight
                jobs: list[Job] = []
                known: dict[str, bytes] = {}
                if free > 0:
                    self._wake.clear()
                    for job_id in list(self._handed)[:free]:
                        job, known[job_id] = self._handed.pop(job_id)
                        jobs.append(job)
                # the queue too (other nodes' jobs, retries), at least every POLL_SECONDS
                # while handed jobs keep coming
                claim = not jobs or time.monotonic() - self._claimed_at >= POLL_SECONDS
                if free > len(jobs) and claim:
                    self._claimed_at = time.monotonic()
                    try:
                        jobs += await self._claim(free - len(jobs))
                    except Exception:
                        log.exception("claiming inbound jobs failed")
                if jobs:
                    task = asyncio.create_task(self._run_batch(jobs, known))
                    self._running[task] = len(jobs)
                    self._in_flight += len(jobs)
                    task.add_done_callback(self._batch_done)
                if not jobs or len(jobs) == free:
                    await self._idle()
                if self._running:  # busy: let more jobs gather into the next batch
                    await asyncio.sleep(LINGER_SECONDS)
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

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._in_flight -= self._running.pop(task, 0)
        self._wake.set()
        self.on_progress()

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

    async def _run_batch(self, jobs: list[Job], known: dict[str, bytes] | None = None) -> None:
        keeper = asyncio.create_task(self._keep_leases(jobs))
        try:
            done = await self.deliver_many(jobs, known)
        except Exception:
            log.exception("inbound jobs %s failed; they will be tried again", _ids(jobs))
            done = {}
        finally:
            keeper.cancel()
        # concurrent queue writes: the group commit makes them one transaction
        outcomes = await asyncio.gather(
            *(self._settle(job, done.get(job.id, False)) for job in jobs), return_exceptions=True
        )
        for job, outcome in zip(jobs, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                log.error("inbound job %s: the queue could not be updated: %r", job.id, outcome)

    async def _settle(self, job: Job, done: bool) -> None:
        if done:
            await self.queue.complete(job)
        else:
            await self.queue.retry(job, self.clock() + retry_delay(job.attempts))

    async def _keep_leases(self, jobs: list[Job]) -> None:
        held = list(jobs)
        while held:
            await asyncio.sleep(self.lease_seconds / 3)
            renewed = await asyncio.gather(
                *(self.queue.renew(job, self.clock(), self.lease_seconds) for job in held)
            )
            for job, again in zip(held, renewed, strict=True):
                if again is None:
                    log.warning("inbound job %s: lease lost", job.id)
            held = [job for job, again in zip(held, renewed, strict=True) if again is not None]

    async def deliver(self, job: Job) -> bool:
        """File the job's message into each recipient account; False: try again later."""
        return (await self.deliver_many([job]))[job.id]

    async def deliver_many(
        self, jobs: list[Job], known: dict[str, bytes] | None = None
    ) -> dict[str, bool]:
        """Deliver a batch of jobs (``known``: the messages of some, by job id); for each
        job id, whether it is done (False: try again later). The messages of one account
        are filed in one transaction (one flush, one push), each job's holder account
        last, so its blob stays held until the end."""
        prepared = await self._prepare(jobs, known or {})
        done = {job.id: ready is not False for job, ready in zip(jobs, prepared, strict=True)}
        ready = [(job, r) for job, r in zip(jobs, prepared, strict=True) if isinstance(r, tuple)]
        others: list[_Filing] = []
        holders: list[_Filing] = []
        for job, (_, model) in ready:
            holder = job.payload["recipients"][0]["accountId"]
            for account_id in dict.fromkeys(r["accountId"] for r in job.payload["recipients"]):
                filing = _Filing(job, account_id, model, account_id == holder)
                (holders if filing.release else others).append(filing)
        failed = await self._file_all(others)
        # a job that failed for one account keeps its hold: it is tried again whole
        failed |= await self._file_all([f for f in holders if f.job.id not in failed])
        for job_id in failed:
            done[job_id] = False
        delivered = [(job, octets) for job, (octets, _) in ready if job.id not in failed]
        await asyncio.gather(*(release_hold(self.services, job) for job, _ in delivered))
        await asyncio.gather(*(self._after_delivery(job, octets) for job, octets in delivered))
        return done

    async def _file_all(self, filings: list[_Filing]) -> set[str]:
        """File each account's messages in a transaction of its own, concurrently; the ids
        of the jobs that failed."""
        by_account: dict[str, list[_Filing]] = {}
        for filing in filings:
            by_account.setdefault(filing.account_id, []).append(filing)
        failed = await asyncio.gather(*(self._file_account(a, f) for a, f in by_account.items()))
        return set().union(*failed)

    async def _prepare(
        self, jobs: list[Job], known: dict[str, bytes]
    ) -> list[tuple[bytes, dict[str, Any]] | bool]:
        """Each job's message and its parsed model; True: nothing to deliver (dropped),
        False: try again later. Messages are parsed ``PARSE_BATCH`` to a worker call."""
        loaded = await asyncio.gather(*(self._load(job, known.get(job.id)) for job in jobs))
        found = [(i, octets) for i, octets in enumerate(loaded) if isinstance(octets, bytes)]
        prepared: list[tuple[bytes, dict[str, Any]] | bool] = [
            octets if isinstance(octets, bool) else False for octets in loaded
        ]
        chunks = [found[i : i + PARSE_BATCH] for i in range(0, len(found), PARSE_BATCH)]
        for chunk, models in zip(
            chunks, await asyncio.gather(*(self._parse(jobs, c) for c in chunks)), strict=True
        ):
            for (i, octets), model in zip(chunk, models, strict=True):
                prepared[i] = False if model is None else (octets, model)
        return prepared

    async def _load(self, job: Job, octets: bytes | None) -> bytes | bool:
        """The job's message; True: nothing to deliver (dropped, or a feedback report about
        our mail, recorded and not filed), False: try again later."""
        blob_id = job.payload["blobId"]
        try:
            if octets is None:
                octets = await self.services.blobs.get(blob_id)
            if octets is None:
                log.error("inbound job %s: its message (blob %s) is gone; dropped", job.id, blob_id)
                return True
            if await consume_feedback(self.services, job, octets, self.clock()):
                return True
        except Exception:
            log.exception("inbound job %s failed; it will be tried again", job.id)
            return False
        return octets if job.payload["recipients"] else True

    async def _parse(
        self, jobs: list[Job], chunk: list[tuple[int, bytes]]
    ) -> list[dict[str, Any] | None]:
        """The models of a chunk of messages, None for one to try again later: a chunk
        over the time budget is parsed again one message at a time, so only the slow
        message stays queued."""
        try:
            messages = [octets for _, octets in chunk]
            return await self.services.workers.run(WORKER_OWNER, parse_all, messages)
        except BudgetExceeded:
            if len(chunk) > 1:
                return [m for one in chunk for m in await self._parse(jobs, [one])]
            job = jobs[chunk[0][0]]
            log.warning(
                "inbound job %s: the message could not be parsed in time (attempt %d); "
                "it stays queued",
                job.id,
                job.attempts + 1,
            )
            return [None]

    async def _file_account(self, account_id: str, filings: list[_Filing]) -> set[str]:
        """One transaction for all; if it fails, each on its own, so that one message that
        cannot be filed does not hold back the others. The ids of the jobs that failed."""
        if len(filings) > 1:
            try:
                await rerun_on_conflict(lambda: self._file(account_id, filings), {})
                return set()
            except NotFoundError:
                log.warning("inbound jobs %s: account %s is gone", _ids(filings), account_id)
                return set()
            except Exception:
                log.exception("inbound jobs %s: filing together failed", _ids(filings))
        failed: set[str] = set()
        for filing in filings:
            try:
                await rerun_on_conflict(lambda f=filing: self._file(account_id, [f]), {})
            except NotFoundError:
                log.warning("inbound job %s: account %s is gone", filing.job.id, account_id)
            except Exception:
                log.exception("inbound job %s failed; it will be tried again", filing.job.id)
                failed.add(filing.job.id)
        return failed

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

    async def _file(self, account_id: str, filings: list[_Filing]) -> None:
        async with self.services.write(account_id) as tx:
            for filing in filings:
                if filing.release:
                    await tx.remove_blob_refs(HOLD_PREFIX + filing.job.id)
            blob_ids = [f.job.payload["blobId"] for f in filings]
            # delivered before a crash, or by a worker whose lease lapsed
            delivered = set(await self.mail.emails_with_blobs(account_id, blob_ids))
            writer = EmailWriter(tx, self.mail)
            mailboxes: dict[str, str] = {}
            for filing in filings:
                payload = filing.job.payload
                if payload["blobId"] in delivered:
                    continue
                delivered.add(payload["blobId"])  # the same message twice in one batch
                role, name = FOLDERS.get(payload.get("folder"), FOLDERS["inbox"])
                mailbox_id = mailboxes.get(role) or await self._mailbox(tx, role, name)
                mailboxes[role] = mailbox_id
                keywords = {"$junk": True} if role == "junk" else {}
                received = utc_date(payload.get("receivedAt") or self.clock())
                await writer.create(
                    filing.model, payload["blobId"], {mailbox_id: True}, keywords, received, True
                )
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
