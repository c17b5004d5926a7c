"""The search feeder (``jmap.search_feed``) between the SQLite data role and the Meilisearch
backend, against the Meilisearch STAND-IN (``tests.meili_standin``: Meilisearch cannot run
here). The feeder's clock is the test's: retries and backoff are checked without sleeping.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jmap.importer import import_paths
from jmap.provision import add_account
from jmap.reindex_cli import queue_reindex
from jmap.search_feed import SearchFeeder
from jmap.store.factory import open_data_store
from jmap.store.files import FileBlobStore
from jmap.store.mail import EmailQuery
from jmap.store.meili import MeiliSearchIndex, document_id
from jmap.store.search import SEARCH_QUEUE, SearchTooBroad, feed_payload
from jmap.workers import WorkerPool
from tests.meili_standin import MeiliStandIn

ALICE, BOB = "alice@example.com", "bob@example.com"
_uids = itertools.count()


@pytest.fixture(scope="module")
def standin() -> Iterator[MeiliStandIn]:
    server = MeiliStandIn().start()
    yield server
    server.close()


def eml(folder: Path, name: str, subject: str, body: str) -> Path:
    path = folder / f"{name}.eml"
    path.write_bytes(
        (
            f"From: Ann <ann@example.com>\r\nTo: Bob <bob@example.com>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{name}@example.com>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n{body}\r\n"
        ).encode()
    )
    return path


class World:
    """A data store fed to the stand-in, with a clock the test moves."""

    def __init__(self, tmp: Path, standin: MeiliStandIn, **options: Any) -> None:
        self.tmp, self.standin = tmp, standin
        self.uid = f"standin-feed-{next(_uids)}"
        self.search = MeiliSearchIndex(standin.url, index_uid=self.uid, **options)
        self.data = open_data_store(tmp / "fulmar.db", search=self.search)
        self.blobs = FileBlobStore(tmp / "blobs")
        self.workers = WorkerPool(1, 30)
        self.now = time.time() + 1000  # past every job's due time
        self.feeder = SearchFeeder(
            self.data, self.blobs, self.search, self.workers, clock=lambda: self.now
        )

    async def __aenter__(self) -> World:
        await self.data.open()
        self.workers.start()
        for address in (ALICE, BOB):
            await add_account(self.data, address, "password-1234")
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.data.close()
        await self.workers.close()

    async def account(self, address: str) -> str:
        principal = await self.data.principal_by_login(address)
        assert principal is not None
        return (await self.data.accounts_for(principal.id))[0].id

    async def deliver(self, address: str, *messages: tuple[str, str]) -> list[str]:
        folder = self.tmp / f"in-{time.time_ns()}"
        folder.mkdir()
        paths = [eml(folder, f"m{time.time_ns()}{n}", s, b) for n, (s, b) in enumerate(messages)]
        before = set(await self.ids(address))
        await import_paths(self.data, self.blobs, address, paths)
        return sorted(set(await self.ids(address)) - before)

    async def ids(self, address: str, filter_: dict[str, Any] | None = None) -> list[str]:
        _, ids = await self.data.mail.query(await self.account(address), EmailQuery(filter_))
        return ids

    def documents(self) -> dict[str, dict[str, Any]]:
        return self.standin.documents(self.uid)

    async def pending(self) -> int:
        return await self.data.jobs.pending(SEARCH_QUEUE)


def run(tmp: Path, standin: MeiliStandIn, work: Any, **options: Any) -> Any:
    async def main() -> Any:
        async with World(tmp, standin, **options) as world:
            return await work(world)

    return asyncio.run(main())


def test_standin_a_new_email_is_searchable_once_its_job_is_fed(tmp_path, standin):
    async def work(w: World) -> None:
        (first,) = await w.deliver(ALICE, ("Quarterly report", "smartchoice numbers"))
        assert await w.pending() == 1  # committed with the Email, not yet fed
        assert w.documents() == {}
        assert await w.ids(ALICE, {"text": "smartc"}) == []
        assert await w.feeder.run_once() == 1
        assert await w.pending() == 0
        assert await w.ids(ALICE, {"text": "smartc"}) == [first]
        assert await w.ids(ALICE, {"operator": "NOT", "conditions": [{"text": "smartc"}]}) == []
        assert await w.ids(BOB, {"text": "smartc"}) == []
        (doc,) = w.documents().values()
        assert doc["email_id"] == first and doc["subject"] == "Quarterly report"
        assert await w.feeder.run_once() == 0  # nothing due

    run(tmp_path, standin, work)


def test_standin_down_jobs_are_retried_with_backoff_nothing_lost(tmp_path):
    server = MeiliStandIn().start()

    async def work(w: World) -> None:
        server.stop()
        (email,) = await w.deliver(ALICE, ("while down", "patience"))  # delivery never waits
        assert await w.feeder.run_once() == 1
        assert await w.pending() == 1
        (job,) = await w.data.jobs.claim(SEARCH_QUEUE, "peek", w.now + 10_000, 0.001)
        assert job.attempts == 1
        assert await w.data.jobs.next_due(SEARCH_QUEUE) == pytest.approx(w.now + 1.0)
        assert await w.feeder.run_once() == 0  # not due again before its backoff
        w.now += 10_001  # past the backoff and the peek's lease
        assert await w.feeder.run_once() == 1  # still down: the second backoff doubles
        assert await w.data.jobs.next_due(SEARCH_QUEUE) == pytest.approx(w.now + 2.0)
        server.start()
        w.now += 2.0
        assert await w.feeder.run_once() == 1
        assert await w.pending() == 0
        assert await w.ids(ALICE, {"text": "patien"}) == [email]

    try:
        run(tmp_path, server, work)
    finally:
        server.close()


def test_standin_destroy_forgets_and_order_does_not_matter(tmp_path, standin):
    async def work(w: World) -> None:
        one, two = await w.deliver(ALICE, ("keep", "alpha"), ("drop", "alpha"))
        await w.feeder.run_once()
        account = await w.account(ALICE)
        async with w.data.transaction(account) as tx:
            await tx.destroy("Email", two)
        assert await w.pending() == 1
        # a stale job carrying the destroyed Email's text, run after the destroy's
        await w.data.jobs.enqueue(
            SEARCH_QUEUE, feed_payload(account, [two], {two: {"subject": "drop"}}), 0
        )
        assert await w.feeder.run_once() == 2
        assert {d["email_id"] for d in w.documents().values()} == {one}
        assert await w.ids(ALICE, {"text": "alpha"}) == [one]

    run(tmp_path, standin, work)


def test_standin_reindex_rebuilds_from_the_messages(tmp_path, standin):
    async def work(w: World) -> None:
        ids = await w.deliver(ALICE, ("first", "needle one"), ("second", "needle two"))
        await w.deliver(BOB, ("bob's", "needle three"))
        await w.feeder.run_once()
        before = w.documents()
        with w.standin.state.lock:
            w.standin.state.indexes[w.uid].documents.clear()  # the engine lost its data
        assert await w.ids(ALICE, {"text": "needle"}) == []
        assert await queue_reindex(w.data, ALICE) == (1, 2)
        assert await w.feeder.run_once() == 1  # one job names both Emails
        assert set(await w.ids(ALICE, {"text": "needle"})) == set(ids)
        alice = await w.account(ALICE)
        assert w.documents() == {k: v for k, v in before.items() if v["account_id"] == alice}
        assert await queue_reindex(w.data, None) == (2, 3)
        await w.feeder.run_once()
        assert w.documents() == before

    run(tmp_path, standin, work)


def test_standin_removing_an_account_drops_its_documents(tmp_path, standin):
    async def work(w: World) -> None:
        await w.deliver(ALICE, ("a", "shared word"))
        (bobs,) = await w.deliver(BOB, ("b", "shared word"))
        await w.feeder.run_once()
        bob_account = await w.account(BOB)
        await w.data.remove_principal(ALICE)
        assert await w.feeder.run_once() == 1
        assert [d["email_id"] for d in w.documents().values()] == [bobs]
        assert set(w.documents()) == {document_id(bob_account, bobs)}

    run(tmp_path, standin, work)


def test_standin_a_leaf_past_max_hits_is_too_broad_not_cut(tmp_path, standin):
    async def work(w: World) -> None:
        ids = await w.deliver(ALICE, *[(f"s{n}", f"common w{n % 2}") for n in range(3)])
        await w.feeder.run_once()
        with pytest.raises(SearchTooBroad):
            await w.ids(ALICE, {"text": "common"})
        with pytest.raises(SearchTooBroad):
            await w.ids(ALICE, {"operator": "NOT", "conditions": [{"text": "common"}]})
        # narrowed by a word matching few enough, the answer is whole
        assert set(await w.ids(ALICE, {"text": "common w0"})) == set(ids[0::2])

    run(tmp_path, standin, work, max_hits=2)


def test_standin_reindex_in_many_jobs_and_writes(tmp_path, standin, monkeypatch):
    from jmap import reindex_cli, search_feed

    monkeypatch.setattr(reindex_cli, "EMAILS_PER_JOB", 3)
    monkeypatch.setattr(search_feed, "SEND_EMAILS", 2)

    async def work(w: World) -> None:
        ids = await w.deliver(ALICE, *[(f"s{n}", f"many{n} chunked") for n in range(5)])
        assert await w.feeder.run_once() == 5
        with w.standin.state.lock:
            w.standin.state.indexes[w.uid].documents.clear()
        assert await queue_reindex(w.data, ALICE) == (1, 5)
        assert await w.pending() == 2

        def additions() -> int:
            with w.standin.state.lock:
                tasks = w.standin.state.tasks.values()
                return sum(t["type"] == "documentAdditionOrUpdate" for t in tasks)

        before = additions()
        assert await w.feeder.run_once() == 2
        assert additions() - before == 3  # 5 Emails, at most 2 a write
        assert set(await w.ids(ALICE, {"text": "chunked"})) == set(ids)
        assert len(w.documents()) == 5

    run(tmp_path, standin, work)
