"""The embedded deployment ``fulmar migrate`` copies from: the SQLite database read in
batches (never a whole table in memory) and the blob files under the data directory.

Reads run in a worker thread, each account inside one read transaction (a WAL snapshot),
so an account is copied as of one instant even if something writes meanwhile.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from .datadir import DATABASE
from .store.base import is_blob_id

#: rows fetched per batch
BATCH = 500
Row = tuple[Any, ...]


class SqliteSource:
    """Read-only use of a data directory's ``fulmar.db`` (opened read-write only because a
    WAL database cannot be opened read-only without its ``-shm`` file; nothing is written)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.path = self.data_dir / DATABASE
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA query_only=ON")

    def close(self) -> None:
        self._conn.close()

    async def rows(self, sql: str, params: tuple[Any, ...] = ()) -> AsyncIterator[list[Row]]:
        """The rows of a query, a batch at a time."""
        cursor = await asyncio.to_thread(self._conn.execute, sql, params)
        while rows := await asyncio.to_thread(cursor.fetchmany, BATCH):
            yield rows

    async def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        """A small result (a few rows) in full."""
        return await asyncio.to_thread(lambda: self._conn.execute(sql, params).fetchall())

    async def one(self, sql: str, params: tuple[Any, ...] = ()) -> Row | None:
        return await asyncio.to_thread(lambda: self._conn.execute(sql, params).fetchone())

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[None]:
        """Every read inside sees the database as of one instant."""
        await asyncio.to_thread(self._conn.execute, "BEGIN")
        try:
            yield
        finally:
            await asyncio.to_thread(self._conn.execute, "COMMIT")

    async def fingerprint(self) -> dict[str, str]:
        """What identifies this deployment to a target it is being copied into: the database's
        path and its first principal (ids are random: two deployments never share one)."""
        first = await self.one("SELECT id FROM principals ORDER BY created, id LIMIT 1")
        return {"path": str(self.path), "first_principal": first[0] if first else ""}

    async def account_ids(self) -> AsyncIterator[list[str]]:
        async for rows in self.rows("SELECT id FROM accounts ORDER BY id"):
            yield [r[0] for r in rows]

    async def signature(self, account_id: str) -> str | None:
        """Changes whenever anything of the account changes (None: no such account):
        its modseq, id counter and log floor, and its uploads (which move no modseq)."""
        row = await self.one(
            "SELECT a.modseq, a.next_id, a.log_floor, COUNT(u.blob_id), "
            "COALESCE(MAX(u.expires), 0) FROM accounts a "
            "LEFT JOIN uploads u ON u.account_id = a.id WHERE a.id = ? GROUP BY a.id",
            (account_id,),
        )
        return None if row is None else "/".join(str(v) for v in row)


def blob_dirs(data_dir: Path) -> list[Path]:
    """The blob folders (``blobs/aa/bb``, at most 65,536), in a stable order."""
    return sorted((data_dir / "blobs").glob("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]"))


def blobs_in(directory: Path) -> tuple[list[tuple[str, Path]], str]:
    """The blob files of one folder, (blob id, path) by name, and the folder's signature
    (how many, the latest write): a folder whose signature is unchanged holds the same
    blobs (content-addressed files are only ever added or removed)."""
    found: list[tuple[str, Path]] = []
    latest = 0
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        if is_blob_id("G" + entry.name) and entry.is_file():
            found.append(("G" + entry.name, Path(entry.path)))
            latest = max(latest, entry.stat().st_mtime_ns)
    return found, f"{len(found)}:{latest}"


def blob_files(data_dir: Path) -> Iterator[tuple[str, Path]]:
    """Every blob file under the data directory: (blob id, path), in a stable order."""
    for directory in blob_dirs(data_dir):
        yield from blobs_in(directory)[0]


async def hash_stream(stream: Any) -> tuple[str, int]:
    """The blob id and length of an open ``BlobStream``'s bytes, read a chunk at a time."""
    digest = hashlib.sha256()
    size = 0
    try:
        while chunk := await stream.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    finally:
        await stream.close()
    return "G" + digest.hexdigest(), size
