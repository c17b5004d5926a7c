"""The file blob store: durability of new blobs, streaming reads."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from jmap.store.files import FileBlobStore, blob_id_of


def _synced_paths(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the path behind every fsynced descriptor."""
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return synced


@pytest.mark.parametrize("streamed", [False, True])
def test_new_blob_directories_are_fsynced_into_their_parents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, streamed: bool
) -> None:
    """A blob put in a fresh ``aa/bb`` directory must survive a power cut: the file, its entry
    in ``bb``, ``bb``'s entry in ``aa`` and ``aa``'s entry in the root are all fsynced."""
    root = tmp_path / "blobs"
    store = FileBlobStore(root)
    synced = _synced_paths(monkeypatch)
    data = b"a blob a committed Email references"

    async def put() -> str:
        if not streamed:
            return await store.put(data)

        async def chunks():
            yield data

        blob_id, _ = await store.put_stream(chunks(), 1000)
        return blob_id

    blob_id = asyncio.run(put())
    assert blob_id == blob_id_of(data)
    digest = blob_id[1:]
    aa, bb = root / digest[:2], root / digest[:2] / digest[2:4]
    for directory in (root, aa, bb):
        assert str(directory) in synced, (directory, synced)


def test_root_made_by_the_store_is_fsynced_into_its_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced = _synced_paths(monkeypatch)
    FileBlobStore(tmp_path / "blobs")
    assert str(tmp_path) in synced


def test_open_stream_reads_in_chunks(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    data = os.urandom(300_000)

    async def body() -> tuple[int, list[bytes], object]:
        blob_id = await store.put(data)
        stream = await store.open_stream(blob_id)
        assert stream is not None
        chunks = []
        try:
            while chunk := await stream.read(65536):
                chunks.append(chunk)
        finally:
            await stream.close()
        missing = await store.open_stream("G" + "0" * 64)
        return stream.size, chunks, missing

    size, chunks, missing = asyncio.run(body())
    assert size == len(data)
    assert b"".join(chunks) == data
    assert max(len(c) for c in chunks) <= 65536
    assert missing is None
