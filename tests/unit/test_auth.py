"""Authorization header parsing, password checks, tokens and failure throttling."""

from __future__ import annotations

import asyncio
import base64

import pytest

from jmap.auth import Authenticator, FailureThrottle, hash_password, new_token, token_hash
from jmap.store.base import Principal

ALICE = Principal(id="p1", login="alice@example.com", password_hash=hash_password("s3cret pw"))


class FakeData:
    """Only what the Authenticator asks of the data role."""

    def __init__(self) -> None:
        self.token, digest = new_token()
        self.tokens = {digest: ALICE}

    async def principal_by_login(self, login: str) -> Principal | None:
        return ALICE if login.lower() == ALICE.login else None

    async def principal_for_token(self, digest: str, now: float) -> Principal | None:
        return self.tokens.get(digest)

    async def token_used(self, digest: str, when: float) -> None:
        assert digest in self.tokens


def basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


def authenticate(header: str | None) -> Principal | None:
    data = FakeData()
    if header and "{token}" in header:
        header = header.replace("{token}", data.token)
    return asyncio.run(Authenticator(data).authenticate(header))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "header",
    [
        basic("alice@example.com:s3cret pw"),
        basic("ALICE@example.com:s3cret pw"),
        "basic " + base64.b64encode(b"alice@example.com:s3cret pw").decode(),
        "Bearer {token}",
        "bearer   {token}  ",
    ],
)
def test_accepted(header):
    assert authenticate(header) == ALICE


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Basic",
        "Basic ",
        basic("alice@example.com:wrong"),
        basic("alice@example.com"),  # no colon
        basic("bob@example.com:s3cret pw"),
        basic("alice@example.com:s3cret pw\n"),
        "Basic not base64!",
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),  # not UTF-8
        "Bearer",
        "Bearer fmt_unknown",
        "Token {token}",
        "{token}",
    ],
)
def test_refused(header):
    assert authenticate(header) is None


def test_tokens_are_stored_hashed():
    token, digest = new_token()
    assert token.startswith("fmt_")
    assert token not in digest
    assert token_hash(token) == digest
    assert new_token()[0] != token


def test_password_cache_follows_password_changes():
    data = FakeData()
    auth = Authenticator(data)  # type: ignore[arg-type]

    async def run():
        assert await auth.check_password("alice@example.com", "s3cret pw") == ALICE
        changed = Principal(ALICE.id, ALICE.login, hash_password("another pw"))
        data.principal_by_login = lambda login: _return(changed)  # type: ignore[method-assign]
        # the cached success for the old password must not outlive the change
        assert await auth.check_password("alice@example.com", "s3cret pw") is None
        assert await auth.check_password("alice@example.com", "another pw") == changed

    asyncio.run(run())


async def _return(value):
    return value


def test_failure_throttle(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("jmap.auth.time.monotonic", lambda: clock[0])
    throttle = FailureThrottle(allowed=3, window=60)
    for _ in range(3):
        assert throttle.retry_after("1.2.3.4") == 0
        throttle.failed("1.2.3.4")
    wait = throttle.retry_after("1.2.3.4")
    assert 1 <= wait <= 61
    assert throttle.retry_after("5.6.7.8") == 0, "other clients are not affected"
    clock[0] += 61
    assert throttle.retry_after("1.2.3.4") == 0


def test_failure_throttle_memory_stays_bounded(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("jmap.auth.time.monotonic", lambda: clock[0])
    monkeypatch.setattr(FailureThrottle, "MAX_CLIENTS", 100)
    throttle = FailureThrottle(allowed=2, window=60)
    for n in range(100):
        throttle.failed(f"10.0.{n // 256}.{n % 256}")
    throttle.failed("1.2.3.4")
    throttle.failed("1.2.3.4")
    assert throttle.retry_after("1.2.3.4") > 0
    clock[0] += 61  # the one-off failures age out; a new failure makes room
    throttle.failed("5.6.7.8")
    assert len(throttle._failures) == 1
    # a client still inside its window is never forgotten
    throttle.failed("5.6.7.8")
    for n in range(150):
        throttle.failed(f"10.1.{n // 256}.{n % 256}")
    assert throttle.retry_after("5.6.7.8") > 0
