"""Transactions: atomicity, read-your-writes, ids, modseqs, concurrency, durability."""

from __future__ import annotations

import asyncio
import threading

import pytest

from jmap.ids import is_id
from jmap.store.base import DataStore, NotFoundError
from jmap.store.sqlite import SqliteDataStore


class Boom(Exception):
    pass


async def new_account(data: DataStore, login: str = "alice@example.com") -> str:
    return (await data.create_principal(login, "h", login)).id


def test_commit_is_atomic(run_data):
    async def body(data: DataStore):
        acc = await new_account(data)
        async with data.transaction(acc) as tx:
            await tx.create("Thing", {"id": "keep", "v": 0})
        before = await data.account_modseq(acc)
        states = await data.type_states(acc)
        with pytest.raises(Boom):
            async with data.transaction(acc) as tx:
                await tx.create("Thing", {"id": "a", "v": 1})
                await tx.create("Other", {"id": "b", "v": 2})
                await tx.update("Thing", {"id": "keep", "v": 9}, {"v"})
                await tx.destroy("Thing", "keep")
                await tx.add_blob_refs([("G" + "a" * 64, "a")])
                raise Boom
        assert await data.account_modseq(acc) == before
        assert await data.type_states(acc) == states
        _, things = await data.get(acc, "Thing", None)
        assert things == [{"id": "keep", "v": 0}]
        _, others = await data.get(acc, "Other", None)
        assert others == []
        assert not await data.blob_visible(acc, "G" + "a" * 64, 0)
        changes = await data.changes(acc, "Thing", before, None)
        assert (changes.created, changes.updated, changes.destroyed) == ([], [], [])
        # the store is still usable afterwards
        async with data.transaction(acc) as tx:
            await tx.create("Thing", {"id": "after", "v": 3})
        _, docs = await data.get(acc, "Thing", ["after", "a"])
        assert docs == [{"id": "after", "v": 3}]

    run_data(body)


def test_reads_inside_a_transaction_see_its_pending_writes(run_data):
    async def body(data: DataStore):
        acc = await new_account(data)
        async with data.transaction(acc) as tx:
            await tx.create("Thing", {"id": "old", "v": 0})
            await tx.create("Thing", {"id": "gone", "v": 0})
        async with data.transaction(acc) as tx:
            await tx.create("Thing", {"id": "new", "v": 1})
            await tx.update("Thing", {"id": "old", "v": 2}, {"v"})
            await tx.destroy("Thing", "gone")
            got = await tx.get("Thing", ["new", "old", "gone", "missing"])
            assert got == {"new": {"id": "new", "v": 1}, "old": {"id": "old", "v": 2}}
            everything = await tx.all("Thing")
            assert sorted(everything, key=lambda d: d["id"]) == [
                {"id": "new", "v": 1},
                {"id": "old", "v": 2},
            ]
            assert await tx.all("Other") == []
            # other readers see only what is committed
            _, outside = await data.get(acc, "Thing", None)
            assert sorted(d["id"] for d in outside) == ["gone", "old"]
            assert {d["id"]: d["v"] for d in outside}["old"] == 0
            await tx.destroy("Thing", "new")
            assert await tx.get("Thing", ["new"]) == {}
        _, after = await data.get(acc, "Thing", None)
        assert after == [{"id": "old", "v": 2}]

    run_data(body)


def test_new_ids_are_unique_and_never_reused(run_data):
    async def body(data: DataStore):
        acc = await new_account(data)
        seen: list[str] = []
        for _ in range(3):
            async with data.transaction(acc) as tx:
                ids = await tx.new_ids("M", 4)
                ids += await tx.new_ids("M", 1)
                for object_id in ids:
                    await tx.create("Thing", {"id": object_id})
                seen += ids
        # a transaction that creates nothing still must not hand the ids out again
        async with data.transaction(acc) as tx:
            seen += await tx.new_ids("M", 2)
        async with data.transaction(acc) as tx:
            seen += await tx.new_ids("M", 2)
        assert all(i.startswith("M") and is_id(i) for i in seen)
        assert len(seen) == len(set(seen)) == 19
        return acc, seen

    acc, seen = run_data(body)

    async def reopened(data: DataStore):
        async with data.transaction(acc) as tx:
            return await tx.new_ids("M", 10)

    more = run_data(reopened)
    assert not set(more) & set(seen)
    assert len(set(more)) == 10


def test_one_modseq_per_change(run_data):
    async def body(data: DataStore):
        acc = await new_account(data)
        start = await data.account_modseq(acc)
        async with data.transaction(acc) as tx:
            for i in range(3):
                await tx.create("Thing", {"id": f"t{i}"})
            await tx.create("Other", {"id": "o1"})
            # a second write to the same object in the same transaction is the same change
            await tx.update("Thing", {"id": "t0", "v": 1}, {"v"})
        end = await data.account_modseq(acc)
        assert end - start == 4
        assert set(tx.changed_types) == {"Thing", "Other"}
        assert max(tx.changed_types.values()) == end
        assert len(set(tx.changed_types.values())) == 2
        assert all(start < m <= end for m in tx.changed_types.values())
        assert await data.modseq(acc, "Thing") == tx.changed_types["Thing"]
        assert await data.modseq(acc, "Other") == tx.changed_types["Other"]
        assert await data.type_states(acc) == tx.changed_types
        modseq, _ = await data.get(acc, "Thing", [])
        assert modseq == tx.changed_types["Thing"]

        # an empty transaction changes nothing
        async with data.transaction(acc) as empty:
            pass
        assert empty.changed_types == {}
        assert await data.account_modseq(acc) == end

        # created and destroyed in one transaction: no change at all
        async with data.transaction(acc) as tx2:
            await tx2.create("Ghost", {"id": "g"})
            await tx2.destroy("Ghost", "g")
        assert "Ghost" not in tx2.changed_types
        assert await data.modseq(acc, "Ghost") == 0
        assert "Ghost" not in await data.type_states(acc)

    run_data(body)


def test_type_modseq_moves_only_for_changed_types(run_data):
    async def body(data: DataStore):
        acc = await new_account(data)
        other_acc = await new_account(data, "bob@example.com")
        async with data.transaction(acc) as tx:
            await tx.create("A", {"id": "a1"})
        a_state = await data.modseq(acc, "A")
        assert a_state > 0
        async with data.transaction(acc) as tx:
            await tx.create("B", {"id": "b1"})
        assert set(tx.changed_types) == {"B"}
        assert await data.modseq(acc, "A") == a_state
        assert await data.modseq(acc, "B") > a_state
        async with data.transaction(acc) as tx:
            await tx.update("A", {"id": "a1", "x": 1}, {"x"})
        assert set(tx.changed_types) == {"A"}
        assert await data.modseq(acc, "A") > await data.modseq(acc, "B")
        # another account's counters are independent
        before = await data.type_states(acc)
        async with data.transaction(other_acc) as tx:
            await tx.create("A", {"id": "a1"})
        assert await data.type_states(acc) == before
        assert await data.type_states(other_acc) == tx.changed_types
        _, docs = await data.get(other_acc, "A", None)
        assert docs == [{"id": "a1"}]
        _, mine = await data.get(acc, "A", None)
        assert mine == [{"id": "a1", "x": 1}]

    run_data(body)


def test_many_concurrent_transactions(run_data):
    async def body(data: DataStore):
        acc = await new_account(data)
        start = await data.account_modseq(acc)

        async def one(i: int) -> dict[str, int]:
            async with data.transaction(acc) as tx:
                (object_id,) = await tx.new_ids("c", 1)
                await asyncio.sleep(0)
                await tx.create("Thing", {"id": object_id, "n": i})
            return tx.changed_types

        results = await asyncio.gather(*(one(i) for i in range(50)))
        modseqs = [r["Thing"] for r in results]
        assert len(set(modseqs)) == 50
        assert await data.account_modseq(acc) == start + 50
        assert await data.modseq(acc, "Thing") == max(modseqs)
        _, docs = await data.get(acc, "Thing", None)
        assert sorted(d["n"] for d in docs) == list(range(50))
        assert len({d["id"] for d in docs}) == 50

    run_data(body)


def test_data_survives_close_and_reopen(run_data):
    async def write(data: DataStore):
        acc = await new_account(data)
        await data.add_token(
            "tok", (await data.principal_by_login("alice@example.com")).id, "l", None
        )
        async with data.transaction(acc) as tx:
            await tx.create("Thing", {"id": "t1", "nested": {"a": [1, 2]}})
            await tx.create("Thing", {"id": "t2"})
        async with data.transaction(acc) as tx:
            await tx.destroy("Thing", "t2")
        await data.add_upload(acc, "G" + "b" * 64, 3, 4e9)
        return acc, await data.type_states(acc), await data.account_modseq(acc)

    acc, states, modseq = run_data(write)

    async def read(data: DataStore):
        principal = await data.principal_by_login("alice@example.com")
        assert principal is not None
        assert [a.id for a in await data.accounts_for(principal.id)] == [acc]
        token_owner = await data.principal_for_token("tok", 0)
        assert token_owner is not None and token_owner.id == principal.id
        assert await data.type_states(acc) == states
        assert await data.account_modseq(acc) == modseq
        _, docs = await data.get(acc, "Thing", None)
        assert docs == [{"id": "t1", "nested": {"a": [1, 2]}}]
        changes = await data.changes(acc, "Thing", 0, None)
        assert (changes.created, changes.destroyed) == (["t1"], [])
        assert await data.blob_visible(acc, "G" + "b" * 64, 0)

    run_data(read)


def test_transaction_on_an_unknown_account(run_data):
    async def body(data: DataStore):
        acc = await new_account(data)
        with pytest.raises(NotFoundError):
            async with data.transaction("no-such-account") as tx:
                await tx.create("Thing", {"id": "x"})
        # the failed transaction left the store usable and wrote nothing anywhere
        async with data.transaction(acc) as tx:
            await tx.create("Thing", {"id": "y"})
        _, docs = await data.get("no-such-account", "Thing", None)
        assert docs == []
        _, mine = await data.get(acc, "Thing", ["y", "x"])
        assert mine == [{"id": "y"}]

    run_data(body)


class Refused(Exception):
    pass


def test_concurrent_transactions_stay_independent(run_data):
    """Concurrent transactions may share one commit (group commit), but each is atomic on
    its own: one that fails leaves nothing, the others all land, and their writes are
    visible to every reader as soon as their transaction returns."""

    async def body(data: DataStore):
        acc = await new_account(data)
        other = await new_account(data, "bob@example.com")

        async def one(i: int) -> str:
            account = acc if i % 2 else other
            async with data.transaction(account) as tx:
                await tx.create("Thing", {"id": f"t{i}"})
                await asyncio.sleep(0)
                if i % 3 == 0:
                    raise Refused(i)
                await tx.update("Thing", {"id": f"t{i}", "done": True})
            # durable and visible the moment the transaction returns
            _, docs = await data.get(account, "Thing", [f"t{i}"])
            assert docs == [{"id": f"t{i}", "done": True}]
            return account

        results = await asyncio.gather(*(one(i) for i in range(60)), return_exceptions=True)
        refused = {i for i, r in enumerate(results) if isinstance(r, Refused)}
        assert refused == {i for i in range(60) if i % 3 == 0}
        assert not [r for r in results if isinstance(r, BaseException) and r.args[0] not in refused]
        for account, parity in ((acc, 1), (other, 0)):
            _, docs = await data.get(account, "Thing", None)
            expected = {f"t{i}" for i in range(60) if i % 2 == parity and i % 3}
            assert {d["id"] for d in docs} == expected
            changes = await data.changes(account, "Thing", 0, None)
            assert set(changes.created) == expected

    run_data(body)


def test_cancelled_transactions_do_not_stall_the_others(run_data):
    async def body(data: DataStore):
        acc = await new_account(data)

        async def one(i: int) -> None:
            async with data.transaction(acc) as tx:
                await tx.create("Thing", {"id": f"t{i}"})
                await asyncio.sleep(0.001)

        tasks = [asyncio.create_task(one(i)) for i in range(30)]
        await asyncio.sleep(0.002)
        for task in tasks[10:20]:
            task.cancel()
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
        landed = {f"t{i}" for i, r in enumerate(results) if r is None}
        assert len(landed) >= 20
        _, docs = await data.get(acc, "Thing", None)
        # a cancelled transaction either landed whole or not at all; none is half-there
        assert landed <= {d["id"] for d in docs}
        # and the store keeps working
        async with data.transaction(acc) as tx:
            await tx.create("Thing", {"id": "after"})
        assert (await data.get(acc, "Thing", ["after"]))[1] == [{"id": "after"}]

    run_data(body)


class _GatedConnection:
    """The writer's connection, holding chosen statements until the test opens their gate
    (the statement then runs, as a COMMIT in the writer thread would, whoever waits)."""

    def __init__(self, conn, gates: dict[str, tuple[threading.Event, threading.Event]]) -> None:
        self._conn = conn
        self._gates = gates

    def execute(self, sql: str, *args):
        if sql in self._gates:
            reached, go = self._gates.pop(sql)
            reached.set()
            go.wait(30)
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self._conn, name)


def test_a_cancelled_committer_still_tells_its_batch_the_truth(tmp_path):
    """Transaction A's writes wait in the open batch; B's flush joins it and B commits; B is
    cancelled while its COMMIT runs. The COMMIT completes in the writer thread, so A must
    hear success (it heard "commit failed", or never heard, before) and both stay written."""

    async def reached(event: threading.Event) -> None:
        assert await asyncio.to_thread(event.wait, 30)

    async def main() -> None:
        store = SqliteDataStore(tmp_path / "fulmar.db")
        await store.open()
        a, b = await new_account(store, "a@example.com"), await new_account(store, "b@example.com")
        release = (threading.Event(), threading.Event())
        commit = (threading.Event(), threading.Event())
        store._write_conn = _GatedConnection(
            store._write_conn, {"RELEASE tx": release, "COMMIT": commit}
        )

        async def write(account: str, thing: str) -> None:
            async with store.transaction(account) as tx:
                await tx.create("Thing", {"id": thing})

        task_a = asyncio.create_task(write(a, "from-a"))
        await reached(release[0])  # A holds the writer lock, flushing
        task_b = asyncio.create_task(write(b, "from-b"))
        while store._entering == 0:  # B waits for the lock: A leaves the batch open for it
            await asyncio.sleep(0)
        release[1].set()
        await reached(commit[0])  # B commits the batch of both
        task_b.cancel()
        await asyncio.sleep(0)
        commit[1].set()
        await asyncio.wait_for(task_a, 30)  # success, not "commit failed"
        with pytest.raises(asyncio.CancelledError):
            await task_b
        await write(a, "after")  # the writer is in a clean state
        await store.close()

        again = SqliteDataStore(tmp_path / "fulmar.db")
        await again.open()
        _, things_a = await again.get(a, "Thing", None)
        _, things_b = await again.get(b, "Thing", None)
        await again.close()
        assert sorted(t["id"] for t in things_a) == ["after", "from-a"]
        assert [t["id"] for t in things_b] == ["from-b"]

    asyncio.run(main())
