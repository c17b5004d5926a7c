"""Backpressure on SMTP intake: while the local delivery backlog (messages accepted but
not yet delivered) is at its bound, a new mail transaction waits at MAIL FROM, so intake
slows to what delivery keeps up with instead of growing a backlog (and the time from DATA
to delivery with it). A transaction that waits ``max_wait`` seconds without the backlog
falling under the bound is answered ``REFUSED`` (the client tries again later, RFC 5321
§4.2.5); nothing accepted is dropped, and nothing is accepted without being durable.

Waiters are let in first come, first served, and no more of them at once than there is
room for; the backlog's owner calls ``changed`` whenever it shrinks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable

#: RFC 3463 §3.4: 4.3.2, system not accepting network messages
REFUSED = "451 4.3.2 Too much mail in hand, try again later"


class IntakeGate:
    def __init__(self, backlog: Callable[[], int], bound: int, max_wait: float) -> None:
        """``backlog``: the messages in hand now; ``bound``: 0 for no bound."""
        self.backlog = backlog
        self.bound = bound
        self.max_wait = max_wait
        self._waiters: deque[asyncio.Future[None]] = deque()

    def _room(self) -> int:
        return self.bound - self.backlog()

    async def admit(self) -> bool:
        """Wait until the backlog is under the bound; False: it was not within
        ``max_wait`` seconds."""
        if self.bound <= 0 or (not self._waiters and self._room() > 0):
            return True
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self.changed()  # room that has woken nobody yet (a waiter went away): in order
        try:
            await asyncio.wait_for(waiter, self.max_wait)
        except TimeoutError:
            return False
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)  # timed out or cancelled: no longer waiting
        return True

    def changed(self) -> None:
        """The backlog shrank: let in as many waiters as there is room for."""
        room = self._room()
        while room > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                room -= 1

    @property
    def waiting(self) -> int:
        return len(self._waiters)
