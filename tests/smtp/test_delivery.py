"""The delivery worker and the message checks, in process: the real listener, data store,
blob store and worker pool on this test's event loop, with a clock the test controls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import aiosmtplib
import pytest

from jmap.config import Config, Limits
from jmap.provision import add_account
from jmap.services import Services
from jmap.store.factory import open_data_store
from jmap.store.files import FileBlobStore
from jmap.workers import BudgetExceeded, WorkerPool
from methods.mailbox import MailboxType
from push.bus import InProcessBus
from smtp_gateway.checks import MessageChecks, Verdict
from smtp_gateway.delivery import CAPACITY, RETRY_BASE_SECONDS, DeliveryWorker, retry_delay
from smtp_gateway.inbound import InboundHandler
from smtp_gateway.listener import SmtpListener
from smtp_gateway.parse_batch import parse_all
from smtp_gateway.queues import HOLD_PREFIX, INBOUND
from smtp_gateway.recipients import RecipientResolver
from tests.smtp.smtpkit import message

ALICE, BOB = "alice@example.com", "bob@example.com"
LEASE = 60.0


async def accept_all(raw: bytes, *, client_ip: str, helo: str, mail_from: str) -> Verdict:
    """Checks that add nothing and accept everything (the delivery tests' default)."""
    return Verdict()


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    services: Services
    listener: SmtpListener
    clock: Clock
    accounts: dict[str, str]

    @property
    def data(self):
        return self.services.data

    def worker(self, owner: str) -> DeliveryWorker:
        return DeliveryWorker(self.services, LEASE, owner=owner, clock=self.clock)

    async def send(self, raw: bytes, to: list[str]) -> str:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=self.listener.port, start_tls=False)
        async with client:
            _, reply = await client.sendmail("someone@remote.example", to, raw)
        return reply

    async def emails(self, login: str) -> list[dict]:
        _, docs = await self.data.get(self.accounts[login], "Email", None)
        return docs

    async def mailboxes(self, login: str) -> dict[str, dict]:
        _, docs = await self.data.get(self.accounts[login], MailboxType.name, None)
        return {d["id"]: d for d in docs}


class OverBudget:
    """The real worker pool, except that a parse of a message containing ``marker`` runs
    past any budget: it raises ``BudgetExceeded`` as the pool does when it stops a task."""

    def __init__(self, pool: WorkerPool, marker: bytes) -> None:
        self.pool = pool
        self.marker = marker
        self.batches: list[int] = []  # the size of each parse_all call, in order

    async def run(self, owner, fn, *args):
        if fn is parse_all:
            self.batches.append(len(args[0]))
            if any(self.marker in octets for octets in args[0]):
                raise BudgetExceeded("parse_all stopped: over budget")
        return await self.pool.run(owner, fn, *args)


@asynccontextmanager
async def rig(tmp_path: Path, checks: MessageChecks = accept_all) -> AsyncIterator[Rig]:
    config = replace(
        Config(),
        data_dir=tmp_path,
        smtp_hostname="mx.example.com",
        limits=Limits(max_size_email=100_000),
    )
    data = open_data_store(config.database_path)
    await data.open()
    accounts = {login: (await add_account(data, login, "password123")).id for login in (ALICE, BOB)}
    workers = WorkerPool(1, 30.0)
    workers.start()
    services = Services(config, data, FileBlobStore(config.blob_dir), InProcessBus(), workers)
    clock = Clock()
    handler = InboundHandler(
        data=data,
        blobs=services.blobs,
        resolver=RecipientResolver(data),
        checks=checks,
        hostname="mx.example.com",
        max_recipients=100,
        clock=clock,
    )
    listener = SmtpListener(
        replace(config, smtp_listen="127.0.0.1:0"), handler, "mx.example.com", None
    )
    await listener.start()
    try:
        yield Rig(services, listener, clock, accounts)
    finally:
        await listener.stop()
        await workers.close()
        await data.close()


def test_a_redone_job_delivers_nothing_twice(tmp_path):
    async def go():
        async with rig(tmp_path) as r:
            await r.send(message("once only"), [ALICE, "alice+x@example.com", BOB])
            (job,) = await r.data.jobs.claim(INBOUND, "a", r.clock(), LEASE, 10)
            worker = r.worker("a")
            assert await worker.deliver(job)
            # a crash here (before complete) makes the job run again, here or elsewhere
            assert await worker.deliver(job)
            assert [e["subject"] for e in await r.emails(ALICE)] == ["once only"]
            assert [e["subject"] for e in await r.emails(BOB)] == ["once only"]
            assert await r.data.jobs.complete(job)
            assert await r.data.jobs.pending(INBOUND) == 0
            # the blob is held by the Emails now, no longer by the queue's ref
            blob = job.payload["blobId"]
            assert await r.data.blobs_held([blob]) == {blob}
            refs = await r.data.read(
                lambda c: c.execute(
                    "SELECT ref FROM blob_refs WHERE blob_id = ?", (blob,)
                ).fetchall()
            )
            assert not [ref for (ref,) in refs if ref.startswith(HOLD_PREFIX)]

    asyncio.run(go())


def test_a_queued_message_is_held_from_the_orphan_sweep(tmp_path):
    async def go():
        async with rig(tmp_path) as r:
            await r.send(message("held"), [BOB])
            (job,) = await r.data.jobs.claim(INBOUND, "a", r.clock(), LEASE, 10)
            blob = job.payload["blobId"]
            assert await r.data.blobs_held([blob]) == {blob}

    asyncio.run(go())


def test_a_lapsed_lease_lets_another_worker_deliver(tmp_path):
    async def go():
        async with rig(tmp_path) as r:
            await r.send(message("taken over"), [ALICE])
            (held,) = await r.data.jobs.claim(INBOUND, "dead-node", r.clock(), LEASE, 10)
            # the worker that holds it dies; until the lease lapses nobody else takes it
            r.clock.now += LEASE / 2
            assert await r.data.jobs.claim(INBOUND, "b", r.clock(), LEASE, 10) == []
            r.clock.now += LEASE
            worker = r.worker("b")
            task = asyncio.create_task(worker.run())
            try:
                while await r.data.jobs.pending(INBOUND):
                    await asyncio.sleep(0.02)
            finally:
                task.cancel()
            assert [e["subject"] for e in await r.emails(ALICE)] == ["taken over"]
            # the dead worker's lease is worth nothing now
            assert not await r.data.jobs.complete(held)

    asyncio.run(go())


def test_the_worker_delivers_what_is_queued_and_creates_a_missing_inbox(tmp_path):
    async def go():
        async with rig(tmp_path) as r:
            bob = r.accounts[BOB]
            async with r.services.write(bob) as tx:  # Bob's mailboxes lose their roles
                for doc in await tx.all(MailboxType.name):
                    await tx.update(MailboxType.name, {**doc, "role": None}, {"role"})
                inbox = next(d for d in await tx.all(MailboxType.name) if d["name"] == "Inbox")
                await tx.destroy(MailboxType.name, inbox["id"])
            worker = r.worker("w")
            r.listener.handler.on_queued = worker.wake
            task = asyncio.create_task(worker.run())
            try:
                await r.send(message("where to?"), [BOB])
                while not await r.emails(BOB):
                    await asyncio.sleep(0.02)
            finally:
                task.cancel()
            (email,) = await r.emails(BOB)
            boxes = await r.mailboxes(BOB)
            (box,) = [boxes[m] for m in email["mailboxIds"]]
            assert (box["name"], box["role"], box["parentId"]) == ("Inbox", "inbox", None)
            assert email["receivedAt"] == "2027-01-15T08:00:00Z"

    asyncio.run(go())


def test_quarantine_goes_to_junk_and_reject_is_550(tmp_path):
    seen = []

    async def checks(raw: bytes, *, client_ip: str, helo: str, mail_from: str) -> Verdict:
        seen.append((client_ip, helo, mail_from))
        header = "Authentication-Results: mx.example.com; spf=fail smtp.mailfrom=x\r\n"
        if b"Subject: spam" in raw:
            return Verdict(header, "quarantine")
        if b"Subject: forged" in raw:
            return Verdict(header, "reject")
        return Verdict(header, "accept")

    async def go():
        async with rig(tmp_path, checks) as r:
            await r.send(message("spam"), [ALICE])
            with pytest.raises(aiosmtplib.SMTPDataError) as refused:
                await r.send(message("forged"), [ALICE])
            assert (refused.value.code, refused.value.message[:6]) == (550, "5.7.1 ")
            await r.send(message("fine"), [ALICE])
            jobs = await r.data.jobs.claim(INBOUND, "w", r.clock(), LEASE, 10)
            assert sorted(j.payload["folder"] for j in jobs) == ["inbox", "junk"]
            worker = r.worker("w")
            for job in jobs:
                assert await worker.deliver(job)
            boxes = await r.mailboxes(ALICE)
            where = {
                e["subject"]: boxes[next(iter(e["mailboxIds"]))]["role"]
                for e in await r.emails(ALICE)
            }
            assert where == {"spam": "junk", "fine": "inbox"}
            spam = next(e for e in await r.emails(ALICE) if e["subject"] == "spam")
            assert spam["keywords"] == {"$junk": True}
            stored = await r.services.blobs.get(spam["blobId"])
            head = stored.split(b"\r\n\r\n")[0].split(b"\r\n")
            assert head[0].startswith(b"Return-Path: ")
            assert head[1].startswith(b"Received: from ")
            auth = next(
                i for i, line in enumerate(head) if line.startswith(b"Authentication-Results")
            )
            assert head[auth - 1].startswith(b"\t") and head[auth + 1].startswith(b"From: ")
        assert seen[0] == ("127.0.0.1", seen[0][1], "someone@remote.example")

    asyncio.run(go())


def test_a_message_that_cannot_be_parsed_in_time_stays_queued(tmp_path):
    async def go():
        async with rig(tmp_path) as r:
            pool = r.services.workers = OverBudget(r.services.workers, b"slow to parse")
            await r.send(message("slow to parse"), [ALICE])
            r.clock.now += 1  # claimed in this order
            await r.send(message("quick to parse"), [ALICE])
            slow, quick = await r.data.jobs.claim(INBOUND, "w", r.clock(), LEASE, 10)
            worker = r.worker("w")
            assert not await worker.deliver(slow)
            assert pool.batches == [1]
            # in one batch: the chunk is over budget, so each message is parsed on its own
            # and only the slow one stays queued
            await asyncio.create_task(worker._run_batch([slow, quick]))
            assert pool.batches == [1, 2, 1, 1]
            assert [e["subject"] for e in await r.emails(ALICE)] == ["quick to parse"]
            assert await r.data.jobs.pending(INBOUND) == 1
            assert await r.data.jobs.next_due(INBOUND) == r.clock() + RETRY_BASE_SECONDS
            assert await r.data.jobs.claim(INBOUND, "w", r.clock(), LEASE, 10) == []
            r.clock.now += RETRY_BASE_SECONDS
            (again,) = await r.data.jobs.claim(INBOUND, "w", r.clock(), LEASE, 10)
            assert again.id == slow.id and again.attempts == 1
        assert [retry_delay(n) for n in range(3)] == [30.0, 60.0, 120.0]
        assert retry_delay(100) == 3600.0

    asyncio.run(go())


def test_garbage_still_lands(tmp_path):
    async def go():
        async with rig(tmp_path) as r:
            raw = bytes(range(256)).replace(b"\r", b"").replace(b"\n", b"") + b"\r\n"
            await r.send(raw * 3, [ALICE])
            (job,) = await r.data.jobs.claim(INBOUND, "w", r.clock(), LEASE, 10)
            assert await r.worker("w").deliver(job)
            (email,) = await r.emails(ALICE)
            assert (await r.services.blobs.get(email["blobId"])).endswith(raw * 3)

    asyncio.run(go())


def test_gone_accounts_and_blobs_are_skipped(tmp_path):
    async def go():
        async with rig(tmp_path) as r:
            await r.send(message("to nobody now"), [ALICE, BOB])
            (job,) = await r.data.jobs.claim(INBOUND, "w", r.clock(), LEASE, 10)
            await r.data.remove_principal(BOB)
            assert await r.worker("w").deliver(job)
            assert [e["subject"] for e in await r.emails(ALICE)] == ["to nobody now"]
            await r.services.blobs.delete(job.payload["blobId"])
            assert await r.worker("w").deliver(job)  # logged and dropped

    asyncio.run(go())


def hold_refs(r: Rig, blob_ids: list[str]):
    marks = ",".join("?" * len(blob_ids))

    async def read() -> list[str]:
        rows = await r.data.read(
            lambda c: c.execute(
                f"SELECT ref FROM blob_refs WHERE blob_id IN ({marks})", blob_ids
            ).fetchall()
        )
        return [ref for (ref,) in rows if ref.startswith(HOLD_PREFIX)]

    return read()


def test_a_batch_files_each_message_once_per_account_and_releases_every_hold(tmp_path):
    async def go():
        async with rig(tmp_path) as r:
            await r.send(message("gone"), [ALICE])
            (gone,) = await r.data.jobs.claim(INBOUND, "w", r.clock(), LEASE, 10)
            await r.services.blobs.delete(gone.payload["blobId"])  # logged and dropped
            await r.send(message("to both"), [BOB, ALICE])  # Bob holds it: filed last there
            await r.send(message("to alice"), [ALICE])
            await r.send(message("to bob"), [BOB])
            jobs = [gone, *await r.data.jobs.claim(INBOUND, "w", r.clock(), LEASE, 10)]
            assert len(jobs) == 4
            worker = r.worker("w")
            assert await worker.deliver_many(jobs) == {j.id: True for j in jobs}
            # redone (a crash before complete): nothing twice
            assert await worker.deliver_many(jobs) == {j.id: True for j in jobs}
            alice = sorted(e["subject"] for e in await r.emails(ALICE))
            bob = sorted(e["subject"] for e in await r.emails(BOB))
            assert (alice, bob) == (["to alice", "to both"], ["to bob", "to both"])
            assert await hold_refs(r, [j.payload["blobId"] for j in jobs[1:]]) == []
            boxes = await r.mailboxes(ALICE)
            for email in await r.emails(ALICE):
                (box,) = [boxes[m] for m in email["mailboxIds"]]
                assert box["role"] == "inbox"

    asyncio.run(go())


def test_a_job_that_fails_in_a_batch_is_retried_alone_and_keeps_its_hold(tmp_path):
    async def go():
        async with rig(tmp_path) as r:
            await r.send(message("fine"), [ALICE])
            await r.send(message("breaks"), [ALICE, BOB])
            jobs = await r.data.jobs.claim(INBOUND, "w", r.clock(), LEASE, 10)
            fine, breaks = sorted(jobs, key=lambda j: len(j.payload["recipients"]))
            # a receivedAt the writer cannot take: filing it raises, for Bob first
            breaks.payload["receivedAt"] = "not a time"
            worker = r.worker("w")
            assert await worker.deliver_many(jobs) == {fine.id: True, breaks.id: False}
            assert [e["subject"] for e in await r.emails(ALICE)] == ["fine"]
            assert await hold_refs(r, [breaks.payload["blobId"]]) == [HOLD_PREFIX + breaks.id]

    asyncio.run(go())


def test_a_handed_off_job_is_born_leased_and_delivered_from_memory(tmp_path):
    async def go():
        async with rig(tmp_path) as r:
            worker = r.worker("local")
            r.listener.handler.handoff = worker
            await r.send(message("handed"), [ALICE])
            # committed already leased to the local worker: nobody else may claim it
            assert await r.data.jobs.pending(INBOUND) == 1
            assert await r.data.jobs.claim(INBOUND, "other", r.clock(), LEASE, 10) == []
            ((job, octets),) = worker._handed.values()
            await r.services.blobs.delete(job.payload["blobId"])  # so a read would find none
            task = asyncio.create_task(worker.run())
            try:
                while await r.data.jobs.pending(INBOUND):
                    await asyncio.sleep(0.02)
            finally:
                task.cancel()
            assert [e["subject"] for e in await r.emails(ALICE)] == ["handed"]
            assert b"handed" in octets

    asyncio.run(go())


def test_handoffs_stop_when_the_worker_has_enough_in_hand(tmp_path):
    async def go():
        async with rig(tmp_path) as r:
            worker = r.worker("local")
            r.listener.handler.handoff = worker
            for n in range(CAPACITY + 1):
                await r.send(message(f"m{n}"), [BOB])
            assert len(worker._handed) == CAPACITY
            # the one past it waits in the queue unleased, for any worker's claim
            (free,) = await r.data.jobs.claim(INBOUND, "other", r.clock(), LEASE, 10)
            assert free.id not in worker._handed
            # a lapsed handoff is claimed like any job (the worker died before running it)
            r.clock.now += LEASE + 1
            taken = await r.data.jobs.claim(INBOUND, "other", r.clock(), LEASE, 100)
            assert len(taken) == CAPACITY + 1

    asyncio.run(go())
