"""Recipient resolution (smtp_gateway.recipients) on a real data store, and the routing
records it reads."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from jmap.provision import add_account
from jmap.store.base import SERVER_ACCOUNT, NotFoundError
from jmap.store.sqlite import SqliteDataStore
from smtp_gateway import domains
from smtp_gateway.addresses import AddressError
from smtp_gateway.recipients import CACHE_SECONDS, MAX_HOPS, RecipientResolver, Resolution


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def with_store(tmp_path: Path, work) -> None:
    async def go() -> None:
        data = SqliteDataStore(tmp_path / "fulmar.db")
        await data.open()
        try:
            accounts = {}
            for login in ("alice@example.com", "bob@example.com", "zoe@bücher.example"):
                accounts[login] = (await add_account(data, login, "password123")).id
            await work(data, accounts)
        finally:
            await data.close()

    asyncio.run(go())


def test_exact_login_alias_subaddress_catch_all(tmp_path):
    async def work(data, accounts):
        alice, bob = accounts["alice@example.com"], accounts["bob@example.com"]
        resolver = RecipientResolver(data)
        assert await resolver.resolve("alice@example.com") == Resolution(alice, True)
        assert await resolver.resolve("ALICE@Example.COM") == Resolution(alice, True)
        assert await resolver.resolve("alice+news@example.com") == Resolution(alice, True)
        assert await resolver.resolve("nobody@example.com") == Resolution(None, True)
        assert await resolver.resolve("alice@elsewhere.example") == Resolution(None, False)
        await domains.add_alias(data, "sales@example.com", "bob@example.com")
        assert await resolver.resolve("sales@example.com") == Resolution(bob, True)
        assert await resolver.resolve("sales+q4@example.com") == Resolution(bob, True)
        # an alias of a sub-address wins over the sub-address rule
        await domains.add_alias(data, "alice+bob@example.com", "bob@example.com")
        assert await resolver.resolve("alice+bob@example.com") == Resolution(bob, True)
        # a domain of its own, with no accounts: local, then with a catch-all
        await domains.add_domain(data, "Extra.Example")
        assert await resolver.resolve("x@extra.example") == Resolution(None, True)
        await domains.set_catch_all(data, "extra.example", "sales@example.com")
        assert await resolver.resolve("x@extra.example") == Resolution(bob, True)
        await domains.set_catch_all(data, "extra.example", None)
        assert await resolver.resolve("x@extra.example") == Resolution(None, True)
        await domains.remove_domain(data, "extra.example")
        assert await resolver.resolve("x@extra.example") == Resolution(None, False)
        # a catch-all on an account's domain catches unknown users there
        await domains.add_domain(data, "example.com", catch_all="alice@example.com")
        assert await resolver.resolve("nobody@example.com") == Resolution(alice, True)

    with_store(tmp_path, work)


def test_internationalised_domains(tmp_path):
    async def work(data, accounts):
        zoe = accounts["zoe@bücher.example"]
        resolver = RecipientResolver(data)
        assert await resolver.resolve("zoe@bücher.example") == Resolution(zoe, True)
        assert await resolver.resolve("zoe@xn--bcher-kva.example") == Resolution(zoe, True)
        assert await resolver.resolve("anna@XN--BCHER-KVA.example") == Resolution(None, True)
        doc = await domains.add_domain(data, "münchen.example")
        assert doc == {"id": "xn--mnchen-3ya.example", "catchAll": None}

    with_store(tmp_path, work)


def test_alias_loops_are_bounded(tmp_path):
    async def work(data, accounts):
        resolver = RecipientResolver(data)
        await domains.add_alias(data, "a@example.com", "b@example.com")
        await domains.add_alias(data, "b@example.com", "a@example.com")
        assert await resolver.resolve("a@example.com") == Resolution(None, True)
        # a chain of MAX_HOPS aliases resolves; one more does not
        names = [f"hop{i}@example.com" for i in range(MAX_HOPS + 1)]
        for name, target in zip(names, [*names[1:], "bob@example.com"], strict=True):
            await domains.add_alias(data, name, target)
        bob = accounts["bob@example.com"]
        assert await resolver.resolve(names[1]) == Resolution(bob, True)
        assert await resolver.resolve(names[0]) == Resolution(None, True)

    with_store(tmp_path, work)


def test_postmaster_always_reaches_someone(tmp_path):
    async def work(data, accounts):
        resolver = RecipientResolver(data)
        alice = accounts["alice@example.com"]
        assert await resolver.resolve("Postmaster") == Resolution(alice, True)
        assert await resolver.resolve("postmaster@example.com") == Resolution(alice, True)
        zoe = accounts["zoe@bücher.example"]
        assert await resolver.resolve("postmaster@bücher.example") == Resolution(zoe, True)
        await domains.add_domain(data, "empty.example")
        assert await resolver.resolve("postmaster@empty.example") == Resolution(alice, True)
        await domains.add_alias(data, "postmaster@example.com", "bob@example.com")
        bob = accounts["bob@example.com"]
        assert await resolver.resolve("postmaster@example.com") == Resolution(bob, True)
        assert await resolver.resolve("postmaster@elsewhere.example") == Resolution(None, False)

    with_store(tmp_path, work)


def test_garbage_addresses_resolve_to_nothing(tmp_path):
    async def work(data, accounts):
        resolver = RecipientResolver(data)
        for bad in ("", "@", "alice@", "@example.com", "a@b@", "a@-x.example", "a@x..y", "<>"):
            assert await resolver.resolve(bad) == Resolution(None, False), bad
        assert await resolver.resolve('"alice"@example.com') == Resolution(None, True)

    with_store(tmp_path, work)


def test_login_domains_are_cached_but_new_logins_resolve_at_once(tmp_path):
    async def work(data, accounts):
        clock = Clock()
        resolver = RecipientResolver(data, clock=clock)
        assert await resolver.resolve("x@new.example") == Resolution(None, False)
        new = (await add_account(data, "nina@new.example", "password123")).id
        assert await resolver.resolve("nina@new.example") == Resolution(new, True)
        # the domain's other users: relaying (5.7.1) until the cache is renewed, then 5.1.1
        assert await resolver.resolve("x@new.example") == Resolution(None, False)
        clock.now += 60
        assert await resolver.resolve("x@new.example") == Resolution(None, True)

    with_store(tmp_path, work)


def test_records_keep_their_schema_and_refuse_mistakes(tmp_path):
    async def work(data, accounts):
        await domains.add_domain(data, "Mail.Example.", catch_all="Bob@Example.com")
        await domains.add_alias(data, "Info@Example.com", "alice@example.com")
        _, docs = await data.get(SERVER_ACCOUNT, "Domain", None)
        assert docs == [{"id": "mail.example", "catchAll": "bob@example.com"}]
        _, docs = await data.get(SERVER_ACCOUNT, "Alias", None)
        assert docs == [{"id": "info@example.com", "target": "alice@example.com"}]
        with pytest.raises(domains.RoutingError):
            await domains.add_domain(data, "mail.example")
        with pytest.raises(domains.RoutingError):
            await domains.add_alias(data, "info@example.com", "bob@example.com")
        with pytest.raises(domains.RoutingError):
            await domains.add_alias(data, "me@example.com", "ME@example.com")
        with pytest.raises(AddressError):
            await domains.add_domain(data, "not a domain")
        with pytest.raises(AddressError):
            await domains.add_alias(data, "no-at-sign", "alice@example.com")
        with pytest.raises(NotFoundError):
            await domains.remove_domain(data, "never.example")
        with pytest.raises(NotFoundError):
            await domains.remove_alias(data, "never@example.com")
        with pytest.raises(NotFoundError):
            await domains.set_catch_all(data, "never.example", None)

    with_store(tmp_path, work)


def test_found_accounts_are_cached_for_a_while(tmp_path):
    async def work(data, accounts):
        clock = Clock()
        resolver = RecipientResolver(data, clock=clock)
        bob = accounts["bob@example.com"]
        await domains.add_alias(data, "desk@example.com", "bob@example.com")
        assert await resolver.resolve("desk@example.com") == Resolution(bob, True)
        await domains.remove_alias(data, "desk@example.com")
        assert await resolver.resolve("desk@example.com") == Resolution(bob, True)
        clock.now += CACHE_SECONDS
        assert await resolver.resolve("desk@example.com") == Resolution(None, True)

    with_store(tmp_path, work)
