"""The blob role: immutable, content-addressed bytes."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator

import pytest

from jmap.store.base import BlobStore, BlobTooLarge, is_blob_id


def sha_id(data: bytes) -> str:
    return "G" + hashlib.sha256(data).hexdigest()


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        await asyncio.sleep(0)
        yield part


def test_put_get_round_trip(run_blobs):
    payloads = [b"", b"hello", bytes(range(256)) * 1000, "héllo ✉".encode()]

    async def body(blobs: BlobStore):
        out = []
        for data in payloads:
            blob_id = await blobs.put(data)
            assert blob_id == sha_id(data)
            assert is_blob_id(blob_id)
            assert await blobs.get(blob_id) == data
            assert await blobs.size(blob_id) == len(data)
            # idempotent: the same bytes give the same id and stay readable
            assert await blobs.put(data) == blob_id
            assert await blobs.get(blob_id) == data
            out.append(blob_id)
        return out

    ids = run_blobs(body)
    assert len(set(ids)) == len(payloads)


def test_concurrent_puts_of_the_same_bytes(run_blobs):
    data = b"same bytes " * 10_000

    async def body(blobs: BlobStore):
        ids = await asyncio.gather(*(blobs.put(data) for _ in range(10)))
        assert set(ids) == {sha_id(data)}
        assert await blobs.get(ids[0]) == data

    run_blobs(body)
    assert run_blobs.leftovers() == []


def test_put_stream(run_blobs):
    parts = [b"a" * 1000, b"b" * 24, b"", b"c" * 3000]
    whole = b"".join(parts)

    async def body(blobs: BlobStore):
        blob_id, size = await blobs.put_stream(chunks(*parts), max_size=len(whole))
        assert (blob_id, size) == (sha_id(whole), len(whole))
        assert await blobs.get(blob_id) == whole
        # the same content again, and as one put: the same id
        assert await blobs.put_stream(chunks(whole), max_size=10**6) == (blob_id, len(whole))
        assert await blobs.put(whole) == blob_id
        empty_id, empty_size = await blobs.put_stream(chunks(), max_size=0)
        assert (empty_id, empty_size) == (sha_id(b""), 0)

    run_blobs(body)
    assert run_blobs.leftovers() == []


def test_put_stream_too_large_leaves_nothing(run_blobs):
    parts = [b"x" * 600, b"y" * 600]

    async def body(blobs: BlobStore):
        with pytest.raises(BlobTooLarge):
            await blobs.put_stream(chunks(*parts), max_size=1000)
        for candidate in (b"".join(parts), parts[0], b"".join(parts)[:1000]):
            assert await blobs.get(sha_id(candidate)) is None
        # a stream that fails for another reason is cleaned up too

        async def broken() -> AsyncIterator[bytes]:
            yield b"partial"
            raise RuntimeError("client went away")

        with pytest.raises(RuntimeError):
            await blobs.put_stream(broken(), max_size=1000)
        assert await blobs.get(sha_id(b"partial")) is None

    run_blobs(body)
    assert run_blobs.leftovers() == []


def test_unknown_and_malformed_ids(run_blobs):
    async def body(blobs: BlobStore):
        stored = await blobs.put(b"something")
        bad = [
            "",
            "G",
            "Gabc",
            "G" + "0" * 63,
            "G" + "0" * 65,
            "G" + stored[1:].upper(),
            "g" + stored[1:],
            "X" + stored[1:],
            stored[1:],
            "G" + "../" * 21 + "ab",
            "G../../../../etc/passwd",
            "G" + "z" * 64,
        ]
        for blob_id in bad:
            assert not is_blob_id(blob_id)
            assert await blobs.get(blob_id) is None, blob_id
            assert await blobs.size(blob_id) is None, blob_id
            await blobs.delete(blob_id)  # never raises
        unknown = sha_id(b"never stored")
        assert await blobs.get(unknown) is None
        assert await blobs.size(unknown) is None
        await blobs.delete(unknown)
        assert await blobs.get(stored) == b"something"

    run_blobs(body)


def test_delete(run_blobs):
    async def body(blobs: BlobStore):
        keep = await blobs.put(b"keep")
        drop = await blobs.put(b"drop")
        await blobs.delete(drop)
        assert await blobs.get(drop) is None
        assert await blobs.size(drop) is None
        await blobs.delete(drop)
        assert await blobs.get(keep) == b"keep"
        # the same bytes can be stored again after a delete
        assert await blobs.put(b"drop") == drop
        assert await blobs.get(drop) == b"drop"

    run_blobs(body)


def test_blobs_survive_reopen(run_blobs):
    blob_id = run_blobs(lambda blobs: blobs.put(b"durable"))

    async def read(blobs: BlobStore):
        return await blobs.get(blob_id)

    assert run_blobs(read) == b"durable"


def test_delete_spares_blobs_written_again_since(run_blobs):
    """Orphans are deleted only if nobody wrote the same bytes after the orphan search began."""

    async def body(blobs: BlobStore):
        old = await blobs.put(b"orphan")
        await asyncio.sleep(0.05)
        search_began = time.time()
        await asyncio.sleep(0.05)
        # an upload of the same bytes lands between the search and the delete
        assert await blobs.put(b"orphan") == old
        await blobs.delete(old, written_before=search_began)
        assert await blobs.get(old) == b"orphan"
        # streamed uploads count as writes too
        await blobs.put_stream(chunks(b"orph", b"an"), 100)
        await blobs.delete(old, written_before=search_began)
        assert await blobs.get(old) == b"orphan"
        # without a newer write it goes
        await blobs.delete(old, written_before=time.time() + 1)
        assert await blobs.get(old) is None

    run_blobs(body)


def test_written_before_lists_older_blobs_in_batches(run_blobs):
    async def body(blobs: BlobStore):
        old = [await blobs.put(f"old {i}".encode()) for i in range(5)]
        await asyncio.sleep(0.05)
        cutoff = time.time()
        await asyncio.sleep(0.05)
        new = await blobs.put(b"new")
        batches = [batch async for batch in blobs.written_before(cutoff, batch=2)]
        listed = [blob_id for batch in batches for blob_id in batch]
        assert sorted(listed) == sorted(old) and new not in listed
        assert len(batches) >= 2
        # writing old bytes again makes them new: the sweep's delete keeps them
        await blobs.put(b"old 0")
        again = [b async for batch in blobs.written_before(cutoff) for b in batch]
        if run_blobs.backend.name != "s3-s3rver":
            assert old[0] not in again
        # (s3rver keeps an object's mtime, its LastModified, on a copy onto itself, so its
        # listing can still offer the blob; the recorded write time decides the delete)
        await blobs.delete(old[0], written_before=cutoff)
        assert await blobs.get(old[0]) == b"old 0"

    run_blobs(body)
