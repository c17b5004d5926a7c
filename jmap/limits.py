"""Per-user limits on what is in flight (requests, uploads, push connections)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager


class InFlight:
    """Counts what is in flight per key (a principal id), up to ``limit`` each."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._active: Counter[str] = Counter()

    def full(self, key: str) -> bool:
        return self._active[key] >= self.limit

    def acquire(self, key: str) -> bool:
        if self.full(key):
            return False
        self._active[key] += 1
        return True

    def release(self, key: str) -> None:
        self._active[key] -= 1
        if self._active[key] <= 0:
            del self._active[key]

    @contextmanager
    def slot(self, key: str) -> Iterator[None]:
        """Hold one place for the block; OverflowError when the key has none left."""
        if not self.acquire(key):
            raise OverflowError(key)
        try:
            yield
        finally:
            self.release(key)
