"""Backends under test for the storage-role conformance suite.

Every test in ``tests/store`` talks to a role only through the interfaces of
``jmap/store/base.py``. A backend joins the suite by adding a factory to
``DATA_BACKENDS`` or ``BLOB_BACKENDS``: the factory gets a per-test ``location`` (a tmp
directory, usable as a unique name) and returns a fresh, unopened store; calling it again
with the same location must give a store over the same data (close + reopen). A backend
that talks to a server names the session fixture that starts it (``server_fixture``); its
``make`` and ``leftovers`` then get that server as a second argument. A MongoDB data backend
names its server (``server``); its factory then also gets the server's URL first.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from jmap.store.base import BlobStore, DataStore
from jmap.store.files import FileBlobStore
from jmap.store.mongo import MongoDataStore
from jmap.store.s3 import S3BlobStore, blob_id_of_key
from jmap.store.sqlite import SqliteDataStore
from tests.mongo.fixtures import mongo_url
from tests.mongo.servers import EMULATORS, REAL, REAL_URL_ENV
from tests.s3servers import S3Server, bucket_for, moto_s3, s3rver

__all__ = ["moto_s3", "s3rver"]  # session fixtures of the S3 backends

T = TypeVar("T")


@dataclass(frozen=True)
class DataBackend:
    name: str
    make: Callable[..., DataStore]
    #: the MongoDB backend name whose server ``make`` needs (its URL comes first)
    server: str | None = None


@dataclass(frozen=True)
class BlobBackend:
    name: str
    make: Callable[..., BlobStore]
    #: partial writes left behind (temp files, unfinished multipart uploads…)
    leftovers: Callable[..., list[Any]]
    #: the session fixture of the server the backend talks to, if any
    server_fixture: str | None = None


def _sqlite(location: Path) -> DataStore:
    return SqliteDataStore(location / "data" / "fulmar.db")


def _files(location: Path) -> BlobStore:
    return FileBlobStore(location / "blobs")


def _files_leftovers(location: Path) -> list[Any]:
    tmp = location / "blobs" / "tmp"
    return sorted(tmp.iterdir()) if tmp.exists() else []


def _s3(location: Path, server: S3Server) -> BlobStore:
    spool = location / "spool"
    spool.mkdir(exist_ok=True)
    return S3BlobStore(server.location(bucket_for(location)), spool)


def _s3_leftovers(location: Path, server: S3Server) -> list[Any]:
    """Unfinished multipart uploads, objects that are not blobs, spool files."""
    store = S3BlobStore(server.location(bucket_for(location)), location / "spool")
    client = store._client
    found: list[Any] = []
    try:
        if client.bucket_exists(store.bucket):
            uploads = server.unfinished_uploads(client, store.bucket)
            found += [("upload", name) for name in uploads]
            objects = client.list_objects(store.bucket, recursive=True)
            found += [("object", o.object_name) for o in objects if not _is_blob(o.object_name)]
    finally:
        asyncio.run(store.close())
    spool = location / "spool"
    found += sorted(spool.iterdir()) if spool.exists() else []
    return found


def _is_blob(key: str | None) -> bool:
    return blob_id_of_key(key or "") is not None


def _mongo(url: str, location: Path) -> DataStore:
    """A database of its own per test location, on the session's server."""
    name = "t" + hashlib.sha1(str(location).encode()).hexdigest()[:20]
    return MongoDataStore(url, database=name)


DATA_BACKENDS = [
    DataBackend("sqlite", _sqlite),
    *(DataBackend(name, _mongo, server=name) for name in EMULATORS),
    *([DataBackend(REAL, _mongo, server=REAL)] if os.environ.get(REAL_URL_ENV) else []),
]
BLOB_BACKENDS = [
    BlobBackend("files", _files, _files_leftovers),
    BlobBackend("s3-moto", _s3, _s3_leftovers, "moto_s3"),
    BlobBackend("s3-s3rver", _s3, _s3_leftovers, "s3rver"),
]


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
    backend: DataBackend = request.param
    if backend.server is not None:
        url = mongo_url(request, backend.server)
        backend = DataBackend(backend.name, functools.partial(backend.make, url))
    return DataRunner(backend, tmp_path)


@pytest.fixture(params=BLOB_BACKENDS, ids=lambda b: b.name)
def run_blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobRunner:
    backend: BlobBackend = request.param
    if backend.server_fixture:
        server = request.getfixturevalue(backend.server_fixture)
        make = functools.partial(backend.make, server=server)
        leftovers = functools.partial(backend.leftovers, server=server)
        backend = BlobBackend(backend.name, make, leftovers)
    return BlobRunner(backend, tmp_path)
