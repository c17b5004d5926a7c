"""A blob store that notes every write in the data role's blob write journal.

The orphan sweep has to find bytes no account holds: a blob is written before the
transaction that references it, and that transaction may fail. Listing the whole bucket
for them grows with every blob ever stored; the journal holds only blobs written since the
last sweep, so the sweep reads those (``housekeeping.sweep_journalled_blobs``) and forgets
them. The entry's time is taken before the write starts, so it is never later than the
blob's own write time, which ``BlobStore.delete(written_before=…)`` checks again.

A crash between a blob's write and its journal entry leaves an orphan the journal does not
know: the occasional full sweep (``sweep_orphan_blobs`` over the listing) finds those.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

from .base import BlobStore, BlobStream, DataStore


class JournalledBlobStore:
    """``BlobStore`` over another one; writes are recorded in ``data``'s journal."""

    def __init__(
        self, blobs: BlobStore, data: DataStore, clock: Callable[[], float] = time.time
    ) -> None:
        self.inner = blobs
        self._data = data
        self._clock = clock

    async def put(self, data: bytes) -> str:
        started = self._clock()
        blob_id = await self.inner.put(data)
        await self._data.record_blob_writes([blob_id], started)
        return blob_id

    async def put_stream(self, chunks: AsyncIterator[bytes], max_size: int) -> tuple[str, int]:
        started = self._clock()
        blob_id, size = await self.inner.put_stream(chunks, max_size)
        await self._data.record_blob_writes([blob_id], started)
        return blob_id, size

    async def get(self, blob_id: str) -> bytes | None:
        return await self.inner.get(blob_id)

    async def open_stream(self, blob_id: str) -> BlobStream | None:
        return await self.inner.open_stream(blob_id)

    def written_before(self, when: float, batch: int = 1000) -> AsyncIterator[list[str]]:
        return self.inner.written_before(when, batch)

    async def size(self, blob_id: str) -> int | None:
        return await self.inner.size(blob_id)

    async def delete(self, blob_id: str, written_before: float | None = None) -> None:
        await self.inner.delete(blob_id, written_before)

    async def close(self) -> None:
        await self.inner.close()
