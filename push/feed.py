"""From bus events to StateChange objects for one push client (WebSocket or EventSource).

``AccountWatcher`` (one per node) holds one bus subscription per watched account, however many
clients watch it, and answers each burst of events with one read of the account's current type
states, which it hands to every local client. Reading the store rather than trusting the
event means a lost or reordered event costs latency, never correctness.

``PushFeed`` (one per client) turns those states into StateChange objects through its
``PushView``, coalescing whatever piles up while the client is slow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from jmap.store.base import DataStore

from .bus import Bus, StateMap
from .state import PushView, TypeStates

log = logging.getLogger("fulmar.push")

StatesCallback = Callable[[str, TypeStates], None]

#: seconds after ``written_elsewhere`` to look once more: a write is seen when it reaches the
#: write-ahead log, but readers see its commit only once it is synced, a little later
FOLLOW_UPS = (0.2, 0.8, 3.0)


class AccountWatcher:
    def __init__(self, bus: Bus, data: DataStore, poll_seconds: float = 0) -> None:
        self.bus = bus
        self.data = data
        self.poll_seconds = poll_seconds
        self._callbacks: dict[str, set[StatesCallback]] = {}
        self._unsubscribe: dict[str, Callable[[], None]] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._dirty: set[str] = set()
        self._modseqs: dict[str, int] = {}
        self._poller: asyncio.Task[None] | None = None
        self._nudged = asyncio.Event()

    def start(self, watch_for_writes: bool = False) -> None:
        """Also look at the watched accounts every ``poll_seconds`` and, with
        ``watch_for_writes``, whenever ``written_elsewhere`` is called: a change made where no
        bus reaches (another process without Redis, ``fulmar import``) is pushed too."""
        if self.poll_seconds > 0 or watch_for_writes:
            self._poller = asyncio.create_task(self._poll(), name="push-poll")

    def written_elsewhere(self) -> None:
        """The database was written, maybe by another process: look again soon."""
        self._nudged.set()

    async def _poll(self) -> None:
        follow_ups: list[float] = []
        while True:
            wait = follow_ups.pop(0) if follow_ups else self.poll_seconds or None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._nudged.wait(), wait)
            if self._nudged.is_set():
                self._nudged.clear()
                follow_ups = list(FOLLOW_UPS)
            try:
                current = await self.data.account_modseqs(list(self._callbacks))
            except Exception:
                log.exception("cannot poll the watched accounts")
                continue
            for account_id, modseq in current.items():
                # A first sighting refreshes too: the account may have moved between a
                # client's first read of it and now. Clients only hear of real advances.
                if self._modseqs.get(account_id) != modseq:
                    self._modseqs[account_id] = modseq
                    self._on_event(account_id, {})
            for account_id in set(self._modseqs) - set(current):
                del self._modseqs[account_id]

    def watch(self, account_id: str, callback: StatesCallback) -> Callable[[], None]:
        callbacks = self._callbacks.setdefault(account_id, set())
        callbacks.add(callback)
        if account_id not in self._unsubscribe:
            self._unsubscribe[account_id] = self.bus.subscribe(account_id, self._on_event)

        def unwatch() -> None:
            callbacks = self._callbacks.get(account_id)
            if callbacks is None:
                return
            callbacks.discard(callback)
            if not callbacks:
                del self._callbacks[account_id]
                self._unsubscribe.pop(account_id)()

        return unwatch

    async def states(self, account_id: str) -> TypeStates:
        return await self.data.type_states(account_id)

    def _on_event(self, account_id: str, changed: StateMap) -> None:
        if account_id in self._running:
            self._dirty.add(account_id)
            return
        self._running[account_id] = asyncio.create_task(self._refresh(account_id))

    async def _refresh(self, account_id: str) -> None:
        try:
            while account_id in self._callbacks:
                self._dirty.discard(account_id)
                try:
                    states = await self.data.type_states(account_id)
                except Exception:
                    log.exception("cannot read the states of %s", account_id)
                    await asyncio.sleep(1)
                    continue
                for callback in list(self._callbacks.get(account_id, ())):
                    try:
                        callback(account_id, states)
                    except Exception:
                        log.exception("push callback failed")
                if account_id not in self._dirty:
                    break
        finally:
            self._running.pop(account_id, None)
            self._dirty.discard(account_id)

    async def close(self) -> None:
        tasks = [*self._running.values(), *([self._poller] if self._poller else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for unsubscribe in self._unsubscribe.values():
            unsubscribe()
        self._unsubscribe.clear()
        self._callbacks.clear()


class PushFeed:
    """The StateChanges for one client, over the accounts it can see."""

    def __init__(self, watcher: AccountWatcher, view: PushView) -> None:
        self.watcher = watcher
        self.view = view
        self._pending: dict[str, dict[str, str]] = {}
        self._wakeup = asyncio.Event()
        self._started: set[str] = set()
        self._early: dict[str, TypeStates] = {}
        self._unwatch: list[Callable[[], None]] = []
        self.stopped = False

    async def open(self, since: dict[str, int] | None = None) -> None:
        """Start watching; with ``since`` (a resumed pushState) queue what was missed."""
        self._unwatch = [self.watcher.watch(a, self._on_states) for a in self.view.account_ids]
        await self.watcher.bus.ready()
        for account_id in self.view.account_ids:
            states = await self.watcher.states(account_id)
            start = None if since is None else since.get(account_id, 0)
            self.view.start(account_id, states, start)
            self._started.add(account_id)
            if since is not None:
                self._on_states(account_id, states)
            early = self._early.pop(account_id, None)
            if early is not None:
                self._on_states(account_id, early)

    def close(self) -> None:
        for unwatch in self._unwatch:
            unwatch()
        self._unwatch = []

    def _on_states(self, account_id: str, states: TypeStates) -> None:
        if account_id not in self._started:
            merged = self._early.setdefault(account_id, {})
            for name, modseq in states.items():
                merged[name] = max(modseq, merged.get(name, 0))
            return
        changed = self.view.advance(account_id, states)
        if changed:
            self._pending.setdefault(account_id, {}).update(changed)
            self._wakeup.set()

    def has_pending(self) -> bool:
        return bool(self._pending)

    def stop(self) -> None:
        """Make ``next`` return None from now on (the server is shutting down)."""
        self.stopped = True
        self._wakeup.set()

    async def next(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next StateChange (with its pushState), or None after ``timeout`` seconds
        or once stopped."""
        if self.stopped:
            return None
        if not self._pending:
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except TimeoutError:
                return None
            if self.stopped:
                return None
        changed, self._pending = self._pending, {}
        return {"@type": "StateChange", "changed": changed, "pushState": self.view.push_state()}
