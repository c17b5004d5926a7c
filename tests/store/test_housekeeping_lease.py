"""Housekeeping runs once across worker nodes: its schedule is one leased job of the data
role's queue (jmap/housekeeping.py), on every data backend. The clock is the test's."""

from __future__ import annotations

import asyncio

from jmap.housekeeping import JOB_ID, QUEUE, Housekeeper
from jmap.store.base import DataStore


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def nodes(data: DataStore, clock: Clock, count: int = 2) -> tuple[list[Housekeeper], list[str]]:
    """``count`` housekeepers on one data store, each recording its runs in ``ran``."""
    ran: list[str] = []

    def keeper(name: str) -> Housekeeper:
        async def work() -> None:
            ran.append(name)

        return Housekeeper(data.jobs, name, work, clock=clock, interval=3600, lease_seconds=600)

    return [keeper(f"node{i}") for i in range(count)], ran


def test_two_nodes_clean_up_once_per_interval(run_data):
    async def body(data: DataStore):
        clock = Clock()
        (a, b), ran = nodes(data, clock)
        first = [await a.step(), await b.step()]
        clock.now += 3599  # not due yet, for either
        early = [await b.step(), await a.step()]
        clock.now += 1
        due = [await b.step(), await a.step()]
        return first, early, due, ran, await data.jobs.pending(QUEUE)

    first, early, due, ran, pending = run_data(body)
    assert first == [True, False]
    assert early == [False, False]
    assert due == [True, False]
    assert ran == ["node0", "node1"]
    assert pending == 1  # one schedule, whichever node started first


def test_a_node_that_dies_cleaning_up_is_replaced_once_its_lease_lapses(run_data):
    async def body(data: DataStore):
        clock = Clock()
        stuck = asyncio.Event()

        async def hang() -> None:
            stuck.set()
            await asyncio.Event().wait()  # the node dies here: it never hands the job back

        dying = Housekeeper(data.jobs, "dying", hang, clock=clock, lease_seconds=600)
        task = asyncio.create_task(dying.step())
        await stuck.wait()
        task.cancel()  # cancelled: its lease stays in the queue as it was
        await asyncio.gather(task, return_exceptions=True)
        (b,), ran = nodes(data, clock, 1)
        clock.now += 599
        before = await b.step()
        clock.now += 1
        after = await b.step()
        again = await b.step()
        return before, after, again, ran

    before, after, again, ran = run_data(body)
    assert (before, after, again) == (False, True, False)
    assert ran == ["node0"]


def test_a_failed_clean_up_hands_the_schedule_back(run_data):
    async def body(data: DataStore):
        clock = Clock()

        async def fail() -> None:
            raise RuntimeError("the blob store is down")

        broken = Housekeeper(data.jobs, "broken", fail, clock=clock, lease_seconds=600)
        failed = await broken.step()  # logged, not raised
        (b,), ran = nodes(data, clock, 1)
        clock.now += 599
        held = await b.step()  # the failed run counts as the hour's run
        clock.now += 3600 - 599
        return failed, held, await b.step(), ran, await data.jobs.next_due(QUEUE)

    failed, held, ran_here, ran, next_due = run_data(body)
    assert failed and not held and ran_here and ran == ["node0"]
    assert next_due == 1_000_000.0 + 7200


def test_the_schedule_is_the_fixed_job(run_data):
    async def body(data: DataStore):
        clock = Clock()
        (a,), _ = nodes(data, clock, 1)
        await a.step()
        # an ordinary claim of the queue does not see it before it is due again
        early = await data.jobs.claim(QUEUE, "x", clock.now + 3599, 60)
        (job,) = await data.jobs.claim(QUEUE, "x", clock.now + 3600, 60)
        return early, job.id

    early, job_id = run_data(body)
    assert early == [] and job_id == JOB_ID
