"""Authentication: argon2 password hashes, Bearer tokens, and throttling of failures."""

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
    """Counts failed logins per client address in a sliding window."""

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


class Authenticator:
    """Turns an Authorization header into a Principal, or None."""

    def __init__(self, data: DataStore) -> None:
        self.data = data
        # Verified (login, password) pairs, so that each request does not pay for argon2.
        self._verified: dict[tuple[str, str], tuple[str, float]] = {}
        #: token digest -> when its use was last written (monotonic)
        self._use_written: dict[str, float] = {}

    async def authenticate(self, authorization: str | None) -> Principal | None:
        if not authorization:
            return None
        scheme, _, credentials = authorization.partition(" ")
        scheme = scheme.lower()
        credentials = credentials.strip()
        if scheme == "bearer" and credentials:
            digest = token_hash(credentials)
            principal = await self.data.principal_for_token(digest, time.time())
            if principal is not None:
                await self._note_use(digest)
            return principal
        if scheme == "basic" and credentials:
            try:
                decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None
            login, sep, password = decoded.partition(":")
            if not sep:
                return None
            return await self.check_password(login, password)
        return None

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
