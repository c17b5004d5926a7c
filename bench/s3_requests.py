"""S3 requests per blob-store operation: python -m bench.s3_requests

Starts moto in server mode on 127.0.0.1 (the test server of the S3 tests, not AWS), runs
each operation of ``S3BlobStore`` once and prints the HTTP requests it sent, counted at the
client. These counts carry over to any S3 service; latencies would not, so none are shown.
"""

from __future__ import annotations

import asyncio
import collections
import os
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from jmap.store.s3 import S3BlobStore
from tests.s3servers import start_moto, stop


def count_requests(store: S3BlobStore) -> collections.Counter[str]:
    """Count the store's requests by method and S3 sub-resource."""
    counts: collections.Counter[str] = collections.Counter()
    real = store._http.urlopen

    def urlopen(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        headers = {h.lower() for h in kwargs.get("headers") or {}}
        kind = method + (" (copy)" if "x-amz-copy-source" in headers else "")
        query = url.partition("?")[2]
        kind += f" ?{query.split('=')[0]}" if query else ""
        counts[kind] += 1
        return real(method, url, *args, **kwargs)

    store._http.urlopen = urlopen  # type: ignore[method-assign]
    return counts


async def chunks(data: bytes, size: int = 1 << 20) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def run(store: S3BlobStore, counts: collections.Counter[str]) -> None:
    def step(name: str) -> None:
        detail = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
        print(f"{name:48} {sum(counts.values()):3}  ({detail})")
        counts.clear()

    await store.open()
    step("open (bucket check, creation)")
    blob_id = await store.put(b"x" * 1000)
    step("put: new blob")
    await store.put(b"x" * 1000)
    step("put: bytes stored already (refresh)")
    await store.put_stream(chunks(b"y" * 2000), 10**6)
    step("put_stream: new 2 KB blob")
    await store.put_stream(chunks(os.urandom(12 * 1024 * 1024)), 10**8)
    step("put_stream: new 12 MiB blob (multipart)")
    await store.get(blob_id)
    step("get")
    stream = await store.open_stream(blob_id)
    assert stream is not None
    await stream.read(65536)
    await stream.close()
    step("open_stream, read, close (a download)")
    await store.size(blob_id)
    step("size")
    await store.delete(blob_id, written_before=time.time() - 3600)
    step("delete(written_before): written since, kept")
    await store.delete(blob_id, written_before=time.time() + 5)
    step("delete(written_before): old, deleted")
    listed = [b async for batch in store.written_before(time.time() + 5) for b in batch]
    step(f"written_before: {len(listed)} blobs (1,000 per page)")


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="fulmar-bench-s3-"))
    server = start_moto(folder)
    try:
        (folder / "spool").mkdir()
        store = S3BlobStore(server.location("bench-requests"), folder / "spool")
        counts = count_requests(store)
        try:
            asyncio.run(run(store, counts))
        finally:
            asyncio.run(store.close())
    finally:
        stop(server)


if __name__ == "__main__":
    main()
