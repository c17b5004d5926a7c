"""The bus role: state-change events fanned out to subscribers (RFC 8620 §7.1).

In-process by default. An event is published only after its transaction commits; a
subscriber that misses one still converges, because every event carries full states.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

StateMap = dict[str, str]
Listener = Callable[[str, StateMap], None]


class Bus(Protocol):
    async def publish(self, account_id: str, changed: StateMap) -> None: ...

    def subscribe(self, account_id: str, listener: Listener) -> Callable[[], None]:
        """Call ``listener(account_id, changed)`` for each event; returns an unsubscribe."""

    async def close(self) -> None: ...


class InProcessBus:
    """Delivers events to listeners in this process."""

    def __init__(self) -> None:
        self._listeners: dict[str, set[Listener]] = {}

    async def publish(self, account_id: str, changed: StateMap) -> None:
        for listener in list(self._listeners.get(account_id, ())):
            listener(account_id, changed)
        await asyncio.sleep(0)

    def subscribe(self, account_id: str, listener: Listener) -> Callable[[], None]:
        self._listeners.setdefault(account_id, set()).add(listener)

        def unsubscribe() -> None:
            listeners = self._listeners.get(account_id)
            if listeners is not None:
                listeners.discard(listener)
                if not listeners:
                    del self._listeners[account_id]

        return unsubscribe

    async def close(self) -> None:
        self._listeners.clear()
