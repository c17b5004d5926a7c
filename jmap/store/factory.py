"""Builds the data store and the search index the server, the CLI and the tests all use."""

from __future__ import annotations

from pathlib import Path

from ..config import Config
from .base import DataStore, StoreError
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

    With a MongoDB URL, the data role and the mail index (and its own text index) live in
    MongoDB; without, the embedded SQLite database at ``path``, searching by FTS5 in the
    same database or by ``search``, fed through the job queue.
    """
    if mongodb_url:
        if search is not None:
            raise StoreError("Meilisearch is not yet fed from the MongoDB data role")
        from .mongo_mail import MongoMailStore  # only deployments on MongoDB import pymongo

        return MongoMailStore(mongodb_url)
    return SqliteMailStore(path, search=search)
