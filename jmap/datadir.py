"""The data directory: what makes a folder Fulmar's, and keeping it private.

The database holds password hashes, token digests, every header and the search index, so
everything under the data directory is for the server's user only: folders 0700, files 0600.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DATABASE = "fulmar.db"


def holds_data(data_dir: Path) -> bool:
    """Is ``data_dir`` a Fulmar data directory (one ``fulmar serve`` made)?"""
    return (data_dir / DATABASE).is_file()


def make_private_dir(path: Path) -> None:
    """Create ``path`` and its missing parents as 0700; an existing ``path`` is made 0700."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by another process
            folder.mkdir(mode=0o700)
    target = missing[0] if missing else path
    if target.stat().st_mode & 0o077:
        target.chmod(0o700)


def make_private_file(path: Path) -> None:
    """Create ``path`` empty as 0600 if missing; an existing one is made 0600.

    SQLite creates ``-wal`` and ``-shm`` with the permissions of the database file, so a
    private database keeps its companions private.
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)


def make_database_private(database: Path) -> None:
    """The database's folder 0700, the database and its companions 0600."""
    make_private_dir(database.parent)
    make_private_file(database)
    for suffix in ("-wal", "-shm"):
        companion = database.with_name(database.name + suffix)
        if companion.exists():
            make_private_file(companion)
