"""The change log: /changes semantics, paging, property hints, pruning."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from jmap.store.base import CannotCalculateChanges, Changes, DataStore


async def new_account(data: DataStore, login: str = "alice@example.com") -> str:
    return (await data.create_principal(login, "h", login)).id


async def create(data: DataStore, acc: str, *ids: str, type_name: str = "Thing") -> None:
    async with data.transaction(acc) as tx:
        for object_id in ids:
            await tx.create(type_name, {"id": object_id})


async def update(
    data: DataStore, acc: str, object_id: str, props: set[str] | None = None, t: str = "Thing"
) -> None:
    async with data.transaction(acc) as tx:
        await tx.update(t, {"id": object_id, "v": time.time()}, props)


async def destroy(data: DataStore, acc: str, *ids: str) -> None:
    async with data.transaction(acc) as tx:
        for object_id in ids:
            await tx.destroy("Thing", object_id)


def sets(changes: Changes) -> tuple[set[str], set[str], set[str]]:
    return set(changes.created), set(changes.updated), set(changes.destroyed)


def test_collapsing_rules(run_data):
    async def body(data: DataStore):
        acc = await new_account(data)
        await create(data, acc, "old-upd", "old-del", "old-upd-del", "old-same")
        since = await data.modseq(acc, "Thing")
        await create(data, acc, "new", "new-upd", "new-del")
        await update(data, acc, "new-upd", {"v"})
        await update(data, acc, "old-upd", {"v"})
        await update(data, acc, "old-upd-del", {"v"})
        await destroy(data, acc, "old-del", "old-upd-del", "new-del")
        await create(data, acc, "other", type_name="Other")
        changes = await data.changes(acc, "Thing", since, None)
        assert changes.old_modseq == since
        assert changes.new_modseq == await data.modseq(acc, "Thing")
        assert changes.new_modseq < await data.account_modseq(acc)
        assert not changes.has_more
        # each id appears once, in the list of its net effect
        ids = changes.created + changes.updated + changes.destroyed
        assert len(ids) == len(set(ids))
        assert sets(changes) == ({"new", "new-upd"}, {"old-upd"}, {"old-del", "old-upd-del"})
        # from the beginning everything that still exists is created
        full = await data.changes(acc, "Thing", 0, None)
        assert sets(full) == ({"old-upd", "old-same", "new", "new-upd"}, set(), set())
        other = await data.changes(acc, "Other", since, None)
        assert sets(other) == ({"other"}, set(), set())

    run_data(body)


def test_no_changes(run_data):
    async def body(data: DataStore):
        acc = await new_account(data)
        never = await data.changes(acc, "Never", 0, None)
        assert (never.old_modseq, never.new_modseq, never.has_more) == (0, 0, False)
        assert sets(never) == (set(), set(), set())
        await create(data, acc, "a", "b")
        current = await data.modseq(acc, "Thing")
        same = await data.changes(acc, "Thing", current, 1)
        assert (same.new_modseq, same.has_more) == (current, False)
        assert sets(same) == (set(), set(), set())

    run_data(body)


def test_states_from_the_future_cannot_be_calculated(run_data):
    async def body(data: DataStore):
        acc = await new_account(data)
        await create(data, acc, "a")
        future = await data.account_modseq(acc) + 1
        with pytest.raises(CannotCalculateChanges):
            await data.changes(acc, "Thing", future, None)
        with pytest.raises(CannotCalculateChanges):
            await data.changes(acc, "Thing", future + 1000, 5)
        with pytest.raises(CannotCalculateChanges):
            await data.changed_ids_since(acc, "Thing", future)

    run_data(body)


def _fold(pages: list[Changes]) -> tuple[set[str], set[str], set[str]]:
    """What a client knows after applying the pages in order, as one set of changes."""
    first: dict[str, str] = {}
    last: dict[str, str] = {}
    for page in pages:
        for kind in ("created", "updated", "destroyed"):
            for object_id in getattr(page, kind):
                first.setdefault(object_id, kind)
                last[object_id] = kind
    created, updated, destroyed = set(), set(), set()
    for object_id, kind in first.items():
        if kind == "created":
            if last[object_id] != "destroyed":
                created.add(object_id)
        elif last[object_id] == "destroyed":
            destroyed.add(object_id)
        else:
            updated.add(object_id)
    return created, updated, destroyed


async def _random_history(data: DataStore, acc: str, seed: int, steps: int) -> list[int]:
    """Random creates, updates and destroys in transactions of 1-4 ops; returns the states."""
    rng = random.Random(seed)
    alive: list[str] = []
    counter = 0
    states = [await data.modseq(acc, "Thing")]
    for _ in range(steps):
        async with data.transaction(acc) as tx:
            touched: set[str] = set()
            for _ in range(rng.randint(1, 4)):
                roll = rng.random()
                if roll < 0.4 or not alive:
                    counter += 1
                    object_id = f"x{counter}"
                    await tx.create("Thing", {"id": object_id})
                    alive.append(object_id)
                elif roll < 0.75:
                    object_id = rng.choice(alive)
                    await tx.update("Thing", {"id": object_id, "r": rng.random()}, {"r"})
                else:
                    object_id = rng.choice(alive)
                    if object_id in touched:
                        continue
                    alive.remove(object_id)
                    await tx.destroy("Thing", object_id)
                touched.add(object_id)
            if rng.random() < 0.2:
                await tx.create("Other", {"id": f"o{counter}"})
        states.append(await data.modseq(acc, "Thing"))
    return states


async def _pages(data: DataStore, acc: str, since: int, max_changes: int) -> list[Changes]:
    pages = []
    state = since
    for _ in range(1000):
        page = await data.changes(acc, "Thing", state, max_changes)
        pages.append(page)
        assert page.old_modseq == state
        ids = page.created + page.updated + page.destroyed
        assert len(ids) <= max_changes
        assert len(ids) == len(set(ids))
        if not page.has_more:
            return pages
        # (a page may be empty when its ids were created and destroyed within it)
        assert page.new_modseq > state, "an intermediate state must make progress"
        state = page.new_modseq
    raise AssertionError("paging did not end")


@pytest.mark.parametrize("max_changes", [1, 2, 3, 7])
def test_paging_with_max_changes(run_data, max_changes):
    async def body(data: DataStore):
        acc = await new_account(data)
        states = await _random_history(data, acc, seed=max_changes, steps=40)
        current = await data.modseq(acc, "Thing")
        _, existing = await data.get(acc, "Thing", None)
        for since in sorted({states[0], states[len(states) // 3], states[-5]}):
            whole = await data.changes(acc, "Thing", since, None)
            assert not whole.has_more and whole.new_modseq == current
            pages = await _pages(data, acc, since, max_changes)
            assert pages[-1].new_modseq == current
            if len(whole.created) + len(whole.updated) + len(whole.destroyed) > max_changes:
                assert pages[0].has_more
            assert _fold(pages) == sets(whole)
            # across pages: never created after updated/destroyed, nor destroyed then anything
            history: dict[str, list[str]] = {}
            for page in pages:
                for kind in ("created", "updated", "destroyed"):
                    for object_id in getattr(page, kind):
                        history.setdefault(object_id, []).append(kind)
            for object_id, kinds in history.items():
                assert "created" not in kinds[1:], (object_id, kinds)
                assert "destroyed" not in kinds[:-1], (object_id, kinds)
        # from the start, a client replaying all pages ends with exactly the live objects
        pages = await _pages(data, acc, 0, max_changes)
        created, updated, destroyed = _fold(pages)
        assert created == {d["id"] for d in existing}
        assert not updated and not destroyed

    run_data(body)


def test_paging_inside_one_big_transaction(run_data):
    async def body(data: DataStore):
        acc = await new_account(data)
        await create(data, acc, *(f"t{i}" for i in range(10)))
        pages = await _pages(data, acc, 0, 4)
        assert len(pages) >= 3
        assert _fold(pages) == ({f"t{i}" for i in range(10)}, set(), set())

    run_data(body)


def test_updated_properties_hints(run_data):
    async def body(data: DataStore):
        acc = await new_account(data)
        await create(data, acc, "a", "b", "c")
        since = await data.modseq(acc, "Thing")
        await update(data, acc, "a", {"p1"})
        await update(data, acc, "b", {"p2", "p3"})
        await update(data, acc, "a", {"p4"})
        hinted = await data.changes(acc, "Thing", since, None)
        assert sets(hinted) == (set(), {"a", "b"}, set())
        assert hinted.updated_properties == {"p1", "p2", "p3", "p4"}

        # several updates of one object within one transaction: the union too
        mark = await data.modseq(acc, "Thing")
        async with data.transaction(acc) as tx:
            await tx.update("Thing", {"id": "c", "v": 1}, {"q1"})
            await tx.update("Thing", {"id": "c", "v": 2}, {"q2"})
        same_tx = await data.changes(acc, "Thing", mark, None)
        assert same_tx.updated_properties == {"q1", "q2"}

        # any update without a hint makes the whole answer "anything may have changed"
        await update(data, acc, "c", None)
        assert (await data.changes(acc, "Thing", since, None)).updated_properties is None
        mark = await data.modseq(acc, "Thing")
        async with data.transaction(acc) as tx:
            await tx.update("Thing", {"id": "a", "v": 1}, {"q1"})
            await tx.update("Thing", {"id": "a", "v": 2}, None)
        assert (await data.changes(acc, "Thing", mark, None)).updated_properties is None

        # a creation or a destruction in the range: None as well
        mark = await data.modseq(acc, "Thing")
        await update(data, acc, "a", {"p1"})
        await create(data, acc, "d")
        with_create = await data.changes(acc, "Thing", mark, None)
        assert sets(with_create) == ({"d"}, {"a"}, set())
        assert with_create.updated_properties is None
        mark = await data.modseq(acc, "Thing")
        await update(data, acc, "a", {"p1"})
        await destroy(data, acc, "b")
        with_destroy = await data.changes(acc, "Thing", mark, None)
        assert sets(with_destroy) == (set(), {"a"}, {"b"})
        assert with_destroy.updated_properties is None

        # hints of one type do not leak into another
        mark = await data.modseq(acc, "Thing")
        await update(data, acc, "a", {"mine"})
        await create(data, acc, "z", type_name="Other")
        await update(data, acc, "z", None, t="Other")
        assert (await data.changes(acc, "Thing", mark, None)).updated_properties == {"mine"}

    run_data(body)


def test_prune_changes(run_data):
    async def body(data: DataStore):
        acc = await new_account(data)
        await create(data, acc, "a", "b")
        early = await data.modseq(acc, "Thing")
        await update(data, acc, "a", {"v"})
        before_cut = await data.modseq(acc, "Thing")
        await asyncio.sleep(0.05)
        cut = time.time()
        await asyncio.sleep(0.05)
        await update(data, acc, "b", {"v"})
        await create(data, acc, "c")
        removed = await data.prune_changes(cut)
        assert removed >= 3
        for stale in (0, early, before_cut - 1):
            with pytest.raises(CannotCalculateChanges):
                await data.changes(acc, "Thing", stale, None)
            with pytest.raises(CannotCalculateChanges):
                await data.changed_ids_since(acc, "Thing", stale)
        kept = await data.changes(acc, "Thing", before_cut, None)
        assert sets(kept) == ({"c"}, {"b"}, set())
        assert await data.changed_ids_since(acc, "Thing", before_cut) == {"b", "c"}
        # pruning everything: the current state still works, nothing before it does
        assert await data.prune_changes(time.time() + 1) >= 2
        current = await data.modseq(acc, "Thing")
        assert sets(await data.changes(acc, "Thing", current, None)) == (set(), set(), set())
        with pytest.raises(CannotCalculateChanges):
            await data.changes(acc, "Thing", before_cut, None)
        with pytest.raises(CannotCalculateChanges):
            await data.changes(acc, "Thing", current + 1, None)
        # objects themselves are untouched, and new changes are tracked again
        _, docs = await data.get(acc, "Thing", None)
        assert sorted(d["id"] for d in docs) == ["a", "b", "c"]
        await destroy(data, acc, "a")
        assert sets(await data.changes(acc, "Thing", current, None)) == (set(), set(), {"a"})

    run_data(body)


def test_prune_leaves_other_accounts_alone(run_data):
    async def body(data: DataStore):
        old = await new_account(data)
        await create(data, old, "a")
        await asyncio.sleep(0.05)
        cut = time.time()
        await asyncio.sleep(0.05)
        fresh = await new_account(data, "bob@example.com")
        await create(data, fresh, "b")
        await data.prune_changes(cut)
        with pytest.raises(CannotCalculateChanges):
            await data.changes(old, "Thing", 0, None)
        assert sets(await data.changes(fresh, "Thing", 0, None)) == ({"b"}, set(), set())

    run_data(body)


def test_changed_ids_since(run_data):
    async def body(data: DataStore):
        acc = await new_account(data)
        await create(data, acc, "a", "b", "c")
        since = await data.modseq(acc, "Thing")
        await update(data, acc, "a", {"v"})
        await create(data, acc, "d", "e")
        await destroy(data, acc, "b", "e")
        await create(data, acc, "x", type_name="Other")
        assert await data.changed_ids_since(acc, "Thing", since) == {"a", "b", "d", "e"}
        now = await data.modseq(acc, "Thing")
        assert await data.changed_ids_since(acc, "Thing", now) == set()
        assert await data.changed_ids_since(acc, "Other", since) == {"x"}

    run_data(body)


def test_pruning_keeps_the_current_state_of_a_quiet_type_usable(run_data):
    async def body(data: DataStore):
        acc = await new_account(data)
        await create(data, acc, "q1", type_name="Quiet")
        await create(data, acc, "t1")
        quiet = await data.modseq(acc, "Quiet")
        await asyncio.sleep(0.05)
        cut = time.time()
        await asyncio.sleep(0.05)
        await create(data, acc, "t2")
        assert await data.prune_changes(cut) >= 2
        # the log lost everything up to t1, but nothing of "Quiet" happened since: a client
        # holding the state /get still hands out must not be told to resync
        assert await data.modseq(acc, "Quiet") == quiet
        same = await data.changes(acc, "Quiet", quiet, None)
        assert sets(same) == (set(), set(), set())
        assert (same.new_modseq, same.has_more) == (quiet, False)
        assert await data.changed_ids_since(acc, "Quiet", quiet) == set()
        # states before the quiet type's last change are still unknowable
        with pytest.raises(CannotCalculateChanges):
            await data.changes(acc, "Quiet", quiet - 1, None)
        with pytest.raises(CannotCalculateChanges):
            await data.changes(acc, "Thing", quiet, None)
        # the current state after the next change works as usual
        await update(data, acc, "q1", {"v"}, t="Quiet")
        newer = await data.modseq(acc, "Quiet")
        await update(data, acc, "q1", {"w"}, t="Quiet")
        assert sets(await data.changes(acc, "Quiet", newer, None)) == (set(), {"q1"}, set())

    run_data(body)
