"""Periodic clean-up: expired uploads, orphaned blobs, old change-log entries.

It runs on the nodes with the worker role, once an hour across all of them: the schedule
is one job of the job queue (queue ``housekeeping``, a fixed id), which the node that runs
the clean-up holds by its lease (renewed while it runs) and then hands back due an hour
later. A node that dies while cleaning lets the lease lapse and another takes it over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from .services import Services
from .store.base import BlobStore, DataStore
from .store.jobs import Job, JobQueue

log = logging.getLogger("fulmar.housekeeping")

#: an orphaned blob written again this recently may belong to an upload under way
UPLOAD_RACE_SECONDS = 60
#: blobs nothing holds are swept once this old (a write whose transaction failed leaves one)
ORPHAN_AGE_SECONDS = 24 * 3600
INTERVAL_SECONDS = 3600


QUEUE = "housekeeping"
JOB_ID = "clean-up"
#: how long a node holds the clean-up before another may take it (renewed every third)
LEASE_SECONDS = 600.0
#: how often a node looks whether the clean-up fell due (or its holder died)
POLL_SECONDS = 60.0


class Housekeeper:
    """Runs ``work`` when the shared schedule says so and no other node holds it.

    ``clock`` gives the schedule's time (injected by tests, like the job queue's ``now``).
    """

    def __init__(
        self,
        jobs: JobQueue,
        owner: str,
        work: Callable[[], Awaitable[None]],
        clock: Callable[[], float] = time.time,
        interval: float = INTERVAL_SECONDS,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.jobs, self.owner, self.work, self.clock = jobs, owner, work, clock
        self.interval, self.lease_seconds = interval, lease_seconds

    async def step(self) -> bool:
        """Run the clean-up if it is due and free; True if it ran here (even if it failed).

        A node cancelled while cleaning up (shut down, or dead) keeps the lease until it
        lapses; then another node runs it."""
        now = self.clock()
        # the first node ever makes the schedule, due at once; later enqueues change nothing
        await self.jobs.enqueue(QUEUE, {}, due=now, job_id=JOB_ID)
        claimed = await self.jobs.claim(QUEUE, self.owner, now, self.lease_seconds)
        if not claimed:
            return False
        job = claimed[0]
        keeper = asyncio.create_task(self._keep_lease(job))
        try:
            await self.work()
        except Exception:  # logged; the next try is the next run (the node may be fine)
            log.exception("housekeeping failed")
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        # the next run is an interval after this one began, whoever holds the lease now
        if not await self.jobs.retry(job, due=now + self.interval):
            log.warning("housekeeping: the lease lapsed while cleaning up")
        return True

    async def _keep_lease(self, job: Job) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            renewed = await self.jobs.renew(job, self.clock(), self.lease_seconds)
            if renewed is None:
                return

    async def run(self) -> None:
        """``step`` now and then, until cancelled."""
        while True:
            try:
                await self.step()
            except Exception:
                log.exception("housekeeping failed")
            await asyncio.sleep(await self._pause())

    async def _pause(self) -> float:
        """Until the clean-up falls due, looking at least every POLL_SECONDS (a holder
        that died lets its lease lapse)."""
        try:
            due = await self.jobs.next_due(QUEUE)
        except Exception:
            return POLL_SECONDS
        if due is None:
            return 1.0
        return min(POLL_SECONDS, max(1.0, due - self.clock()))


async def housekeeping(services: Services, owner: str) -> None:
    """Run ``clean_up`` once an hour across the nodes that call this, until cancelled."""
    await Housekeeper(services.data.jobs, owner, lambda: clean_up(services)).run()


async def clean_up(services: Services) -> None:
    data, blobs = services.data, services.blobs
    started = time.time()
    for blob_id in await data.expired_uploads(started):
        await blobs.delete(blob_id, written_before=started - UPLOAD_RACE_SECONDS)
    swept = await sweep_orphan_blobs(data, blobs, started - ORPHAN_AGE_SECONDS)
    retention = services.config.changes_retention_days * 86400
    await data.prune_changes(started - retention)
    log.info("housekeeping done: %d orphaned blobs removed", swept)


async def sweep_orphan_blobs(data: DataStore, blobs: BlobStore, written_before: float) -> int:
    """Delete blobs that no account holds, last written before ``written_before``.

    Blobs are written before the transaction that references them commits, so a failed or
    interrupted write leaves bytes nobody holds; this finds them. Returns how many went.
    """
    removed = 0
    async for batch in blobs.written_before(written_before):
        held = await data.blobs_held(batch)
        for blob_id in batch:
            if blob_id not in held:
                await blobs.delete(blob_id, written_before=written_before)
                removed += 1
    return removed
