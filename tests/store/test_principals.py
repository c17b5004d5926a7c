"""Principals, accounts, access grants and tokens (the operators' side of the data role)."""

from __future__ import annotations

import time

import pytest

from jmap.store.base import ConflictError, DataStore, NotFoundError


async def _principal_id(data: DataStore, login: str) -> str:
    principal = await data.principal_by_login(login)
    assert principal is not None
    return principal.id


def test_create_principal_makes_a_personal_account(run_data):
    async def body(data: DataStore):
        account = await data.create_principal("alice@example.com", "h1", "Alice's mail")
        principal = await data.principal_by_login("alice@example.com")
        assert principal is not None
        assert principal.login == "alice@example.com"
        assert principal.password_hash == "h1"
        assert account.owner_id == principal.id
        assert account.name == "Alice's mail"
        assert account.is_personal and not account.is_read_only
        assert await data.principal(principal.id) == principal
        assert await data.principal("no-such-id") is None
        assert await data.principal_by_login("bob@example.com") is None
        accounts = await data.accounts_for(principal.id)
        assert [a.id for a in accounts] == [account.id]
        assert accounts[0].is_personal and not accounts[0].is_read_only
        return account

    account = run_data(body)
    assert account.id and account.id != account.owner_id


def test_principals_lists_everyone(run_data):
    async def body(data: DataStore):
        for login in ("c@x.org", "a@x.org", "b@x.org"):
            await data.create_principal(login, "h", login)
        return sorted(p.login for p in await data.principals())

    assert run_data(body) == ["a@x.org", "b@x.org", "c@x.org"]


def test_duplicate_login_is_a_conflict_even_with_other_case(run_data):
    async def body(data: DataStore):
        await data.create_principal("Alice@Example.com", "h", "a")
        with pytest.raises(ConflictError):
            await data.create_principal("Alice@Example.com", "h", "a")
        with pytest.raises(ConflictError):
            await data.create_principal("alice@example.COM", "h", "a")
        # the failed creations left no principal or account behind
        assert len(await data.principals()) == 1
        found = await data.principal_by_login("ALICE@EXAMPLE.COM")
        assert found is not None and found.login == "Alice@Example.com"
        assert len(await data.accounts_for(found.id)) == 1

    run_data(body)


def test_set_password(run_data):
    async def body(data: DataStore):
        await data.create_principal("alice@example.com", "old", "a")
        await data.create_principal("bob@example.com", "bob", "b")
        await data.set_password("ALICE@example.com", "new")
        alice = await data.principal_by_login("alice@example.com")
        bob = await data.principal_by_login("bob@example.com")
        assert alice is not None and alice.password_hash == "new"
        assert bob is not None and bob.password_hash == "bob"
        with pytest.raises(NotFoundError):
            await data.set_password("carol@example.com", "x")

    run_data(body)


def test_tokens_and_expiry(run_data):
    async def body(data: DataStore):
        await data.create_principal("alice@example.com", "h", "a")
        await data.create_principal("bob@example.com", "h", "b")
        alice = await _principal_id(data, "alice@example.com")
        bob = await _principal_id(data, "bob@example.com")
        now = time.time()
        await data.add_token("t-forever", alice, "cli", None)
        await data.add_token("t-hour", bob, "cli", now + 3600)
        forever = await data.principal_for_token("t-forever", now + 10 * 365 * 86400)
        assert forever is not None and forever.id == alice
        hour = await data.principal_for_token("t-hour", now)
        assert hour is not None and hour.id == bob
        assert await data.principal_for_token("t-hour", now + 3601) is None
        assert await data.principal_for_token("t-unknown", now) is None

    run_data(body)


def test_grant_and_accounts_for(run_data):
    async def body(data: DataStore):
        # names chosen so that sorting by name alone would put the shared ones first
        own = await data.create_principal("zed@x.org", "h", "zzz")
        shared_rw = await data.create_principal("amy@x.org", "h", "aaa")
        shared_ro = await data.create_principal("bea@x.org", "h", "bbb")
        zed = own.owner_id
        await data.grant(shared_rw.id, zed, False)
        await data.grant(shared_ro.id, zed, True)
        accounts = await data.accounts_for(zed)
        assert accounts[0].id == own.id
        assert accounts[0].is_personal and not accounts[0].is_read_only
        by_id = {a.id: a for a in accounts}
        assert set(by_id) == {own.id, shared_rw.id, shared_ro.id}
        assert not by_id[shared_rw.id].is_personal
        assert not by_id[shared_rw.id].is_read_only
        assert by_id[shared_ro.id].is_read_only
        assert not by_id[shared_ro.id].is_personal
        assert by_id[shared_ro.id].owner_id == shared_ro.owner_id
        # the owners' views are unchanged
        amy = await data.accounts_for(shared_rw.owner_id)
        assert [(a.id, a.is_personal, a.is_read_only) for a in amy] == [(shared_rw.id, True, False)]
        # granting again changes the mode instead of adding a second entry
        await data.grant(shared_ro.id, zed, False)
        again = {a.id: a for a in await data.accounts_for(zed)}
        assert len(again) == 3
        assert not again[shared_ro.id].is_read_only

    run_data(body)


def test_remove_principal(run_data):
    blob_x = "G" + "1" * 64  # only alice holds it
    blob_y = "G" + "2" * 64  # alice and bob hold it
    blob_z = "G" + "3" * 64  # held by alice through an object

    async def body(data: DataStore):
        alice = await data.create_principal("alice@example.com", "h", "a")
        bob = await data.create_principal("bob@example.com", "h", "b")
        other = await data.create_principal("carol@example.com", "h", "c")
        await data.grant(alice.id, bob.owner_id, True)
        await data.grant(other.id, alice.owner_id, False)
        await data.add_token("alice-token", alice.owner_id, "cli", None)
        later = time.time() + 3600
        await data.add_upload(alice.id, blob_x, 10, later)
        await data.add_upload(alice.id, blob_y, 10, later)
        await data.add_upload(bob.id, blob_y, 10, later)
        async with data.transaction(alice.id) as tx:
            await tx.create("Thing", {"id": "t1", "v": 1})
            await tx.add_blob_refs([(blob_z, "t1")])
        async with data.transaction(bob.id) as tx:
            await tx.create("Thing", {"id": "t1", "v": 2})

        with pytest.raises(NotFoundError):
            await data.remove_principal("nobody@example.com")
        account_ids, orphans = await data.remove_principal("ALICE@example.com")
        assert account_ids == [alice.id]
        assert sorted(orphans) == sorted([blob_x, blob_z])

        assert await data.principal_by_login("alice@example.com") is None
        assert await data.principal(alice.owner_id) is None
        assert await data.principal_for_token("alice-token", time.time()) is None
        assert await data.accounts_for(alice.owner_id) == []
        assert [p.login for p in await data.principals()] == [
            "bob@example.com",
            "carol@example.com",
        ]
        _, docs = await data.get(alice.id, "Thing", None)
        assert docs == []
        assert not await data.blob_visible(alice.id, blob_x, time.time())
        # bob lost access to alice's account, kept his own data and his blob
        assert [a.id for a in await data.accounts_for(bob.owner_id)] == [bob.id]
        _, bob_docs = await data.get(bob.id, "Thing", None)
        assert bob_docs == [{"id": "t1", "v": 2}]
        assert await data.blob_visible(bob.id, blob_y, time.time())
        # the login is free again
        again = await data.create_principal("alice@example.com", "h", "a")
        assert again.id != alice.id

    run_data(body)
