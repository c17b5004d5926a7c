"""Authentication: argon2 password hashes, Bearer tokens, and throttling of failures.

Failed password logins are throttled per login and, with a much higher allowance, per client
address, so that one client behind a shared NAT or proxy cannot lock everyone else out.
Bearer tokens are never throttled: they cannot be guessed, and a valid one always works.
An unknown login costs one argon2 verification like a known one, so that the time of the
answer does not tell who has an account.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import secrets
import time
from collections import deque
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .store.base import Account, DataStore, Principal, StoreError

log = logging.getLogger("fulmar.auth")

_hasher = PasswordHasher()

TOKEN_PREFIX = "fmt_"
#: Browsers cannot set an Authorization header on a WebSocket or an EventSource, so those two
#: endpoints also take a Bearer token in this query parameter (RFC 6750 §2.3).
QUERY_TOKEN = "access_token"
#: a token's "last used" is written at most this often (seconds)
TOKEN_USE_RESOLUTION = 60
CHALLENGE = {"WWW-Authenticate": 'Basic realm="fulmar", Bearer realm="fulmar"'}


@dataclass(frozen=True)
class Credentials:
    """Who a request or connection is, and the credentials to check again while it lasts."""

    authorization: str
    principal: Principal
    accounts: list[Account]

    @property
    def id(self) -> str:
        """Names these credentials without revealing them (push subscriptions are tied to it)."""
        scheme, _, value = self.authorization.partition(" ")
        if scheme.lower() == "bearer":
            return TOKEN_CREDENTIAL + token_hash(value.strip())
        return password_credential(self.principal)


TOKEN_CREDENTIAL = "token:"
PASSWORD_CREDENTIAL = "password:"


def password_credential(principal: Principal) -> str:
    """Changes when the password does, so a new password revokes what the old one made."""
    digest = hashlib.sha256(principal.password_hash.encode()).hexdigest()[:32]
    return PASSWORD_CREDENTIAL + digest


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash() -> str:
    """A hash no password matches, with the parameters of real ones."""
    return _hasher.hash(secrets.token_urlsafe(32))


def _verify_unknown(password: str) -> bool:
    """What checking a password of an unknown login costs: as much as for a known one."""
    _verify(_dummy_hash(), password)
    return False


def new_token() -> tuple[str, str]:
    """A new Bearer token and the hash that is stored (the token itself never is)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def credential_valid(data: DataStore, principal_id: str, credential_id: str) -> bool:
    """Do the credentials named by ``credential_id`` still let ``principal_id`` in?

    False once a token expired or was revoked, or the password changed.
    """
    if credential_id.startswith(TOKEN_CREDENTIAL):
        digest = credential_id.removeprefix(TOKEN_CREDENTIAL)
        principal = await data.principal_for_token(digest, time.time())
        return principal is not None and principal.id == principal_id
    principal = await data.principal(principal_id)
    return principal is not None and password_credential(principal) == credential_id


class FailureThrottle:
    """Counts failures per key (a login, a client address) in a sliding window."""

    def __init__(self, allowed: int, window: float) -> None:
        self.allowed = allowed
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._next_purge = 0.0

    def _recent(self, client: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(client, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def retry_after(self, client: str) -> int:
        """Seconds to wait before trying again, or 0 if the client may try now."""
        now = time.monotonic()
        failures = self._recent(client, now)
        if len(failures) < self.allowed:
            if not failures:
                self._failures.pop(client, None)
            return 0
        return max(1, int(failures[0] + self.window - now) + 1)

    def failed(self, client: str) -> None:
        now = time.monotonic()
        if len(self._failures) >= self.MAX_CLIENTS and now >= self._next_purge:
            self._forget_quiet(now)
            self._next_purge = now + 1  # a flood costs one sweep a second, not one a failure
        self._recent(client, now).append(now)

    #: addresses tracked at once; past it, those with no failure in the window are forgotten
    MAX_CLIENTS = 10_000

    def _forget_quiet(self, now: float) -> None:
        """Keep memory bounded when many addresses fail once and never come back."""
        for client in list(self._failures):
            if not self._recent(client, now):
                del self._failures[client]


class Throttled(Exception):
    """A password attempt refused unchecked: too many recent failures (answer 429)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class LoginThrottle:
    """Failed password logins per login and per client address.

    A login over its allowance is refused even with the right password until its window
    passes; so is every password attempt from an address over its (higher) allowance.
    """

    def __init__(self, per_login: int, per_address: int, window: float) -> None:
        self.logins = FailureThrottle(per_login, window)
        self.addresses = FailureThrottle(per_address, window)

    @staticmethod
    def _login_key(login: str) -> str:
        # logins are matched case-insensitively; a digest bounds the memory per entry
        return hashlib.sha256(login.lower().encode()).hexdigest()

    def check(self, login: str, client: str) -> None:
        """Raise ``Throttled`` if this attempt may not even be checked."""
        wait = max(
            self.logins.retry_after(self._login_key(login)), self.addresses.retry_after(client)
        )
        if wait:
            raise Throttled(wait)

    def failed(self, login: str | None, client: str) -> None:
        if login is not None:
            self.logins.failed(self._login_key(login))
        self.addresses.failed(client)


class Authenticator:
    """Turns an Authorization header into a Principal, or None."""

    def __init__(self, data: DataStore, throttle: LoginThrottle | None = None) -> None:
        self.data = data
        self.throttle = throttle
        # Verified (login, password) pairs, so that each request does not pay for argon2.
        self._verified: dict[tuple[str, str], tuple[str, float]] = {}
        #: token digest -> when its use was last written (monotonic)
        self._use_written: dict[str, float] = {}

    async def authenticate(
        self, authorization: str | None, client: str | None = None
    ) -> Principal | None:
        """The principal, or None. With ``client`` (the peer's address) failures count
        towards the throttle, and a throttled password attempt raises ``Throttled``."""
        if not authorization:
            return None
        scheme, _, credentials = authorization.partition(" ")
        scheme = scheme.lower()
        credentials = credentials.strip()
        login = None
        principal = None
        if scheme == "bearer" and credentials:
            digest = token_hash(credentials)
            principal = await self.data.principal_for_token(digest, time.time())
            if principal is not None:
                await self._note_use(digest)
        elif scheme == "basic" and credentials:
            login, password = _basic_credentials(credentials)
            if login is not None and password is not None:
                if client is not None and self.throttle is not None:
                    self.throttle.check(login, client)
                principal = await self.check_password(login, password)
        if principal is None and client is not None and self.throttle is not None:
            self.throttle.failed(login, client)
        return principal

    async def _note_use(self, digest: str) -> None:
        """Keep the token's "last used" (``fulmar token list``): one write a minute per token
        at most, not one per request."""
        now = time.monotonic()
        written = self._use_written.get(digest)
        if written is not None and now - written < TOKEN_USE_RESOLUTION:
            return
        if len(self._use_written) > 10_000:
            self._use_written.clear()
        self._use_written[digest] = now
        try:
            await self.data.token_used(digest, time.time())
        except StoreError as exc:  # bookkeeping only: the request goes on
            log.warning("cannot record a token's use: %s", exc)

    async def check_password(self, login: str, password: str) -> Principal | None:
        principal = await self.data.principal_by_login(login)
        if principal is None:
            await asyncio.to_thread(_verify_unknown, password)
            return None
        key = (principal.id, hashlib.sha256(password.encode()).hexdigest())
        cached = self._verified.get(key)
        if cached and cached[0] == principal.password_hash and cached[1] > time.monotonic():
            return principal
        ok = await asyncio.to_thread(_verify, principal.password_hash, password)
        if not ok:
            return None
        if len(self._verified) > 10_000:
            self._verified.clear()
        self._verified[key] = (principal.password_hash, time.monotonic() + 300)
        return principal


def _basic_credentials(credentials: str) -> tuple[str | None, str | None]:
    """(login, password) of a Basic header value (RFC 7617); None where it is malformed."""
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    login, sep, password = decoded.partition(":")
    return (login, password) if sep else (None, None)
