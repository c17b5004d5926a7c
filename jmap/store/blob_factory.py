"""Builds the blob store the server and the CLI use: S3 when ``s3_url`` is set, else files
under the data directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ..config import Config
from ..datadir import make_private_dir
from ..s3_url import parse_s3_url
from .base import BlobStore, DataStore
from .blob_journal import JournalledBlobStore
from .files import FileBlobStore

#: under the data directory: where streamed uploads are spooled before they go to S3
SPOOL = "spool"


async def open_blob_store(config: Config, journal: DataStore | None = None) -> BlobStore:
    """The configured blob role, ready: an S3 bucket is checked (credentials included) and
    created if missing, so a wrong ``s3_url`` fails here rather than at the first upload.
    With ``journal``, every write is recorded in that data role's blob write journal (the
    server's orphan sweep reads it; see ``blob_journal``)."""
    store = await _open(config)
    return store if journal is None else JournalledBlobStore(store, journal)


async def _open(config: Config) -> BlobStore:
    if not config.s3_url:
        return FileBlobStore(config.blob_dir)
    from .s3 import S3BlobStore  # minio is imported only where S3 is used

    spool = config.data_dir / SPOOL
    make_private_dir(spool)
    store = S3BlobStore(parse_s3_url(config.s3_url), spool)
    try:
        await store.open()
    except BaseException:
        await store.close()
        raise
    return store


@asynccontextmanager
async def blob_store(config: Config) -> AsyncIterator[BlobStore]:
    """``open_blob_store`` for one command: closed when the block ends."""
    store = await open_blob_store(config)
    try:
        yield store
    finally:
        await store.close()
