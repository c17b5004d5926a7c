"""Builds the data store and the search index the server, the CLI and the tests all use."""

from __future__ import annotations

from pathlib import Path

from ..config import Config
from .base import DataStore
from .search import SearchIndex
from .sqlite_mail import SqliteMailStore


def open_search_index(config: Config) -> SearchIndex | None:
    """The search engine the settings name; None: search follows the data role (FTS5)."""
    if not config.meilisearch_url:
        return None
    from .meili import MeiliSearchIndex  # the client is loaded only where it is used

    return MeiliSearchIndex(
        config.meilisearch_url, config.meilisearch_key, max_hits=max(1, config.meilisearch_max_hits)
    )


def open_data_store(
    path: Path, mongodb_url: str | None = None, search: SearchIndex | None = None
) -> DataStore:
    """The data role with its mail index; call ``open()``.

    With a MongoDB URL, the data role and the mail index live in MongoDB; without, in the
    embedded SQLite database at ``path``. Either searches its own index (MongoDB's tokens,
    FTS5) or ``search``, fed through the job queue of the data role.
    """
    if mongodb_url:
        from .mongo_mail import MongoMailStore  # only deployments on MongoDB import pymongo

        return MongoMailStore(mongodb_url, search=search)
    return SqliteMailStore(path, search=search)
