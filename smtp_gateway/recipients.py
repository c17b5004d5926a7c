"""Which account an envelope recipient's mail goes to.

Resolution of ``local@domain`` (lower-cased, domain in ASCII), first match wins:

1. an account whose login is the address;
2. an ``Alias`` of that address (its target resolved the same way: steps 1-3);
3. a sub-address ``user+tag@domain``: ``user@domain``, resolved the same way;
4. the ``catchAll`` of the domain's ``Domain`` record (resolved by steps 1-3);
5. ``postmaster@`` a local domain, or a bare ``Postmaster`` (RFC 5321 §4.5.1 requires
   both): the first account of that domain by login, else the first of the server.

Each step that follows a pointer counts a hop; past ``MAX_HOPS`` the chain (an alias loop)
resolves to nothing. A domain is local when some login has it or a ``Domain`` record
names it; the set of login domains is cached for ``CACHE_SECONDS``, which only decides
whether an unknown recipient is refused as unknown (5.1.1) or as relaying (5.7.1). Found
accounts are cached as long (at most ``CACHE_ENTRIES`` addresses), so a removed alias or
account may still receive mail for that long (delivery skips an account that is gone);
what is not found is looked up again each time, so new accounts and aliases work at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from jmap.store.base import SERVER_ACCOUNT, DataStore

from .addresses import AddressError, ascii_domain, login_forms, split_address
from .domains import ALIAS, DOMAIN

MAX_HOPS = 5
CACHE_SECONDS = 5.0
CACHE_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class Resolution:
    #: the account the mail goes to, or None
    account_id: str | None
    #: the recipient's domain is one of ours (so None above means "no such user")
    local: bool


class RecipientResolver:
    def __init__(self, data: DataStore, clock: Callable[[], float] = time.monotonic) -> None:
        self.data = data
        self._clock = clock
        self._logins: dict[str, list[str]] = {}  # ASCII domain -> logins, sorted
        self._first_login: str | None = None
        self._loaded_at: float | None = None
        self._found: dict[str, tuple[float, str]] = {}  # address -> (when, account)

    async def resolve(self, address: str) -> Resolution:
        """Where mail for ``address`` goes (see the module docstring)."""
        if address.lower() == "postmaster":  # RFC 5321 §4.1.1.3: bare <Postmaster>
            return Resolution(await self._postmaster(""), True)
        try:
            local, domain = split_address(address)
        except AddressError:
            return Resolution(None, False)
        normal = f"{local}@{domain}"
        cached = self._found.get(normal)
        if cached is not None and self._clock() - cached[0] < CACHE_SECONDS:
            return Resolution(cached[1], True)
        account = await self.account_of(normal)
        if account is not None:
            if len(self._found) >= CACHE_ENTRIES:
                self._found.clear()
            self._found[normal] = (self._clock(), account)
            return Resolution(account, True)
        record = await self._get(DOMAIN, domain)
        if record is None and not await self._login_domain(domain):
            return Resolution(None, False)
        if record is not None and record.get("catchAll"):
            account = await self.account_of(record["catchAll"])
        if account is None and local == "postmaster":
            account = await self._postmaster(domain)
        return Resolution(account, True)

    async def account_of(self, address: str, hops: int = 0) -> str | None:
        """The account of an address by login, alias or sub-address (no catch-all)."""
        if hops > MAX_HOPS:
            return None
        try:
            local, domain = split_address(address)
        except AddressError:
            return None
        normal = f"{local}@{domain}"
        for login in login_forms(normal):
            account = await self._account_of_login(login)
            if account is not None:
                return account
        alias = await self._get(ALIAS, normal)
        if alias is not None:
            return await self.account_of(alias["target"], hops + 1)
        base, plus, _ = local.partition("+")
        if plus and base:
            return await self.account_of(f"{base}@{domain}", hops + 1)
        return None

    async def is_local_domain(self, domain: str) -> bool:
        try:
            name = ascii_domain(domain)
        except AddressError:
            return False
        return await self._get(DOMAIN, name) is not None or await self._login_domain(name)

    async def _account_of_login(self, login: str) -> str | None:
        principal = await self.data.principal_by_login(login)
        if principal is None:
            return None
        own = [a for a in await self.data.accounts_for(principal.id) if a.is_personal]
        return own[0].id if own else None

    async def _get(self, type_name: str, object_id: str) -> dict | None:
        _, docs = await self.data.get(SERVER_ACCOUNT, type_name, [object_id])
        return docs[0] if docs else None

    async def _load_logins(self) -> None:
        now = self._clock()
        if self._loaded_at is not None and now - self._loaded_at < CACHE_SECONDS:
            return
        logins: dict[str, list[str]] = {}
        principals = await self.data.principals()  # sorted by login
        for principal in principals:
            try:
                _, domain = split_address(principal.login)
            except AddressError:
                continue
            logins.setdefault(domain, []).append(principal.login)
        self._logins = logins
        self._first_login = principals[0].login if principals else None
        self._loaded_at = now

    async def _login_domain(self, domain: str) -> bool:
        await self._load_logins()
        return domain in self._logins

    async def _postmaster(self, domain: str) -> str | None:
        await self._load_logins()
        logins = self._logins.get(domain) or ([self._first_login] if self._first_login else [])
        for login in logins:
            account = await self._account_of_login(login)
            if account is not None:
                return account
        return None
