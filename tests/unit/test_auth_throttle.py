"""Login throttling per login and per address; tokens never throttled; unknown logins cost
an argon2 verification like known ones (issue 7.19)."""

from __future__ import annotations

import asyncio
import base64

import pytest
from argon2 import PasswordHasher

from jmap.auth import Authenticator, LoginThrottle, Throttled, hash_password, new_token
from jmap.store.base import Principal

ALICE = Principal(id="p1", login="alice@example.com", password_hash=hash_password("alice pw"))
BOB = Principal(id="p2", login="bob@example.com", password_hash=hash_password("bob pw"))
NAT = "127.0.0.7"  # the one address many users share (only a key: never contacted)


class FakeData:
    def __init__(self) -> None:
        self.token, digest = new_token()
        self.tokens = {digest: ALICE}

    async def principal_by_login(self, login: str) -> Principal | None:
        return {p.login: p for p in (ALICE, BOB)}.get(login.lower())

    async def principal_for_token(self, digest: str, now: float) -> Principal | None:
        return self.tokens.get(digest)

    async def token_used(self, digest: str, when: float) -> None:
        pass


def basic(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


def authenticator(per_login: int = 3, per_address: int = 50) -> tuple[Authenticator, FakeData]:
    data = FakeData()
    throttle = LoginThrottle(per_login=per_login, per_address=per_address, window=60)
    return Authenticator(data, throttle), data  # type: ignore[arg-type]


def test_one_login_over_its_limit_does_not_lock_out_others_at_the_address():
    auth, _ = authenticator()

    async def run() -> None:
        for _ in range(3):
            assert await auth.authenticate(basic("alice@example.com", "guess"), NAT) is None
        with pytest.raises(Throttled) as refused:
            await auth.authenticate(basic("ALICE@example.com", "alice pw"), NAT)
        assert refused.value.retry_after >= 1
        # user B behind the same NAT logs in with the right password
        assert await auth.authenticate(basic("bob@example.com", "bob pw"), NAT) == BOB

    asyncio.run(run())


def test_address_limit_is_separate_and_higher():
    auth, _ = authenticator(per_login=3, per_address=6)

    async def run() -> None:
        for n in range(6):  # many logins, each under its own limit
            assert await auth.authenticate(basic(f"user{n}@example.com", "x"), NAT) is None
        with pytest.raises(Throttled):
            await auth.authenticate(basic("bob@example.com", "bob pw"), NAT)
        assert await auth.authenticate(basic("bob@example.com", "bob pw"), "127.0.0.8") == BOB

    asyncio.run(run())


def test_a_valid_token_is_never_refused_by_the_throttle():
    auth, data = authenticator(per_login=2, per_address=2)

    async def run() -> None:
        for _ in range(2):
            assert await auth.authenticate(basic("alice@example.com", "guess"), NAT) is None
        with pytest.raises(Throttled):
            await auth.authenticate(basic("alice@example.com", "alice pw"), NAT)
        # both the login and the address are over their limits; the token still works
        assert await auth.authenticate(f"Bearer {data.token}", NAT) == ALICE

    asyncio.run(run())


def test_unknown_login_verifies_a_hash_like_a_known_one(monkeypatch):
    calls: list[str] = []
    real_verify = PasswordHasher.verify

    def counting_verify(self, encoded, password):
        calls.append(encoded)
        return real_verify(self, encoded, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting_verify)
    auth, _ = authenticator()

    async def run() -> None:
        assert await auth.check_password("alice@example.com", "wrong") is None
        assert await auth.check_password("nobody@example.com", "wrong") is None

    asyncio.run(run())
    assert len(calls) == 2, "an unknown login must cost an argon2 verification too"
    assert calls[0] == ALICE.password_hash
    assert calls[1].startswith("$argon2id$") and calls[1] != ALICE.password_hash
