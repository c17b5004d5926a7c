"""Builds the data store the server, the CLI and the tests all use."""

from __future__ import annotations

from pathlib import Path

from ..config import Config
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


def open_data_store(path: Path, search: SearchIndex | None = None) -> SqliteMailStore:
    """The embedded data role (SQLite) with its mail index; search by FTS5 in the same
    database, or by ``search``, fed through the job queue. Call ``open()``."""
    return SqliteMailStore(path, search=search)
