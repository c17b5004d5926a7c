"""Housekeeping over real embedded stores: expired uploads and orphaned blobs go."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from jmap.housekeeping import sweep_orphan_blobs
from jmap.store.files import FileBlobStore
from jmap.store.sqlite import SqliteDataStore


def test_sweep_removes_only_old_blobs_nobody_holds(tmp_path: Path):
    async def main() -> None:
        data = SqliteDataStore(tmp_path / "fulmar.db")
        await data.open()
        blobs = FileBlobStore(tmp_path / "blobs")
        try:
            account = await data.create_principal("a@example.com", "h", "a")
            uploaded = await blobs.put(b"uploaded")
            await data.add_upload(account.id, uploaded, 8, time.time() + 3600)
            referenced = await blobs.put(b"referenced")
            async with data.transaction(account.id) as tx:
                await tx.create("Email", {"id": "e1"})
                await tx.add_blob_refs([(referenced, "e1")])
            orphan = await blobs.put(b"a write whose transaction failed")
            await asyncio.sleep(0.05)
            cutoff = time.time()
            await asyncio.sleep(0.05)
            young_orphan = await blobs.put(b"still being written")

            assert await sweep_orphan_blobs(data, blobs, cutoff) == 1
            assert await blobs.get(orphan) is None
            for kept in (uploaded, referenced, young_orphan):
                assert await blobs.get(kept) is not None
        finally:
            await data.close()

    asyncio.run(main())
