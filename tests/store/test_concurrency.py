"""Transactions of different accounts never wait on each other; one account's run one after
another; a writer elsewhere (another process, a second node) is caught at commit.

Liveness is shown by ordering: a transaction completes while another is still open. The
``asyncio.wait_for`` guards only turn a deadlock (the old global write lock) into a failure.
"""

from __future__ import annotations

import asyncio

import pytest

from jmap.services import rerun_on_conflict
from jmap.store.base import DataStore, WriteConflict

from .conftest import DataRunner

GUARD = 30  # seconds before a deadlock counts as a failure; never reached when it works


async def new_account(data: DataStore, login: str) -> str:
    return (await data.create_principal(login, "h", login)).id


def test_another_account_commits_while_a_transaction_is_open(run_data):
    """Issue 8.3: one write lock for all accounts, held for whole methods, made every user
    wait for another's method. Now B's transaction commits while A's is still running."""

    async def body(data: DataStore):
        alice = await new_account(data, "alice@example.com")
        bob = await new_account(data, "bob@example.com")
        bob_done = asyncio.Event()
        order: list[str] = []

        async def slow_alice() -> None:
            async with data.transaction(alice) as tx:
                await tx.create("Thing", {"id": "a"})
                await asyncio.wait_for(bob_done.wait(), GUARD)  # A's method still runs
                order.append("alice still open")
            order.append("alice committed")

        async def bob_write() -> None:
            async with data.transaction(bob) as tx:
                await tx.create("Thing", {"id": "b"})
            order.append("bob committed")
            bob_done.set()

        alice_task = asyncio.create_task(slow_alice())
        await asyncio.sleep(0)  # let A open its transaction first
        await asyncio.gather(alice_task, bob_write())
        assert order == ["bob committed", "alice still open", "alice committed"]
        assert (await data.get(bob, "Thing", None))[1] == [{"id": "b"}]
        assert (await data.get(alice, "Thing", None))[1] == [{"id": "a"}]

    run_data(body)


def test_one_accounts_transactions_run_in_turn_and_see_each_other(run_data):
    async def body(data: DataStore):
        acc = await new_account(data, "alice@example.com")
        async with data.transaction(acc) as tx:
            await tx.create("Counter", {"id": "c", "n": 0})

        async def bump() -> None:
            async with data.transaction(acc) as tx:
                doc = (await tx.get("Counter", ["c"]))["c"]
                await asyncio.sleep(0)  # another transaction of the account would slip in here
                await tx.update("Counter", {"id": "c", "n": doc["n"] + 1}, {"n"})

        await asyncio.gather(*(bump() for _ in range(20)))
        assert (await data.get(acc, "Counter", ["c"]))[1] == [{"id": "c", "n": 20}]

    run_data(body)


def test_a_write_by_another_process_is_a_conflict(run_data, tmp_path):
    """A second store on the same file stands for ``fulmar import`` or a second node: its
    commit to the account between our start and our flush makes ours fail, writing nothing."""

    async def body(data: DataStore):
        acc = await new_account(data, "alice@example.com")
        other = run_data.backend.make(run_data.location)
        await other.open()
        try:
            before = await data.account_modseq(acc)
            with pytest.raises(WriteConflict):
                async with data.transaction(acc) as tx:
                    await tx.create("Thing", {"id": "mine"})
                    async with other.transaction(acc) as elsewhere:
                        await elsewhere.create("Thing", {"id": "theirs"})
            _, docs = await data.get(acc, "Thing", None)
            assert docs == [{"id": "theirs"}]
            assert await data.account_modseq(acc) == before + 1
            # run again, the transaction now starts from the other writer's state and lands
            async with data.transaction(acc) as tx:
                await tx.create("Thing", {"id": "mine"})
            _, docs = await data.get(acc, "Thing", None)
            assert sorted(d["id"] for d in docs) == ["mine", "theirs"]
        finally:
            await other.close()

    run_data(body)


def test_a_conflicting_method_runs_again(run_data: DataRunner):
    """The write layer re-runs a method call whose transaction lost a conflict, with the
    creation ids of the failed run forgotten."""

    async def body(data: DataStore):
        acc = await new_account(data, "alice@example.com")
        other = run_data.backend.make(run_data.location)
        await other.open()
        runs = 0
        created_ids = {"earlier": "X1"}

        async def method() -> str:
            nonlocal runs
            runs += 1
            created_ids[f"run{runs}"] = "Y"
            async with data.transaction(acc) as tx:
                await tx.create("Thing", {"id": f"t{runs}"})
                if runs == 1:
                    async with other.transaction(acc) as elsewhere:
                        await elsewhere.create("Thing", {"id": "theirs"})
            return "done"

        try:
            assert await rerun_on_conflict(method, created_ids) == "done"
        finally:
            await other.close()
        assert runs == 2
        assert created_ids == {"earlier": "X1", "run2": "Y"}
        _, docs = await data.get(acc, "Thing", None)
        assert sorted(d["id"] for d in docs) == ["t2", "theirs"]

    run_data(body)
