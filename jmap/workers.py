"""The worker pool: CPU-heavy work (MIME parsing, HTML to text, body values, snippets) runs
in separate processes with a time budget, so the event loop only routes and awaits.

A thread could neither bound the CPU a task takes nor stop it; a process can be killed.
Each task gets ``cpu_budget_seconds`` of wall-clock time in its worker (at least the CPU
time it used); past that its worker is killed and replaced, and the caller gets
``BudgetExceeded``. Tasks take and return plain data (bytes in, dicts out), so pickling
costs little; a task's function must be importable by name (defined at module level).
Workers are forked from a fork server (a fresh interpreter with the mail modules loaded),
never from the server process, so they inherit none of its threads or sockets.

The pool is shared by all users, so one user's tasks may hold at most half the workers
at once (at least one): another user's task always finds a worker soon.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pebble import ProcessExpired, ProcessPool

T = TypeVar("T")

#: modules the fork server imports once, so a new worker starts with them loaded
PRELOAD = ("jmap.message", "methods.email_tasks")


class BudgetExceeded(Exception):
    """A task ran past the time budget (or its worker died) and was stopped."""


class WorkerPool:
    """A pool of worker processes; ``run`` awaits one task without blocking the loop."""

    def __init__(self, processes: int, budget_seconds: float, preload: Sequence[str] = PRELOAD):
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(preload))
        self.budget = budget_seconds
        processes = processes or os.cpu_count() or 1
        self._pool = ProcessPool(max_workers=processes, context=context)
        self._share = max(1, processes // 2)
        self._starting: threading.Thread | None = None
        self._owners: weakref.WeakValueDictionary[str, asyncio.Semaphore] = (
            weakref.WeakValueDictionary()
        )

    async def run(self, owner: str, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker for ``owner`` (a principal id); raises
        ``BudgetExceeded`` past the budget."""
        share = self._owners.get(owner)
        if share is None:
            share = self._owners[owner] = asyncio.Semaphore(self._share)
        async with share:
            future = self._pool.schedule(fn, args, timeout=self.budget or None)
            try:
                return await asyncio.wrap_future(future)
            except (TimeoutError, ProcessExpired) as exc:
                raise BudgetExceeded(f"{fn.__name__} stopped: {exc}") from None
            except asyncio.CancelledError:
                future.cancel()  # a task nobody waits for any more frees its worker
                raise

    def start(self) -> None:
        """Start the workers now, not on the first task, in a thread: starting the fork
        server and its preload takes seconds of CPU, which the server need not wait for
        before serving (a task scheduled meanwhile waits for its worker)."""
        self._starting = threading.Thread(target=self._pool.schedule, args=(os.getpid,))
        self._starting.start()

    async def close(self) -> None:
        if self._starting is not None:
            await asyncio.to_thread(self._starting.join)
        self._pool.stop()
        await asyncio.to_thread(self._pool.join)
