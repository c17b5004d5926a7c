"""Builds the data store the server, the CLI and the tests all use."""

from __future__ import annotations

from pathlib import Path

from .sqlite_mail import SqliteMailStore


def open_data_store(path: Path) -> SqliteMailStore:
    """The embedded data role (SQLite) with its mail and search indexes; call ``open()``."""
    return SqliteMailStore(path)
