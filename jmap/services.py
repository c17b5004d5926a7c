"""The roles a running server hands to method code: config, data, blobs, bus."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from push.bus import Bus

from .config import Config
from .ids import encode_state
from .store.base import BlobStore, DataStore, Transaction


@dataclass
class Services:
    config: Config
    data: DataStore
    blobs: BlobStore
    bus: Bus

    @asynccontextmanager
    async def write(self, account_id: str) -> AsyncIterator[Transaction]:
        """One data transaction; its state changes are published after it commits."""
        async with self.data.transaction(account_id) as tx:
            yield tx
        changed = tx.changed_types
        if changed:
            await self.bus.publish(
                account_id, {name: encode_state(modseq) for name, modseq in changed.items()}
            )
