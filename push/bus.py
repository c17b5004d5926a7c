"""The bus role: state-change events fanned out to subscribers (RFC 8620 §7.1).

In-process by default (``InProcessBus``); ``push.redis_bus.RedisBus`` carries the same events
between nodes. An event is published only after its transaction commits; a subscriber that
misses one still converges, because every event carries full states and the push code reads
the current states from the store when it is told something changed.

A listener called with an empty ``changed`` map is told "something may have changed, look
again": a bus that lost its connection says so once it is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

StateMap = dict[str, str]
Listener = Callable[[str, StateMap], None]

log = logging.getLogger("fulmar.bus")


class Bus(Protocol):
    async def publish(self, account_id: str, changed: StateMap) -> None: ...

    def subscribe(self, account_id: str, listener: Listener) -> Callable[[], None]:
        """Call ``listener(account_id, changed)`` for each event; returns an unsubscribe."""

    def add_publish_hook(self, hook: Listener) -> None:
        """Call ``hook`` for each event published by this process (not those of other nodes)."""

    async def ready(self) -> None:
        """Return once every subscription made so far receives events."""

    async def close(self) -> None: ...


class Listeners:
    """Listeners by account, shared by the bus implementations."""

    def __init__(self) -> None:
        self.by_account: dict[str, set[Listener]] = {}
        self.hooks: list[Listener] = []

    def add(self, account_id: str, listener: Listener) -> bool:
        """Add a listener; True if it is the account's first."""
        listeners = self.by_account.setdefault(account_id, set())
        listeners.add(listener)
        return len(listeners) == 1

    def remove(self, account_id: str, listener: Listener) -> bool:
        """Remove a listener; True if the account has none left."""
        listeners = self.by_account.get(account_id)
        if listeners is None:
            return False
        listeners.discard(listener)
        if listeners:
            return False
        del self.by_account[account_id]
        return True

    def deliver(self, account_id: str, changed: StateMap) -> None:
        for listener in list(self.by_account.get(account_id, ())):
            try:
                listener(account_id, changed)
            except Exception:
                log.exception("bus listener failed")

    def run_hooks(self, account_id: str, changed: StateMap) -> None:
        for hook in self.hooks:
            try:
                hook(account_id, changed)
            except Exception:
                log.exception("publish hook failed")


class InProcessBus:
    """Delivers events to listeners in this process."""

    def __init__(self) -> None:
        self._listeners = Listeners()

    async def publish(self, account_id: str, changed: StateMap) -> None:
        self._listeners.deliver(account_id, changed)
        self._listeners.run_hooks(account_id, changed)
        await asyncio.sleep(0)

    def subscribe(self, account_id: str, listener: Listener) -> Callable[[], None]:
        self._listeners.add(account_id, listener)

        def unsubscribe() -> None:
            self._listeners.remove(account_id, listener)

        return unsubscribe

    def add_publish_hook(self, hook: Listener) -> None:
        self._listeners.hooks.append(hook)

    async def ready(self) -> None:
        return None

    async def close(self) -> None:
        self._listeners.by_account.clear()
        self._listeners.hooks.clear()
