"""The Meilisearch search backend against the Meilisearch STAND-IN (``tests.meili_standin``,
an emulation of the endpoints used: Meilisearch itself cannot run here), plus what only
the stand-in can show: failures, keys, and waiting for tasks."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import pytest

from jmap.store.meili import MeiliSearchIndex
from jmap.store.search import SearchUnavailable, TextLeaf
from tests.meili_standin import MeiliStandIn

from .meili_contract import *  # noqa: F403 (the contract tests, run here on the stand-in)
from .meili_contract import MAIL

KEY = "standin-master-key"
_uids = itertools.count()


@pytest.fixture(scope="module")
def standin() -> Iterator[MeiliStandIn]:
    server = MeiliStandIn(key=KEY).start()
    yield server
    server.close()


@pytest.fixture
def meili(standin):
    uid = f"standin-test-{next(_uids)}"
    return lambda **options: MeiliSearchIndex(standin.url, KEY, index_uid=uid, **options)


def test_standin_wrong_key_is_unavailable(standin):
    async def main() -> None:
        index = MeiliSearchIndex(standin.url, "wrong", index_uid="standin-wrong-key")
        try:
            with pytest.raises(SearchUnavailable):
                await index.matching("a", TextLeaf("text", "x"))
            with pytest.raises(SearchUnavailable):
                await index.put(MAIL)
        finally:
            await index.close()

    asyncio.run(main())


def test_standin_down_is_unavailable_then_answers_again():
    server = MeiliStandIn().start()

    async def main() -> None:
        index = MeiliSearchIndex(server.url, index_uid="standin-down")
        try:
            await index.put(MAIL)
            server.stop()
            for call in (
                index.matching("a", TextLeaf("text", "hello")),
                index.snippets("a", [TextLeaf("text", "hello")], ["M3"]),
                index.put(MAIL),
                index.delete([("a", "M3")]),
            ):
                with pytest.raises(SearchUnavailable):
                    await call
            server.start()
            assert await index.matching("a", TextLeaf("text", "hello")) == {"M3"}
        finally:
            await index.close()

    try:
        asyncio.run(main())
    finally:
        server.close()


def test_standin_every_query_carries_the_account_filter(standin, monkeypatch):
    """Whatever the backend sends to search or fetch, it is filtered by account_id."""
    from tests import meili_standin

    seen: list[str | None] = []
    select = meili_standin.Index.select

    def spy(self, expression):
        seen.append(expression)
        return select(self, expression)

    monkeypatch.setattr(meili_standin.Index, "select", spy)

    async def main() -> None:
        index = MeiliSearchIndex(standin.url, KEY, index_uid="standin-filter-spy", max_hits=2)
        try:
            await index.put(MAIL)
            await index.matching("a", TextLeaf("text", "quarterly lunch"))
            await index.matching("a", TextLeaf("from", '"alice martin"'))
            await index.snippets("a", [TextLeaf("text", "hello")], ["M3", 'x"'])
        finally:
            await index.close()

    asyncio.run(main())
    assert seen
    assert all(e is not None and e.startswith('account_id = "a"') for e in seen), seen
