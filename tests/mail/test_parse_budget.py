"""Email/parse counts its response as it builds it (issue 8.4): once past max_size_response
it stops, so no more blobs are read and parsed than the response could ever hold.

In-process, with the real method code and a worker pool that runs tasks in this process
and counts them (the count is what the HTTP tests cannot see).
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from jmap.api import Invocation
from jmap.config import Config, Limits
from jmap.errors import RequestError
from jmap.store.base import Account
from methods.email_import import email_parse

from .conftest import message


@dataclass
class CountingWorkers:
    calls: int = 0

    async def run(self, owner: str, fn: Any, *args: Any) -> Any:
        self.calls += 1
        return fn(*args)


@dataclass
class Blobs:
    octets: dict[str, bytes] = field(default_factory=dict)

    def add(self, raw: bytes) -> str:
        blob_id = "G" + hashlib.sha256(raw).hexdigest()
        self.octets[blob_id] = raw
        return blob_id

    async def get(self, blob_id: str) -> bytes | None:
        return self.octets.get(blob_id)

    async def blob_visible(self, account_id: str, blob_id: str, now: float) -> bool:
        return blob_id in self.octets


def invocation(max_size_response: int) -> tuple[Invocation, Blobs, CountingWorkers]:
    blobs, workers = Blobs(), CountingWorkers()
    config = Config(limits=Limits(max_size_response=max_size_response))
    services = SimpleNamespace(config=config, data=blobs, blobs=blobs, workers=workers)
    account = Account("a", "alice@example.com", "p")
    inv = Invocation(services, SimpleNamespace(id="p"), {"a": account}, frozenset(), {})
    return inv, blobs, workers


@pytest.mark.parametrize("count", [60, 500])
def test_parse_stops_once_past_the_response_limit(count):
    inv, blobs, workers = invocation(50_000)
    ids = [blobs.add(message(f"m{n}", "some body text, " * 400)) for n in range(count)]  # 6 KB
    args = {"accountId": "a", "blobIds": ids, "fetchAllBodyValues": True}
    with pytest.raises(RequestError) as raised:
        asyncio.run(email_parse(inv, args))
    assert (raised.value.kind, raised.value.limit) == ("limit", "maxSizeResponse")
    assert workers.calls <= 9  # 50 KB of about 6.5 KB each, and the one that passed it


def test_parse_within_the_limit_answers_every_blob():
    inv, blobs, workers = invocation(50_000)
    ids = [blobs.add(message(f"m{n}", "short")) for n in range(5)]
    missing = "G" + "0" * 64
    result = asyncio.run(email_parse(inv, {"accountId": "a", "blobIds": [*ids, missing]}))
    assert [e["subject"] for e in result["parsed"].values()] == [f"m{n}" for n in range(5)]
    assert result["notFound"] == [missing] and workers.calls == 5
