"""The blob role on S3 (AWS, MinIO, any S3-compatible server), through the ``minio`` client.

A blob is the object ``blobs/<aa>/<bb>/<sha256>`` of one bucket. The client is synchronous:
every call runs in this store's own thread pool, so S3 latency never blocks the event loop
and never starves the threads other roles use.

- ``put_stream`` cannot know the key until the last octet, so it spools the stream to an
  unnamed temporary file while hashing it (at most ``SPOOL_WRITE`` octets in memory), then
  uploads the file, as a multipart upload past ``part_size`` (one part in memory at a time;
  a failed multipart upload is aborted by the client). The spool has no name, so it
  disappears with the process however it ends.
- Writing bytes that are stored already copies the object onto itself (server side), which
  refreshes its ``LastModified``: that is what ``delete(written_before=…)`` compares, so an
  upload of an orphan's bytes during the orphan sweep keeps them.
- Downloads read the object's HTTP response a bounded chunk at a time, when the reader asks:
  a slow reader leaves the bytes in S3 and the TCP window, never in this process.

On a versioned bucket every refresh adds a version and every delete a marker: give such a
bucket a lifecycle rule that expires noncurrent versions, or the orphan sweep frees nothing.

Residual race, accepted: ``delete(blob_id, written_before)`` reads ``LastModified`` and then
deletes; a write of the same bytes landing in between (one round trip) is lost. The orphan
sweep only targets blobs nobody held for a day (``housekeeping.ORPHAN_AGE_SECONDS``) and
expired uploads a minute past their race margin, so this needs a client to upload, within
milliseconds of the sweep, the exact bytes of a day-old orphan; the embedded backend has the
same window between ``stat`` and ``unlink``. S3 offers no compare-and-delete on
``LastModified`` that every server implements, which is what closing it would take.

Times: ``LastModified`` is the S3 server's clock in whole seconds (AWS and moto truncate
it), too coarse for an orphan search that began a moment ago. So every write also records
its time to the microsecond in the object's metadata (``x-amz-meta-fulmar-written``, set
again by the copy that refreshes it). ``written_before`` trusts the listing's second where
it decides (a second wholly before or after the cutoff) and reads the recorded time (one
HEAD) only for objects modified in the cutoff's own second; ``delete`` keeps a blob if
either its recorded time or its ``LastModified`` (allowing ``clock_slack`` for the
truncation) says it was written at ``written_before`` or later. The sweep's own margins
(60 s, 24 h) cover ordinary clock skew between nodes and S3.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import logging
import math
import re
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import urllib3
from minio import Minio
from minio.commonconfig import REPLACE, CopySource
from minio.datatypes import Object
from minio.error import MinioException, S3Error

from ..s3_url import S3Url
from .base import BlobStream, BlobTooLarge, StoreError, is_blob_id

log = logging.getLogger("fulmar.store.s3")

T = TypeVar("T")

PREFIX = "blobs/"
#: the smallest part S3 accepts; an upload holds about two parts in memory at once
MIN_PART_SIZE = 5 * 1024 * 1024
#: a streamed upload is written to its spool in pieces of about this size
SPOOL_WRITE = 1024 * 1024
#: at most this many listed objects are looked at per thread call of ``written_before``
LIST_SCAN = 10_000
#: user metadata: when the object was last written, by the writer's clock (seconds)
WRITTEN = "x-amz-meta-fulmar-written"
#: error codes that mean "no such object"
_MISSING = {"NoSuchKey", "NotFound", "ResourceNotFound", "NoSuchObject"}
#: error codes that mean the credentials were refused
_REFUSED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
_KEY = re.compile(r"blobs/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})")


def key_of(blob_id: str) -> str:
    digest = blob_id[1:]
    return f"{PREFIX}{digest[:2]}/{digest[2:4]}/{digest}"


def blob_id_of_key(key: str) -> str | None:
    """The blob id an object key names, or None for any other object."""
    match = _KEY.fullmatch(key)
    if match is None or not match[3].startswith(match[1] + match[2]):
        return None
    return "G" + match[3]


def _written_now() -> dict[str, str]:
    return {WRITTEN: f"{time.time():.6f}"}


def _recorded(stat: Object) -> float | None:
    """The write time an object's metadata records, if it has a well-formed one."""
    value = (stat.metadata or {}).get(WRITTEN)
    try:
        recorded = float(value) if value is not None else None
    except ValueError:
        return None
    return recorded if recorded is not None and math.isfinite(recorded) else None


def _missing(exc: BaseException) -> bool:
    return isinstance(exc, S3Error) and exc.code in _MISSING


class S3BlobStream:
    """One object's HTTP response, read a bounded chunk at a time in the store's threads."""

    def __init__(self, response: Any, size: int, run: Callable[..., Any]) -> None:
        self._response = response
        self._run = run
        self.size = size

    async def read(self, max_octets: int) -> bytes:
        return await self._run(self._response.read, max_octets, decode_content=False)

    async def close(self) -> None:
        response, self._response = self._response, None
        if response is not None:
            await self._run(_release, response)


def _release(response: Any) -> None:
    response.close()
    response.release_conn()


class S3BlobStore:
    """The blob role on one S3 bucket."""

    def __init__(
        self,
        location: S3Url,
        spool_dir: Path,
        *,
        part_size: int = MIN_PART_SIZE,
        threads: int = 16,
        clock_slack: float = 1.0,
        timeout: float = 60.0,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"S3 parts are at least {MIN_PART_SIZE} octets")
        self.location = location
        self.bucket = location.bucket
        self._spool_dir = spool_dir
        self._part_size = part_size
        self._slack = clock_slack
        self._http = urllib3.PoolManager(
            maxsize=threads,
            timeout=urllib3.Timeout(connect=10.0, read=timeout),
            retries=urllib3.Retry(
                total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
            ),
        )
        self._client = Minio(
            location.endpoint,
            access_key=location.access_key,
            secret_key=location.secret_key,
            secure=location.secure,
            region=location.region,
            http_client=self._http,
        )
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="fulmar-s3")
        self._ready: asyncio.Future[None] | None = None

    # -- plumbing --
    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking client call in the pool; S3 and network failures become
        StoreError (callers look for "no such object" themselves before that)."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))
        except S3Error as exc:
            if _missing(exc):
                raise
            hint = " (check the key and secret of s3_url)" if exc.code in _REFUSED else ""
            raise StoreError(self._describe(f"{exc.code}: {exc.message}{hint}")) from exc
        except urllib3.exceptions.MaxRetryError as exc:
            raise StoreError(self._describe(f"unreachable: {exc.reason}")) from exc
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            raise StoreError(self._describe(str(exc))) from exc

    def _describe(self, problem: str) -> str:
        scheme = "https" if self.location.secure else "http"
        return f"S3 bucket {self.bucket} at {scheme}://{self.location.endpoint}: {problem}"

    async def open(self) -> None:
        """Check the credentials and the bucket, creating the bucket if missing. Every other
        call does this first, once."""
        if self._ready is None:
            self._ready = asyncio.ensure_future(self._run(self._ensure_bucket))
        try:
            await asyncio.shield(self._ready)
        except BaseException:
            if self._ready.done():
                self._ready = None  # try again next time (S3 may have been down)
            raise

    def _ensure_bucket(self) -> None:
        if self._client.bucket_exists(self.bucket):
            return
        try:
            self._client.make_bucket(self.bucket, location=self.location.region)
        except S3Error as exc:
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
            if exc.code == "BucketAlreadyExists" and not self._client.bucket_exists(self.bucket):
                raise
        log.info("created S3 bucket %s", self.bucket)

    # -- writing --
    def _refresh(self, key: str) -> bool:
        """If the object exists, copy it onto itself so its LastModified is now; False if
        there is no such object (then it must be uploaded)."""
        try:
            self._client.copy_object(
                self.bucket,
                key,
                CopySource(self.bucket, key),
                metadata=_written_now(),
                metadata_directive=REPLACE,
            )
        except S3Error as exc:
            if _missing(exc):
                return False
            raise
        return True

    def _upload(self, key: str, data: BinaryIO, size: int) -> None:
        if self._refresh(key):
            return
        self._client.put_object(
            self.bucket,
            key,
            data,
            size,
            metadata=_written_now(),
            part_size=self._part_size,
            num_parallel_uploads=1,
        )

    def _put_bytes(self, data: bytes) -> str:
        blob_id = "G" + hashlib.sha256(data).hexdigest()
        self._upload(key_of(blob_id), io.BytesIO(data), len(data))
        return blob_id

    async def put(self, data: bytes) -> str:
        await self.open()
        return await self._run(self._put_bytes, data)

    def _put_file(self, blob_id: str, path: Path) -> bool:
        size = path.stat().st_size
        stat = self._stat(blob_id)
        if stat is not None and stat.size == size:
            return False
        with path.open("rb") as data:
            self._client.put_object(
                self.bucket,
                key_of(blob_id),
                data,
                size,
                metadata=_written_now(),
                part_size=self._part_size,
                num_parallel_uploads=1,
            )
        return True

    async def put_file(self, blob_id: str, path: Path) -> bool:
        """Upload a file whose blob id is known already (``fulmar migrate``), streamed,
        unless the bucket holds it; True if it was uploaded."""
        await self.open()
        return await self._run(self._put_file, blob_id, path)

    @staticmethod
    def _spool(spool: BinaryIO, digest: Any, pieces: list[bytes]) -> None:
        for piece in pieces:
            digest.update(piece)
            spool.write(piece)

    def _upload_spool(self, spool: BinaryIO, key: str, size: int) -> None:
        spool.flush()
        spool.seek(0)
        self._upload(key, spool, size)

    async def put_stream(self, chunks: AsyncIterator[bytes], max_size: int) -> tuple[str, int]:
        await self.open()
        spool = await self._run(tempfile.TemporaryFile, dir=self._spool_dir)
        try:
            digest = hashlib.sha256()
            size = 0
            pending: list[bytes] = []
            pending_size = 0
            async for chunk in chunks:
                size += len(chunk)
                if size > max_size:
                    raise BlobTooLarge(size)
                pending.append(chunk)
                pending_size += len(chunk)
                if pending_size >= SPOOL_WRITE:
                    await self._run(self._spool, spool, digest, pending)
                    pending, pending_size = [], 0
            await self._run(self._spool, spool, digest, pending)
            blob_id = "G" + digest.hexdigest()
            await self._run(self._upload_spool, spool, key_of(blob_id), size)
            return blob_id, size
        finally:
            await self._run(spool.close)

    # -- reading --
    def _open_object(self, blob_id: str) -> Any:
        try:
            return self._client.get_object(self.bucket, key_of(blob_id))
        except S3Error as exc:
            if _missing(exc):
                return None
            raise

    @staticmethod
    def _read_all(response: Any) -> bytes:
        try:
            return response.read(decode_content=False)
        finally:
            _release(response)

    async def _response(self, blob_id: str) -> Any | None:
        """The object's GET response, unread (None: no such blob)."""
        if not is_blob_id(blob_id):
            return None
        await self.open()
        return await self._run(self._open_object, blob_id)

    async def get(self, blob_id: str) -> bytes | None:
        response = await self._response(blob_id)
        if response is None:
            return None
        return await self._run(self._read_all, response)

    async def open_stream(self, blob_id: str) -> BlobStream | None:
        response = await self._response(blob_id)
        if response is None:
            return None
        size = int(response.headers["Content-Length"])
        return S3BlobStream(response, size, self._run)

    def _stat(self, blob_id: str) -> Object | None:
        try:
            return self._client.stat_object(self.bucket, key_of(blob_id))
        except S3Error as exc:
            if _missing(exc):
                return None
            raise

    async def size(self, blob_id: str) -> int | None:
        if not is_blob_id(blob_id):
            return None
        await self.open()
        stat = await self._run(self._stat, blob_id)
        return None if stat is None else stat.size

    # -- the orphan sweep --
    def _before(self, blob_id: str, modified: float, when: float) -> bool:
        """Was this listed blob last written before ``when``? ``modified`` is its listed
        LastModified, which may be truncated (or rounded) to the second."""
        if modified + 1 <= when:
            return True
        if modified - 0.5 >= when:
            return False
        stat = self._stat(blob_id)  # the cutoff's own second: ask for the recorded time
        if stat is None:
            return False
        recorded = _recorded(stat)
        return (recorded if recorded is not None else modified) < when

    def _take(self, listing: Iterator[Object], when: float, batch: int) -> tuple[list[str], bool]:
        """Up to ``batch`` blob ids written before ``when`` from the listing, looking at no
        more than LIST_SCAN objects; and whether the listing is exhausted."""
        found: list[str] = []
        for _ in range(LIST_SCAN):
            item = next(listing, None)
            if item is None:
                return found, True
            blob_id = blob_id_of_key(item.object_name or "")
            modified = item.last_modified
            if blob_id and modified and self._before(blob_id, modified.timestamp(), when):
                found.append(blob_id)
                if len(found) >= batch:
                    break
        return found, False

    async def written_before(self, when: float, batch: int = 1000) -> AsyncIterator[list[str]]:
        await self.open()
        # a lazy generator: each page of ListObjectsV2 is fetched by ``_take``, in a thread
        listing = self._client.list_objects(self.bucket, prefix=PREFIX, recursive=True)
        done = False
        while not done:
            found, done = await self._run(self._take, listing, when, batch)
            if found:
                yield found

    async def delete(self, blob_id: str, written_before: float | None = None) -> None:
        if not is_blob_id(blob_id):
            return
        await self.open()
        if written_before is not None:
            stat = await self._run(self._stat, blob_id)
            if stat is None or stat.last_modified is None:
                return
            recorded = _recorded(stat)
            if recorded is not None and recorded >= written_before:
                return  # written again since the orphan search began
            if stat.last_modified.timestamp() >= written_before - self._slack:
                return  # the same, by S3's clock (to the second)
        await self._run(self._client.remove_object, self.bucket, key_of(blob_id))

    async def close(self) -> None:
        await asyncio.to_thread(self._pool.shutdown, wait=True)
        self._http.clear()
