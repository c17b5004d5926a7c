"""Backends under test for the storage-role conformance suite.

Every test in ``tests/store`` talks to a role only through the interfaces of
``jmap/store/base.py``. A backend joins the suite by adding a factory to
``DATA_BACKENDS`` or ``BLOB_BACKENDS``: the factory gets a per-test ``location`` (a tmp
directory, usable as a unique name) and returns a fresh, unopened store; calling it again
with the same location must give a store over the same data (close + reopen).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from jmap.store.base import BlobStore, DataStore
from jmap.store.files import FileBlobStore
from jmap.store.sqlite import SqliteDataStore

T = TypeVar("T")


@dataclass(frozen=True)
class DataBackend:
    name: str
    make: Callable[[Path], DataStore]


@dataclass(frozen=True)
class BlobBackend:
    name: str
    make: Callable[[Path], BlobStore]
    #: partial writes left behind (temp files, unfinished multipart uploads…)
    leftovers: Callable[[Path], list[Any]]


def _sqlite(location: Path) -> DataStore:
    return SqliteDataStore(location / "data" / "fulmar.db")


def _files(location: Path) -> BlobStore:
    return FileBlobStore(location / "blobs")


def _files_leftovers(location: Path) -> list[Any]:
    tmp = location / "blobs" / "tmp"
    return sorted(tmp.iterdir()) if tmp.exists() else []


DATA_BACKENDS = [DataBackend("sqlite", _sqlite)]
BLOB_BACKENDS = [BlobBackend("files", _files, _files_leftovers)]


class DataRunner:
    """Opens a data store in a fresh event loop, runs a coroutine on it, closes it."""

    def __init__(self, backend: DataBackend, location: Path) -> None:
        self.backend = backend
        self.location = location

    def __call__(self, body: Callable[[DataStore], Awaitable[T]]) -> T:
        async def main() -> T:
            data = self.backend.make(self.location)
            await data.open()
            try:
                return await body(data)
            finally:
                await data.close()

        return asyncio.run(main())


class BlobRunner:
    def __init__(self, backend: BlobBackend, location: Path) -> None:
        self.backend = backend
        self.location = location

    def __call__(self, body: Callable[[BlobStore], Awaitable[T]]) -> T:
        async def main() -> T:
            blobs = self.backend.make(self.location)
            try:
                return await body(blobs)
            finally:
                await blobs.close()

        return asyncio.run(main())

    def leftovers(self) -> list[Any]:
        return self.backend.leftovers(self.location)


@pytest.fixture(params=DATA_BACKENDS, ids=lambda b: b.name)
def run_data(request: pytest.FixtureRequest, tmp_path: Path) -> DataRunner:
    return DataRunner(request.param, tmp_path)


@pytest.fixture(params=BLOB_BACKENDS, ids=lambda b: b.name)
def run_blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobRunner:
    return BlobRunner(request.param, tmp_path)
