"""Notices writes to the database made by other processes (``fulmar import``, a second node
without Redis), which no bus event announces.

SQLite in WAL mode appends every commit to ``fulmar.db-wal`` (and a checkpoint writes
``fulmar.db``), so a change of either file means "some account may have changed". The files
are watched with the operating system's file events (inotify on Linux, through
``watchfiles``): no polling, and a write is seen within ``STEP_MS`` or so (its commit may
become visible to readers a little later, once synced: the caller looks again shortly
after). Writes of this process are seen too; the caller's check is cheap and finds nothing
new for those. When the watcher cannot run, the caller's periodic poll still finds every
change, only later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("fulmar.push")

#: events closer together than this are one batch (ms); a batch ends within DEBOUNCE_MS
STEP_MS = 50
DEBOUNCE_MS = 250


class DatabaseWatcher:
    def __init__(self, database: Path, on_change: Callable[[], None]) -> None:
        self.database = database
        self.on_change = on_change
        self._names = {database.name, f"{database.name}-wal"}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="push-db-watch")

    def _wanted(self, change: object, path: str) -> bool:
        return Path(path).name in self._names

    async def _run(self) -> None:
        try:
            from watchfiles import awatch

            async for _ in awatch(
                self.database.parent,
                watch_filter=self._wanted,
                debounce=DEBOUNCE_MS,
                step=STEP_MS,
                recursive=False,
            ):
                self.on_change()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # no inotify, watch limit reached, ...: the poll still works
            log.warning("cannot watch %s (%s); relying on the poll", self.database, exc)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
