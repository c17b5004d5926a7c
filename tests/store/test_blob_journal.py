"""The blob write journal: the data role's record of recently written blobs (every data
backend), and the orphan sweep over it on every blob backend, never listing the store."""

from __future__ import annotations

import time
from pathlib import Path

from jmap.housekeeping import sweep_journalled_blobs
from jmap.store.base import BlobStore, DataStore
from jmap.store.blob_journal import JournalledBlobStore
from jmap.store.sqlite import SqliteDataStore

X = "G" + "a" * 64
Y = "G" + "b" * 64
Z = "G" + "c" * 64
NOW = 1_700_000_000.0


def test_journal_keeps_the_latest_write_and_forgets_only_older_ones(run_data):
    async def body(data: DataStore):
        assert await data.blob_writes_before(NOW + 1000, 10) == []
        await data.record_blob_writes([X, Y], NOW)
        await data.record_blob_writes([Z], NOW + 5)
        await data.record_blob_writes([X], NOW + 10)  # written again: the later time counts
        await data.record_blob_writes([Y], NOW - 100)  # an older time never moves it back
        assert await data.blob_writes_before(NOW + 6, 10) == [Y, Z]  # oldest first
        assert await data.blob_writes_before(NOW + 6, 1) == [Y]
        assert await data.blob_writes_before(NOW, 10) == []
        await data.forget_blob_writes([X, Y, Z], NOW + 6)  # X was written again since
        assert await data.blob_writes_before(NOW + 1000, 10) == [X]
        await data.forget_blob_writes([], NOW + 1000)  # nothing named: nothing forgotten
        assert await data.blob_writes_before(NOW + 1000, 10) == [X]

    run_data(body)


def test_sweep_reads_the_journal_not_the_store(run_blobs, tmp_path: Path):
    async def body(blobs: BlobStore):
        data = SqliteDataStore(tmp_path / "fulmar.db")
        await data.open()
        try:
            written = time.time()
            cutoff = written + 60  # every blob below is older, by its own write time
            store = JournalledBlobStore(blobs, data, clock=lambda: written)
            account = await data.create_principal("a@example.com", "h", "a")
            uploaded = await store.put(b"uploaded")
            await data.add_upload(account.id, uploaded, 8, cutoff + 3600)
            referenced = await store.put(b"referenced")
            async with data.transaction(account.id) as tx:
                await tx.create("Email", {"id": "e1"})
                await tx.add_blob_refs([(referenced, "e1")])
            orphans = [
                await store.put(b"a write whose transaction failed %d" % n) for n in range(5)
            ]
            # written "after the cutoff" by the journal's clock: too young to sweep
            young = await JournalledBlobStore(blobs, data, clock=lambda: cutoff + 1).put(b"young")
            unjournalled = await blobs.put(b"written past the journal")

            def no_listing(*args: object, **kwargs: object) -> None:
                raise AssertionError("the journalled sweep listed the blob store")

            blobs.written_before = no_listing  # type: ignore[method-assign]
            assert await sweep_journalled_blobs(data, store, cutoff, batch=2) == 5
            for orphan in orphans:
                assert await blobs.get(orphan) is None
            for kept in (uploaded, referenced, young, unjournalled):
                assert await blobs.get(kept) is not None
            assert await data.blob_writes_before(cutoff + 3600, 100) == [young]
            assert await sweep_journalled_blobs(data, store, cutoff) == 0
        finally:
            await data.close()

    run_blobs(body)
