"""SQLite's ``enqueue_holding``: the job and the blob ref that holds its blob commit together,
durable on return (seen by a store opened afresh), without an account transaction."""

from __future__ import annotations

import asyncio
from pathlib import Path

from jmap.store.base import SERVER_ACCOUNT
from jmap.store.sqlite import SqliteDataStore

Q = "inbound"
BLOB = "G" + "a" * 64


def test_job_and_hold_commit_together_and_are_idempotent(tmp_path: Path):
    path = tmp_path / "fulmar.db"

    async def write() -> int:
        data = SqliteDataStore(path)
        await data.open()
        try:
            before = await data.account_modseq(SERVER_ACCOUNT)
            hold = (SERVER_ACCOUNT, BLOB, "inbound:j1")
            # many at once join one group commit; a repeat changes nothing
            await asyncio.gather(
                data.jobs.enqueue_holding(Q, {"n": 1}, 10.0, "j1", hold),
                data.jobs.enqueue_holding(Q, {"n": 2}, 20.0, "j1", hold),
                data.jobs.enqueue_holding(Q, {"n": 3}, 30.0, "j2", (SERVER_ACCOUNT, BLOB, "h2")),
            )
            assert await data.account_modseq(SERVER_ACCOUNT) == before  # no state change
        finally:
            await data.close()
        return before

    asyncio.run(write())

    async def reopened() -> None:
        data = SqliteDataStore(path)
        await data.open()
        try:
            assert await data.jobs.pending(Q) == 2
            assert await data.blobs_held([BLOB]) == {BLOB}
            refs = await data.read(
                lambda c: c.execute("SELECT ref FROM blob_refs ORDER BY ref").fetchall()
            )
            assert [r for (r,) in refs] == ["h2", "inbound:j1"]
            jobs = await data.jobs.claim(Q, "w", now=100.0, lease_seconds=60, limit=5)
            assert [(j.id, j.payload) for j in jobs] == [("j1", {"n": 1}), ("j2", {"n": 3})]
        finally:
            await data.close()

    asyncio.run(reopened())


def test_a_failing_insert_writes_neither(tmp_path: Path):
    async def go() -> None:
        data = SqliteDataStore(tmp_path / "fulmar.db")
        await data.open()
        try:
            bad = (SERVER_ACCOUNT, BLOB, "inbound:j1")
            try:  # a payload that cannot be stored (orjson refuses it): nothing commits
                await data.jobs.enqueue_holding(Q, {"n": {1, 2}}, 10.0, "j1", bad)
            except TypeError:
                pass
            else:
                raise AssertionError("an unstorable payload was accepted")
            assert await data.jobs.pending(Q) == 0
            assert await data.blobs_held([BLOB]) == set()
        finally:
            await data.close()

    asyncio.run(go())
