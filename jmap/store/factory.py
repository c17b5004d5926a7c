"""Builds the data store the server, the CLI and the tests all use."""

from __future__ import annotations

from pathlib import Path

from .base import DataStore
from .sqlite_mail import SqliteMailStore


def open_data_store(path: Path, mongodb_url: str | None = None) -> DataStore:
    """The data role with its mail and search indexes; call ``open()``.

    With a MongoDB URL, the data role and the mail index live in MongoDB; without, the
    embedded SQLite database at ``path``.
    """
    if mongodb_url:
        from .mongo_mail import MongoMailStore  # only deployments on MongoDB import pymongo

        return MongoMailStore(mongodb_url)
    return SqliteMailStore(path)
