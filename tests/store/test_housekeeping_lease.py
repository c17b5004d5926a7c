"""Named leases of the job queue role (``take_lease``), and housekeeping running once per
interval across worker nodes through one (jmap/housekeeping.py), on every data backend.
The clock is the test's."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from jmap import housekeeping
from jmap.housekeeping import LEASE, Housekeeper
from jmap.store.base import DataStore

T0 = 1_000_000.0


def test_a_lease_is_held_by_one_owner_until_it_lapses(run_data):
    async def body(data: DataStore):
        jobs = data.jobs
        return [
            await jobs.take_lease("sweep", "a", now=T0, seconds=60),
            await jobs.take_lease("sweep", "b", now=T0 + 1, seconds=60),
            await jobs.take_lease("sweep", "a", now=T0 + 59, seconds=60),  # not even by a
            await jobs.take_lease("other", "b", now=T0 + 1, seconds=60),  # names are apart
            await jobs.take_lease("sweep", "b", now=T0 + 60, seconds=60),  # lapsed: b's
            await jobs.take_lease("sweep", "a", now=T0 + 119, seconds=60),
        ]

    assert run_data(body) == [True, False, False, True, True, False]

    async def reopened(data: DataStore):  # leases are durable: a restart does not free one
        return [
            await data.jobs.take_lease("sweep", "c", now=T0 + 119, seconds=60),
            await data.jobs.take_lease("sweep", "c", now=T0 + 120, seconds=60),
        ]

    assert run_data(reopened) == [False, True]


def test_concurrent_takers_get_the_lease_once(run_data):
    async def body(data: DataStore):
        takes = [data.jobs.take_lease("race", f"n{i}", now=T0, seconds=60) for i in range(8)]
        return await asyncio.gather(*takes)

    assert sorted(run_data(body)) == [False] * 7 + [True]


def test_a_lease_leaves_the_job_queues_alone(run_data):
    async def body(data: DataStore):
        await data.jobs.take_lease(LEASE, "a", now=T0, seconds=60)
        return await data.jobs.pending(LEASE), await data.jobs.claim(LEASE, "a", T0, 60)

    assert run_data(body) == (0, [])


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def keepers(data: DataStore, clock: Clock, count: int = 2) -> tuple[list[Housekeeper], list]:
    """``count`` housekeepers on one data store, recording their runs in ``ran``."""
    ran: list[str] = []

    def keeper(name: str) -> Housekeeper:
        async def work() -> None:
            ran.append(name)

        return Housekeeper(data.jobs, name, work, clock=clock, interval=3600)

    return [keeper(f"node{i}") for i in range(count)], ran


def test_two_nodes_clean_up_once_per_interval(run_data):
    async def body(data: DataStore):
        clock = Clock()
        (a, b), ran = keepers(data, clock)
        first = [await a.step(), await b.step(), await a.step()]
        clock.now += 3599  # not due yet, for either (a, who ran it, included)
        early = [await b.step(), await a.step()]
        clock.now += 1
        due = [await b.step(), await a.step()]
        return first, early, due, ran

    first, early, due, ran = run_data(body)
    assert first == [True, False, False]
    assert early == [False, False]
    assert due == [True, False]
    assert ran == ["node0", "node1"]


def test_a_node_dying_while_cleaning_up_leaves_the_next_run_to_the_next_interval(run_data):
    async def body(data: DataStore):
        clock = Clock()
        stuck = asyncio.Event()

        async def hang() -> None:
            stuck.set()
            await asyncio.Event().wait()  # the node dies here

        dying = Housekeeper(data.jobs, "dying", hang, clock=clock, interval=3600)
        task = asyncio.create_task(dying.step())
        await stuck.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        (b,), ran = keepers(data, clock, 1)
        clock.now += 3599
        before = await b.step()
        clock.now += 1
        return before, await b.step(), ran

    assert run_data(body) == (False, True, ["node0"])


def test_a_failed_clean_up_is_logged_and_counts_as_the_intervals_run(run_data, caplog):
    async def body(data: DataStore):
        clock = Clock()

        async def fail() -> None:
            raise RuntimeError("the blob store is down")

        broken = Housekeeper(data.jobs, "broken", fail, clock=clock, interval=3600)
        failed = await broken.step()  # logged, not raised
        (b,), ran = keepers(data, clock, 1)
        held = await b.step()
        clock.now += 3600
        return failed, held, await b.step(), ran

    assert run_data(body) == (True, False, True, ["node0"])
    assert "the blob store is down" in caplog.text


def test_the_whole_blob_store_is_listed_once_a_week_across_nodes(run_data, monkeypatch):
    """Hourly clean-ups on two nodes: the weekly lease gives one of them, once a week, the
    sweep that lists every blob (the journal's sweep runs every hour)."""
    full_sweeps: list[tuple[str, bool]] = []

    async def recording_clean_up(services, full_sweep=False):
        full_sweeps.append((services.owner, full_sweep))

    monkeypatch.setattr(housekeeping, "clean_up", recording_clean_up)

    async def body(data: DataStore):
        hour = 3600.0
        for n in range(2 * 7 * 24):  # two weeks of hours, each node's turn alternating
            node = SimpleNamespace(data=data, owner=f"node-{n % 2}")
            await housekeeping.hourly_clean_up(node, node.owner, T0 + n * hour)

    run_data(body)
    assert len(full_sweeps) == 2 * 7 * 24
    assert [i for i, (_, full) in enumerate(full_sweeps) if full] == [0, 7 * 24]
