"""The embedded blob backend: content-addressed files under a directory.

A blob lives at ``<root>/<aa>/<bb>/<sha256>``. It is written to a temporary file, fsynced
and renamed into place, so a blob id that was handed out always names complete bytes; the
rename and every directory made for it are fsynced into their parents up to the root, so a
power cut cannot lose a blob whose id was handed out.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from ..datadir import make_private_dir
from .base import BlobStream, BlobTooLarge, is_blob_id


def blob_id_of(data: bytes) -> str:
    return "G" + hashlib.sha256(data).hexdigest()


def _fsync_dir(directory: Path) -> None:
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class FileBlobStream:
    """An open blob file, read in a worker thread a chunk at a time."""

    def __init__(self, handle: BinaryIO, size: int) -> None:
        self._handle = handle
        self.size = size

    async def read(self, max_octets: int) -> bytes:
        return await asyncio.to_thread(self._handle.read, max_octets)

    async def close(self) -> None:
        self._handle.close()


class FileBlobStore:
    """The blob role on the local file system."""

    def __init__(self, root: Path) -> None:
        self.root = root
        #: directories whose entry in their parent is known to be on disk
        self._durable: set[Path] = set()
        make_private_dir(self.root)  # blobs are private mail: 0700 folders
        self._make_dirs(self.root)
        make_private_dir(self.root / "tmp")

    def _make_dirs(self, directory: Path) -> None:
        """Make ``directory`` (under or at the root) and each directory up to the root, each
        fsynced into its parent once per process, whether this thread made it or another.
        """
        missing: list[Path] = []
        while directory not in self._durable:
            missing.append(directory)
            if directory == self.root:
                break
            directory = directory.parent
        for path in reversed(missing):
            path.mkdir(mode=0o700, parents=path == self.root, exist_ok=True)
            _fsync_dir(path.parent)
            self._durable.add(path)

    def _path(self, blob_id: str) -> Path:
        digest = blob_id[1:]
        return self.root / digest[:2] / digest[2:4] / digest

    def _commit(self, tmp_path: str, blob_id: str) -> None:
        final = self._path(blob_id)
        if final.exists():
            os.unlink(tmp_path)
            os.utime(final)  # written again now: see ``delete``
            return
        self._make_dirs(final.parent)
        os.replace(tmp_path, final)
        _fsync_dir(final.parent)

    def _write_all(self, data: bytes) -> str:
        blob_id = blob_id_of(data)
        path = self._path(blob_id)
        if path.exists():
            os.utime(path)  # written again now: see ``delete``
            return blob_id
        fd, tmp_path = tempfile.mkstemp(dir=self.root / "tmp")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        self._commit(tmp_path, blob_id)
        return blob_id

    async def put(self, data: bytes) -> str:
        return await asyncio.to_thread(self._write_all, data)

    async def put_stream(self, chunks: AsyncIterator[bytes], max_size: int) -> tuple[str, int]:
        digest = hashlib.sha256()
        size = 0
        fd, tmp_path = tempfile.mkstemp(dir=self.root / "tmp")
        out = os.fdopen(fd, "wb")
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_size:
                    raise BlobTooLarge(size)
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            await asyncio.to_thread(os.fsync, out.fileno())
            out.close()
            blob_id = "G" + digest.hexdigest()
            await asyncio.to_thread(self._commit, tmp_path, blob_id)
            return blob_id, size
        except BaseException:
            out.close()
            if os.path.exists(tmp_path):
                os.unlink(tmp_path)
            raise

    async def get(self, blob_id: str) -> bytes | None:
        if not is_blob_id(blob_id):
            return None
        try:
            return await asyncio.to_thread(self._path(blob_id).read_bytes)
        except FileNotFoundError:
            return None

    async def open_stream(self, blob_id: str) -> BlobStream | None:
        if not is_blob_id(blob_id):
            return None
        try:
            handle = await asyncio.to_thread(self._path(blob_id).open, "rb")
        except FileNotFoundError:
            return None
        return FileBlobStream(handle, os.fstat(handle.fileno()).st_size)

    async def written_before(self, when: float, batch: int = 1000) -> AsyncIterator[list[str]]:
        found: list[str] = []
        for directory in sorted(self.root.glob("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]")):
            entries = await asyncio.to_thread(lambda d=directory: list(os.scandir(d)))
            for entry in entries:
                if is_blob_id("G" + entry.name) and entry.stat().st_mtime < when:
                    found.append("G" + entry.name)
            if len(found) >= batch:
                yield found
                found = []
        if found:
            yield found

    async def size(self, blob_id: str) -> int | None:
        if not is_blob_id(blob_id):
            return None
        try:
            return self._path(blob_id).stat().st_size
        except FileNotFoundError:
            return None

    async def delete(self, blob_id: str, written_before: float | None = None) -> None:
        if is_blob_id(blob_id):
            await asyncio.to_thread(self._delete, self._path(blob_id), written_before)

    @staticmethod
    def _delete(path: Path, written_before: float | None) -> None:
        try:
            if written_before is not None and path.stat().st_mtime >= written_before:
                return
            path.unlink()
        except FileNotFoundError:
            pass

    async def close(self) -> None:
        return None
