"""Blob ids of message parts: ``{message blobId}_{partId}``, repeated for parts of attached
messages, so every EmailBodyPart has a downloadable blobId without storing parts twice.

Extracting a part needs its whole message in memory (parsed in a worker thread), so at most
``MAX_EXTRACTIONS`` run at once; a part being downloaded is kept in a spooled temporary file,
in memory only up to ``SPOOL_IN_MEMORY`` octets, however slowly the client reads it.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import weakref
from collections.abc import Callable
from typing import IO, TypeVar

from .message import part_bytes
from .store.base import BlobStore, BlobStream, DataStore, is_blob_id

T = TypeVar("T")

MAX_EXTRACTIONS = 2
SPOOL_IN_MEMORY = 1 << 20

_limits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _extractions() -> asyncio.Semaphore:
    """The extraction limit of the running loop (a semaphore belongs to one loop)."""
    loop = asyncio.get_running_loop()
    limit = _limits.get(loop)
    if limit is None:
        limit = _limits[loop] = asyncio.Semaphore(MAX_EXTRACTIONS)
    return limit


def part_blob_id(blob_id: str, part_id: str) -> str:
    return f"{blob_id}_{part_id}"


def split_blob_id(value: str) -> tuple[str, list[str]] | None:
    """The stored blob and the chain of partIds a (part) blob id names, or None."""
    root, *parts = value.split("_")
    if not is_blob_id(root) or not all(p.isascii() and p.isdigit() for p in parts):
        return None
    return root, parts


def _extract(octets: bytes, parts: list[str]) -> bytes | None:
    for part_id in parts:
        found = part_bytes(octets, part_id)
        if found is None:
            return None
        octets = found
    return octets


async def _from_message(
    blobs: BlobStore, root: str, parts: list[str], extract: Callable[[bytes, list[str]], T]
) -> T | None:
    """``extract(message octets, partIds)`` in a worker thread, within the extraction limit."""
    async with _extractions():
        octets = await blobs.get(root)
        return None if octets is None else await asyncio.to_thread(extract, octets, parts)


async def _visible_root(
    data: DataStore, account_id: str, blob_id: str
) -> tuple[str, list[str]] | None:
    split = split_blob_id(blob_id) if isinstance(blob_id, str) else None
    if split is None or not await data.blob_visible(account_id, split[0], time.time()):
        return None
    return split


async def visible(data: DataStore, account_id: str, blob_id: str) -> bool:
    """May the account see the (message holding the) whole or part blob?"""
    return await _visible_root(data, account_id, blob_id) is not None


async def read_blob(
    data: DataStore, blobs: BlobStore, account_id: str, blob_id: str
) -> bytes | None:
    """The octets of a whole or part blob, if the account may see it."""
    split = await _visible_root(data, account_id, blob_id)
    if split is None:
        return None
    root, parts = split
    if not parts:
        return await blobs.get(root)
    return await _from_message(blobs, root, parts, _extract)


class SpooledPart:
    """A part extracted for download (a ``BlobStream``)."""

    def __init__(self, spool: IO[bytes], size: int) -> None:
        self._spool = spool
        self.size = size

    async def read(self, max_octets: int) -> bytes:
        return await asyncio.to_thread(self._spool.read, max_octets)

    async def close(self) -> None:
        self._spool.close()


def _spool_part(octets: bytes, parts: list[str]) -> SpooledPart | None:
    part = _extract(octets, parts)
    if part is None:
        return None
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 (closed by SpooledPart)
    spool.write(part)
    spool.seek(0)
    return SpooledPart(spool, len(part))


async def open_blob(
    data: DataStore, blobs: BlobStore, account_id: str, blob_id: str
) -> BlobStream | None:
    """A whole or part blob to read a chunk at a time, if the account may see it."""
    split = await _visible_root(data, account_id, blob_id)
    if split is None:
        return None
    root, parts = split
    if not parts:
        return await blobs.open_stream(root)
    return await _from_message(blobs, root, parts, _spool_part)
