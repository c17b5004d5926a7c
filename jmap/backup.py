"""``fulmar backup`` and ``fulmar restore`` for the embedded backends (SQLite and files).

A backup is a data directory of its own: ``fulmar.db``, ``blobs/`` and every other file of
the data directory (the VAPID key ``vapid.pem``…). It is taken while the server runs and
takes writes, and it is consistent:

1. the blob files present now are copied (the bulk of the bytes; the server goes on);
2. the database is copied with SQLite's online backup API in one step, so in one read
   transaction: a snapshot of one instant, while writers go on in the WAL;
3. the blobs the snapshot holds (Emails, uploads) that step 1 did not find are copied.

Blobs are content-addressed and never change, and the server writes a blob before the
transaction that references it commits, so every blob the snapshot holds was on disk when
it was taken. The server deletes only blobs that no one holds any more (a removed account,
an expired upload): one the snapshot holds can go only in the short step 3, and is then
reported. Blobs copied in step 1 that the snapshot does not hold are swept as orphans by
the restored server's housekeeping.

A restore goes into a new or empty folder; a folder with data is put aside only with
``force``. Everything written is private (folders 0700, files 0600).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .datadir import DATABASE, make_private_dir, make_private_file
from .store.base import is_blob_id

BLOBS = "blobs"
#: files of the data directory that are not copied as files (the database is snapshotted)
_NOT_COPIED = {DATABASE, DATABASE + "-wal", DATABASE + "-shm", DATABASE + "-journal", BLOBS}


class BackupError(Exception):
    """A backup or restore cannot be done as asked (one line for the operator)."""


@dataclass
class BackupReport:
    blobs: int = 0
    files: list[str] = field(default_factory=list)
    #: blobs the snapshot holds that were deleted before they could be copied
    missing: list[str] = field(default_factory=list)


def backup(data_dir: Path, dest: Path) -> BackupReport:
    """Copy ``data_dir`` (a live one too) into ``dest``, a new or empty folder."""
    data_dir, dest = data_dir.resolve(), dest.resolve()
    if dest == data_dir or dest.is_relative_to(data_dir):
        raise BackupError(f"{dest} is inside the data directory: back up to another folder")
    _must_be_empty(dest, "the backup")
    make_private_dir(dest)
    report = BackupReport()
    copied = {blob for blob in _blob_files(data_dir / BLOBS) if _copy_blob(data_dir, dest, blob)}
    _snapshot(data_dir / DATABASE, dest / DATABASE)
    for blob in sorted(_held_blobs(dest / DATABASE) - copied):
        if _copy_blob(data_dir, dest, blob):
            copied.add(blob)
        else:
            report.missing.append(blob)
    report.blobs = len(copied)
    for item in sorted(data_dir.iterdir()):
        if item.name not in _NOT_COPIED:
            _copy_tree(item, dest / item.name)
            report.files.append(item.name)
    os.sync()  # a backup that is not on disk is no backup
    return report


def restore(source: Path, data_dir: Path, force: bool = False) -> Path | None:
    """Make ``data_dir`` a copy of the backup ``source``. A ``data_dir`` with data is put
    aside (renamed) with ``force`` only; returns where, or None."""
    source, data_dir = source.resolve(), data_dir.resolve()
    if not (source / DATABASE).is_file():
        raise BackupError(f"{source} is not a Fulmar backup (it has no {DATABASE})")
    if data_dir == source:
        raise BackupError("the backup and the data directory are the same folder")
    _check_database(source / DATABASE)
    occupied = data_dir.exists() and any(data_dir.iterdir())
    if occupied and not force:
        raise BackupError(
            f"{data_dir} holds data already: restore into a new or empty folder, or stop the "
            "server and add --force to put the current data aside"
        )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    staging = data_dir.with_name(f"{data_dir.name}.restoring-{stamp}")
    make_private_dir(staging.parent)
    _copy_tree(source, staging)
    aside = None
    if occupied:
        aside = data_dir.with_name(f"{data_dir.name}.before-restore-{stamp}")
        data_dir.rename(aside)
    elif data_dir.exists():
        data_dir.rmdir()
    staging.rename(data_dir)
    os.sync()
    return aside


def _must_be_empty(folder: Path, what: str) -> None:
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise BackupError(f"{folder} is not an empty folder: {what} goes into a new or empty one")


def _blob_path(root: Path, blob_id: str) -> Path:
    digest = blob_id[1:]
    return root / BLOBS / digest[:2] / digest[2:4] / digest


def _blob_files(blobs: Path) -> Iterator[str]:
    for directory in sorted(blobs.glob("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]")):
        for entry in os.scandir(directory):
            if is_blob_id("G" + entry.name):
                yield "G" + entry.name


def _copy_blob(data_dir: Path, dest: Path, blob_id: str) -> bool:
    """Copy one blob; False if it is gone (deleted meanwhile)."""
    target = _blob_path(dest, blob_id)
    make_private_dir(target.parent)
    try:
        _copy_file(_blob_path(data_dir, blob_id), target)
    except FileNotFoundError:
        return False
    return True


def _copy_file(source: Path, target: Path) -> None:
    with source.open("rb") as src:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)


def _copy_tree(source: Path, target: Path) -> None:
    """Copy a file or a folder, keeping it private (symbolic links are not followed)."""
    if source.is_symlink():
        return
    if not source.is_dir():
        _copy_file(source, target)
        return
    make_private_dir(target)
    for item in sorted(source.iterdir()):
        _copy_tree(item, target / item.name)


def _snapshot(database: Path, target: Path) -> None:
    """Copy the live database in one step of the online backup API (one read transaction)."""
    partial = target.with_name(target.name + ".partial")
    make_private_file(partial)
    src = sqlite3.connect(database, timeout=30)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)  # pages=-1: all pages in one step
            # a single self-contained file (the server turns WAL back on when it opens it)
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    finally:
        src.close()
    _check_database(partial)
    partial.rename(target)


def _check_database(database: Path) -> None:
    try:
        conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            (result,) = conn.execute("PRAGMA quick_check").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise BackupError(f"{database} is not a usable database: {exc}") from None
    if result != "ok":
        raise BackupError(f"{database} is damaged: {result}")


def _held_blobs(database: Path) -> set[str]:
    """Blob ids an account holds in this database (by an object or an upload)."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT blob_id FROM blob_refs UNION SELECT blob_id FROM uploads")
        return {row[0] for row in rows if is_blob_id(row[0])}
    finally:
        conn.close()
