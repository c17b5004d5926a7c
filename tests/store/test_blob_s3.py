"""What only the S3 blob store does, against real S3-compatible servers (moto in server mode,
s3rver): multipart uploads, reads pulled from the wire as the reader asks, credentials,
objects that are not blobs, write times finer than S3's second. The behaviour every blob
store shares is in test_blob_store.py, run against these servers too."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from minio import Minio

from jmap.store.base import StoreError
from jmap.store.s3 import MIN_PART_SIZE, WRITTEN, S3BlobStore, key_of
from tests.conftest import free_port
from tests.s3servers import S3Server, bucket_for


@pytest.fixture(params=["moto_s3", "s3rver"], ids=["moto", "s3rver"])
def s3(request: pytest.FixtureRequest) -> S3Server:
    return request.getfixturevalue(request.param)


def make_store(server: S3Server, tmp_path: Path, **kwargs) -> S3BlobStore:
    spool = tmp_path / "spool"
    spool.mkdir(exist_ok=True)
    return S3BlobStore(server.location(bucket_for(tmp_path)), spool, **kwargs)


def client_of(store: S3BlobStore) -> Minio:
    return store._client


async def chunks_of(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        await asyncio.sleep(0)
        yield data[start : start + size]


def test_large_streamed_upload_is_multipart_and_reads_back(s3: S3Server, tmp_path: Path):
    data = os.urandom(2 * MIN_PART_SIZE + 12345)
    store = make_store(s3, tmp_path)

    async def body() -> None:
        try:
            blob_id, size = await store.put_stream(chunks_of(data), max_size=len(data))
            assert (blob_id, size) == ("G" + hashlib.sha256(data).hexdigest(), len(data))
            stat = await asyncio.to_thread(
                client_of(store).stat_object, store.bucket, key_of(blob_id)
            )
            if s3.name == "moto":  # s3rver gives a multipart object a plain MD5 ETag
                # a multipart upload's ETag is the digest of the parts' digests, then "-3"
                assert stat.etag.endswith("-3"), stat.etag
            assert await store.size(blob_id) == len(data)
            stream = await store.open_stream(blob_id)
            assert stream is not None and stream.size == len(data)
            pieces = []
            try:
                while piece := await stream.read(1 << 20):
                    assert len(piece) <= 1 << 20
                    pieces.append(piece)
            finally:
                await stream.close()
            assert b"".join(pieces) == data
            uploads = s3.unfinished_uploads(client_of(store), store.bucket)
            assert uploads == []
            assert list((tmp_path / "spool").iterdir()) == []
        finally:
            await store.close()

    asyncio.run(body())


def test_open_stream_pulls_from_the_wire_only_what_the_reader_takes(moto_s3, tmp_path: Path):
    """Backpressure: a reader that took 64 KiB of a 12 MiB blob has had at most a socket
    buffer's worth more pulled from S3, not the blob."""
    data = os.urandom(12 * 1024 * 1024)
    store = make_store(moto_s3, tmp_path)

    async def body() -> int:
        try:
            blob_id = await store.put(data)
            stream = await store.open_stream(blob_id)
            assert stream is not None
            try:
                first = await stream.read(65536)
                assert first == data[:65536]
                return stream._response.tell()  # octets read from the connection so far
            finally:
                await stream.close()  # early: the rest is never fetched
        finally:
            await store.close()

    pulled = asyncio.run(body())
    assert 65536 <= pulled <= 1024 * 1024, pulled


def test_wrong_credentials_fail_clearly(s3rver: S3Server, tmp_path: Path):
    """s3rver refuses an unknown access key: at open, and every call after fails the same
    way, naming the server and the bucket but never the secret. (s3rver does not verify
    version 4 signatures, so a wrong secret alone is not caught there.)"""
    secret = "not-the-secret-xyz"
    spool = tmp_path / "spool"
    spool.mkdir()
    location = s3rver.location("wrong-creds", access_key="NOBODY", secret_key=secret)
    store = S3BlobStore(location, spool)

    async def body() -> list[str]:
        messages = []
        try:
            for call in (store.open, lambda: store.put(b"x"), lambda: store.get("G" + "0" * 64)):
                with pytest.raises(StoreError) as caught:
                    await call()
                messages.append(str(caught.value))
        finally:
            await store.close()
        return messages

    messages = asyncio.run(body())
    assert len(messages) == 3
    for message in messages:
        # a HEAD (the bucket check) gets no error body: S3 clients read its 403 as AccessDenied
        assert "InvalidAccessKeyId" in message or "AccessDenied" in message, message
        assert "check the key and secret of s3_url" in message
        assert f"127.0.0.1:{s3rver.port}" in message and "wrong-creds" in message
        assert secret not in message


def test_unreachable_server_is_a_store_error(tmp_path: Path):
    port = free_port()  # nothing listens there
    location = S3Server("none", None, port, tmp_path / "log", "k", "s").location("gone")  # type: ignore[arg-type]
    (tmp_path / "spool").mkdir()
    store = S3BlobStore(location, tmp_path / "spool")

    async def body() -> str:
        try:
            with pytest.raises(StoreError) as caught:
                await store.put(b"x")
            return str(caught.value)
        finally:
            await store.close()

    assert f"127.0.0.1:{port}" in asyncio.run(body())


def test_bucket_is_created_once_and_other_objects_are_left_alone(s3: S3Server, tmp_path: Path):
    store = make_store(s3, tmp_path)
    client = client_of(store)
    assert not client.bucket_exists(store.bucket)
    strangers = ["notes/readme.txt", "blobs/ab/cd/" + "0" * 64, "blobs/00/00/short"]

    async def body() -> list[str]:
        try:
            await store.open()
            assert client.bucket_exists(store.bucket)
            for key in strangers:
                await asyncio.to_thread(client.put_object, store.bucket, key, io.BytesIO(b"x"), 1)
            blob_id = await store.put(b"a blob")
            listed = [b async for batch in store.written_before(time.time() + 5) for b in batch]
            return [blob_id, *listed]
        finally:
            await store.close()

    blob_id, *listed = asyncio.run(body())
    assert listed == [blob_id]
    names = sorted(o.object_name for o in client.list_objects(store.bucket, recursive=True))
    assert names == sorted([*strangers, key_of(blob_id)])


def test_rewrite_refreshes_the_recorded_time_server_side(s3: S3Server, tmp_path: Path):
    """Writing stored bytes again copies the object onto itself: the same object, a newer
    recorded write time, no second upload of the bytes."""
    store = make_store(s3, tmp_path)
    client = client_of(store)

    async def body() -> tuple[float, float, str, str]:
        try:
            blob_id = await store.put(b"written twice")
            key = key_of(blob_id)
            first = await asyncio.to_thread(client.stat_object, store.bucket, key)
            await asyncio.sleep(0.01)
            assert await store.put(b"written twice") == blob_id
            second = await asyncio.to_thread(client.stat_object, store.bucket, key)
            return (
                float(first.metadata[WRITTEN]),
                float(second.metadata[WRITTEN]),
                first.etag,
                second.etag,
            )
        finally:
            await store.close()

    before, after, etag_before, etag_after = asyncio.run(body())
    assert after > before
    assert etag_before == etag_after  # same content


def test_delete_of_a_blob_without_a_recorded_time_uses_last_modified(moto_s3, tmp_path):
    """An object put there by another tool (say, a bucket copy) has no recorded write time:
    S3's LastModified decides, with a second of slack for its truncation."""
    store = make_store(moto_s3, tmp_path)
    client = client_of(store)
    data = b"copied in by a tool"
    blob_id = "G" + hashlib.sha256(data).hexdigest()

    async def body() -> tuple[bool, bool]:
        try:
            await store.open()
            await asyncio.to_thread(
                client.put_object, store.bucket, key_of(blob_id), io.BytesIO(data), len(data)
            )
            now = time.time()
            await store.delete(blob_id, written_before=now - 0.5)  # written after: kept
            kept = await store.get(blob_id) == data
            await store.delete(blob_id, written_before=now + 2)  # long before: goes
            gone = await store.get(blob_id) is None
            return kept, gone
        finally:
            await store.close()

    assert asyncio.run(body()) == (True, True)


def test_part_size_below_s3_minimum_is_refused(moto_s3, tmp_path):
    with pytest.raises(ValueError, match="at least"):
        make_store(moto_s3, tmp_path, part_size=1024)


def test_streamed_upload_and_download_never_hold_the_blob(moto_s3, tmp_path: Path):
    """A 24 MiB blob goes up with a few 5 MiB parts allocated at a time (the client reads
    the next part before it drops the last: about 10 MiB measured) and comes back in
    64 KiB reads: tracemalloc counts every Python allocation, the client's threads too."""
    import tracemalloc

    data = os.urandom(24 * 1024 * 1024)
    store = make_store(moto_s3, tmp_path)

    async def body() -> tuple[int, int]:
        try:
            tracemalloc.start()
            blob_id, _ = await store.put_stream(chunks_of(data), max_size=len(data))
            _, upload_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            stream = await store.open_stream(blob_id)
            assert stream is not None
            digest = hashlib.sha256()
            try:
                while piece := await stream.read(65536):
                    digest.update(piece)
            finally:
                await stream.close()
            _, download_peak = tracemalloc.get_traced_memory()
            assert "G" + digest.hexdigest() == blob_id
            return upload_peak, download_peak
        finally:
            tracemalloc.stop()
            await store.close()

    upload_peak, download_peak = asyncio.run(body())
    assert upload_peak < 16 * 1024 * 1024, upload_peak  # the blob is 24 MiB
    assert download_peak < 4 * 1024 * 1024, download_peak


def test_the_upload_runs_off_the_event_loop(moto_s3, tmp_path: Path):
    """After the last chunk is in, hashing's end, the spool and the multipart upload of a
    12 MiB blob happen in threads: another task keeps running meanwhile (by ordering)."""
    data = os.urandom(12 * 1024 * 1024)
    store = make_store(moto_s3, tmp_path)
    events: list[str] = []

    async def chunks() -> AsyncIterator[bytes]:
        async for piece in chunks_of(data, 1 << 20):
            yield piece
        events.append("last chunk")

    async def ticker() -> None:
        while True:
            events.append("tick")
            await asyncio.sleep(0)

    async def body() -> None:
        try:
            ticking = asyncio.create_task(ticker())
            await store.put_stream(chunks(), max_size=len(data))
            events.append("stored")
            ticking.cancel()
        finally:
            await store.close()

    asyncio.run(body())
    between = events[events.index("last chunk") : events.index("stored")]
    assert between.count("tick") >= 3, between[:10]
