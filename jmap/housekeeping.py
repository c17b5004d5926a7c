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


async def housekeeping(services: Services) -> None:
    """Run ``clean_up`` now and every hour, until cancelled."""
    while True:
        try:
            await clean_up(services)
        except Exception:
            log.exception("housekeeping failed")
        await asyncio.sleep(INTERVAL_SECONDS)


async def clean_up(services: Services) -> None:
    data, blobs = services.data, services.blobs
    started = time.time()
    for blob_id in await data.expired_uploads(started):
        await blobs.delete(blob_id, written_before=started - UPLOAD_RACE_SECONDS)
    await sweep_orphan_blobs(data, blobs, started - ORPHAN_AGE_SECONDS)
    retention = services.config.changes_retention_days * 86400
    await data.prune_changes(started - retention)


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
