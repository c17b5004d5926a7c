"""Periodic clean-up: expired uploads, orphaned blobs, old change-log entries."""

from __future__ import annotations

import asyncio
import logging
import time

from .services import Services
from .store.base import BlobStore, DataStore

log = logging.getLogger("fulmar.housekeeping")

#: an orphaned blob written again this recently may belong to an upload under way
UPLOAD_RACE_SECONDS = 60
#: blobs nothing holds are swept once this old (a write whose transaction failed leaves one)
ORPHAN_AGE_SECONDS = 24 * 3600
INTERVAL_SECONDS = 3600
#: every this many runs, the orphan sweep lists every blob (for those the journal missed)
FULL_SWEEP_EVERY = 24 * 7
#: journal entries looked at per round of the sweep
JOURNAL_BATCH = 1000


async def housekeeping(services: Services) -> None:
    """Run ``clean_up`` now and every hour, until cancelled; a full sweep once a week."""
    runs = 0
    while True:
        runs += 1
        try:
            await clean_up(services, full_sweep=runs % FULL_SWEEP_EVERY == 0)
        except Exception:
            log.exception("housekeeping failed")
        await asyncio.sleep(INTERVAL_SECONDS)


async def clean_up(services: Services, full_sweep: bool = False) -> None:
    data, blobs = services.data, services.blobs
    started = time.time()
    for blob_id in await data.expired_uploads(started):
        await blobs.delete(blob_id, written_before=started - UPLOAD_RACE_SECONDS)
    await sweep_journalled_blobs(data, blobs, started - ORPHAN_AGE_SECONDS)
    if full_sweep:
        await sweep_orphan_blobs(data, blobs, started - ORPHAN_AGE_SECONDS)
    retention = services.config.changes_retention_days * 86400
    await data.prune_changes(started - retention)


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
