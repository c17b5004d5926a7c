"""Periodic clean-up: expired uploads, orphaned blobs, old change-log entries.

It runs on the nodes with the worker role, once an hour across all of them: a node runs
it only while it holds the named lease ``housekeeping`` of the data role (``Housekeeper``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from .services import Services
from .store.base import BlobStore, DataStore
from .store.jobs import JobQueue

log = logging.getLogger("fulmar.housekeeping")

#: an orphaned blob written again this recently may belong to an upload under way
UPLOAD_RACE_SECONDS = 60
#: blobs nothing holds are swept once this old (a write whose transaction failed leaves one)
ORPHAN_AGE_SECONDS = 24 * 3600
INTERVAL_SECONDS = 3600
#: the named lease whose holder also lists every blob (for those the journal missed): weekly
FULL_SWEEP_LEASE = "orphan-sweep-full"
FULL_SWEEP_SECONDS = 7 * 24 * 3600
#: journal entries looked at per round of the sweep
JOURNAL_BATCH = 1000


#: the named lease (``JobQueue.take_lease``) whose holder runs the clean-up
LEASE = "housekeeping"
#: how often a node asks for the lease
POLL_SECONDS = 60.0


class Housekeeper:
    """Runs ``work`` when no node ran it within ``interval``.

    The schedule is the named lease ``housekeeping`` in the data role: the node that takes
    it holds it for the whole interval and runs the clean-up once; the others find it taken
    until it lapses. A node that dies while cleaning up leaves the lease to lapse too, so the
    next run comes an interval after the one that failed began, as for a run that failed.
    ``clock`` gives the lease's time (injected by tests, like the job queue's ``now``).
    """

    def __init__(
        self,
        jobs: JobQueue,
        owner: str,
        work: Callable[[], Awaitable[None]],
        clock: Callable[[], float] = time.time,
        interval: float = INTERVAL_SECONDS,
    ) -> None:
        self.jobs, self.owner, self.work, self.clock = jobs, owner, work, clock
        self.interval = interval

    async def step(self) -> bool:
        """Run the clean-up if the lease is free; True if it ran here (even if it failed)."""
        if not await self.jobs.take_lease(LEASE, self.owner, self.clock(), self.interval):
            return False
        try:
            await self.work()
        except Exception:  # logged; the next try is the next interval's (another node's)
            log.exception("housekeeping failed")
        return True

    async def run(self) -> None:
        """``step`` every POLL_SECONDS, until cancelled."""
        while True:
            try:
                await self.step()
            except Exception:  # the data role is unreachable: try again later
                log.exception("housekeeping: cannot take its lease")
            await asyncio.sleep(POLL_SECONDS)


async def housekeeping(services: Services, owner: str) -> None:
    """Run ``hourly_clean_up`` once an hour across the nodes that call this, until
    cancelled."""

    async def work() -> None:
        await hourly_clean_up(services, owner, time.time())

    await Housekeeper(services.data.jobs, owner, work).run()


async def hourly_clean_up(services: Services, owner: str, now: float) -> None:
    """``clean_up``, listing the whole blob store too when this node takes the weekly lease
    (``FULL_SWEEP_LEASE``): once a week across the nodes."""
    jobs = services.data.jobs
    full = await jobs.take_lease(FULL_SWEEP_LEASE, owner, now, FULL_SWEEP_SECONDS)
    await clean_up(services, full_sweep=full)


async def clean_up(services: Services, full_sweep: bool = False) -> None:
    data, blobs = services.data, services.blobs
    started = time.time()
    for blob_id in await data.expired_uploads(started):
        await blobs.delete(blob_id, written_before=started - UPLOAD_RACE_SECONDS)
    swept = await sweep_journalled_blobs(data, blobs, started - ORPHAN_AGE_SECONDS)
    if full_sweep:
        swept += await sweep_orphan_blobs(data, blobs, started - ORPHAN_AGE_SECONDS)
    retention = services.config.changes_retention_days * 86400
    await data.prune_changes(started - retention)
    log.info("housekeeping done: %d orphaned blobs removed", swept)


async def sweep_journalled_blobs(
    data: DataStore, blobs: BlobStore, written_before: float, batch: int = JOURNAL_BATCH
) -> int:
    """Delete the blobs of the write journal (``store.blob_journal``) last written before
    ``written_before`` that no account holds, and forget their entries; reads only what was
    written since the last sweep, never the whole blob store. Returns how many went.

    Each round forgets every entry it read (one written again meanwhile has a later time
    and is neither read again nor forgotten), so the loop ends.
    """
    removed = 0
    while ids := await data.blob_writes_before(written_before, batch):
        held = await data.blobs_held(ids)
        for blob_id in ids:
            if blob_id not in held:
                await blobs.delete(blob_id, written_before=written_before)
                removed += 1
        await data.forget_blob_writes(ids, written_before)
    return removed


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
