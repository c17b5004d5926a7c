"""Backpressure on SMTP intake: a transaction waits at MAIL FROM while the delivery backlog
is at its bound, goes on when it drains, and gets 451 4.3.2 when it does not in time.
The real listener, data store and delivery worker (the rig of test_delivery); the test
decides when the worker runs, so the order of events, not their timing, is checked."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import aiosmtplib
import pytest

from smtp_gateway.gateway import SmtpGateway
from smtp_gateway.inbound import INBOUND
from smtp_gateway.intake import IntakeGate
from tests.smtp.smtpkit import message
from tests.smtp.test_delivery import ALICE, BOB, LEASE, accept_all, rig


class Backlog:
    """A backlog the test sets by hand."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self) -> int:
        return self.size


async def until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.01)


def test_the_gate_lets_waiters_in_first_come_first_served_as_room_appears():
    async def go():
        backlog = Backlog(3)
        gate = IntakeGate(backlog, bound=3, max_wait=30)
        admitted: list[int] = []

        async def session(n: int) -> None:
            assert await gate.admit()
            admitted.append(n)

        tasks = [asyncio.create_task(session(n)) for n in range(3)]
        await until(lambda: gate.waiting == 3)
        gate.changed()  # no room yet: nobody goes in
        await asyncio.sleep(0)
        assert admitted == [] and gate.waiting == 3
        backlog.size = 1  # room for two
        gate.changed()
        await until(lambda: len(admitted) == 2)
        assert admitted == [0, 1] and gate.waiting == 1
        # a newcomer queues behind the one still waiting, though there is room again
        backlog.size = 2
        late = asyncio.create_task(session(3))
        await until(lambda: len(admitted) == 3)
        assert admitted == [0, 1, 2] and gate.waiting == 1
        backlog.size = 0
        gate.changed()
        await asyncio.gather(*tasks, late)
        assert admitted == [0, 1, 2, 3] and gate.waiting == 0

    asyncio.run(go())


def test_a_gate_without_a_bound_never_waits():
    async def go():
        gate = IntakeGate(Backlog(10**6), bound=0, max_wait=0)
        assert await gate.admit()

    asyncio.run(go())


def test_intake_waits_while_the_backlog_is_at_its_bound_and_resumes_when_it_drains(tmp_path):
    async def go():
        async with rig(tmp_path) as r:
            worker = r.worker("local")
            gate = IntakeGate(worker.backlog, bound=2, max_wait=600)
            worker.on_progress = gate.changed
            r.listener.handler.handoff = worker
            r.listener.handler.gate = gate
            for n in range(2):
                assert (await r.send(message(f"m{n}"), [ALICE])).startswith("2.0.0")
            assert worker.backlog() == 2
            third = asyncio.create_task(r.send(message("m2"), [BOB]))
            await until(lambda: gate.waiting == 1)
            # held at MAIL FROM: nothing of it stored or queued while the backlog is full
            assert not third.done()
            assert await r.data.jobs.pending(INBOUND) == 2
            assert await r.emails(BOB) == []
            run = asyncio.create_task(worker.run())  # delivery drains the backlog
            try:
                assert (await third).startswith("2.0.0")
                await until(lambda: worker.backlog() == 0)
                while await r.data.jobs.pending(INBOUND):
                    await asyncio.sleep(0.01)
            finally:
                run.cancel()
            assert sorted(e["subject"] for e in await r.emails(ALICE)) == ["m0", "m1"]
            assert [e["subject"] for e in await r.emails(BOB)] == ["m2"]

    asyncio.run(go())


def test_intake_answers_451_when_the_backlog_does_not_drain_in_time(tmp_path):
    async def go():
        async with rig(tmp_path) as r:
            worker = r.worker("local")  # never run: the backlog stays
            gate = IntakeGate(worker.backlog, bound=1, max_wait=0.2)
            worker.on_progress = gate.changed
            r.listener.handler.handoff = worker
            r.listener.handler.gate = gate
            await r.send(message("m0"), [ALICE])
            with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
                await r.send(message("m1"), [BOB])
            assert refused.value.code == 451
            assert refused.value.message.startswith("4.3.2 ")
            # refused before DATA: nothing stored, nothing queued, the backlog unchanged
            assert await r.data.jobs.pending(INBOUND) == 1
            assert worker.backlog() == 1 and gate.waiting == 0

    asyncio.run(go())


def test_the_gateway_gates_intake_only_where_its_delivery_worker_runs(tmp_path):
    async def go():
        async with rig(tmp_path) as r:
            r.services.config = replace(
                r.services.config,
                smtp_listen="127.0.0.1:0",
                smtp_intake_backlog=7,
                smtp_intake_max_wait_seconds=9.0,
            )
            gateway = SmtpGateway(r.services, checks=accept_all, clock=r.clock)
            await gateway.start_listeners()
            try:
                handler = gateway.listener.handler
                # listener only (an smtp-role node): jobs wait in the queue for any worker
                assert handler.handoff is None and handler.gate is None
                port = gateway.listener.port
                await aiosmtplib.send(
                    message("m0"),
                    hostname="127.0.0.1",
                    port=port,
                    sender="someone@remote.example",
                    recipients=[ALICE],
                    start_tls=False,
                )
                (job,) = await r.data.jobs.claim(INBOUND, "other", r.clock(), LEASE, 10)
                assert job.payload["recipients"][0]["address"] == ALICE
                gateway.start_workers()
                assert handler.handoff is gateway.delivery
                gate = handler.gate
                assert (gate.bound, gate.max_wait) == (7, 9.0)
                assert gate.backlog == gateway.delivery.backlog
                assert gateway.delivery.on_progress == gate.changed
            finally:
                await gateway.stop()

    asyncio.run(go())
