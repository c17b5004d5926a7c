"""The roles a running server hands to method code: config, data, blobs, bus, workers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

from push.bus import Bus

from .config import Config
from .ids import encode_state
from .store.base import BlobStore, DataStore, Transaction, WriteConflict
from .workers import WorkerPool

T = TypeVar("T")

#: how often a method call is run again after a write conflict before giving up
WRITE_ATTEMPTS = 5


class _Attempt:
    """One run of a method call: did one of its transactions commit already?"""

    committed = False


_attempt: ContextVar[_Attempt | None] = ContextVar("fulmar_write_attempt", default=None)


@dataclass
class Services:
    config: Config
    data: DataStore
    blobs: BlobStore
    bus: Bus
    #: CPU-heavy work (parsing, HTML to text, body values, snippets) runs here
    workers: WorkerPool

    @asynccontextmanager
    async def write(self, account_id: str) -> AsyncIterator[Transaction]:
        """One data transaction; its state changes are published after it commits."""
        async with self.data.transaction(account_id) as tx:
            yield tx
        changed = tx.changed_types
        attempt = _attempt.get()
        if changed and attempt is not None:
            attempt.committed = True
        if changed:
            await self.bus.publish(
                account_id, {name: encode_state(modseq) for name, modseq in changed.items()}
            )


async def rerun_on_conflict(call: Callable[[], Awaitable[T]], created_ids: dict[str, str]) -> T:
    """Run a method call, and run it again when its transaction lost a ``WriteConflict``
    (another process wrote to the account meanwhile; nothing of the call was written).

    A call that committed a transaction before the conflict (Foo/copy's implicit /set) is
    not run again: the conflict surfaces as a storage error. The creation ids the failed
    run recorded are forgotten before the next run.
    """
    saved = dict(created_ids)
    runs = 0
    while True:
        runs += 1
        attempt = _Attempt()
        token = _attempt.set(attempt)
        try:
            return await call()
        except WriteConflict:
            if attempt.committed or runs >= WRITE_ATTEMPTS:
                raise
            created_ids.clear()
            created_ids.update(saved)
        finally:
            _attempt.reset(token)
