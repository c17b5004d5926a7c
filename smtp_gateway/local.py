"""Local domains and mailboxes, as the outbound side sees them: a recipient whose domain
is local is delivered by an ``inbound`` job, never over SMTP.

A domain is local when it is the domain of some account's login address or has a
``Domain`` record in the server account; an address is an account's login (``user+tag``
counts as ``user``) or an ``Alias`` record whose target is one.
"""

from __future__ import annotations

from jmap.store.base import SERVER_ACCOUNT, DataStore

DOMAIN = "Domain"
ALIAS = "Alias"


class LocalDirectory:
    """Answers for one batch of deliveries (it reads the principals once)."""

    def __init__(self, data: DataStore) -> None:
        self.data = data
        self._login_domains: set[str] | None = None

    async def is_local(self, domain: str) -> bool:
        domain = domain.lower()
        if self._login_domains is None:
            principals = await self.data.principals()
            self._login_domains = {p.login.rpartition("@")[2].lower() for p in principals}
        if domain in self._login_domains:
            return True
        _, records = await self.data.get(SERVER_ACCOUNT, DOMAIN, [domain])
        return bool(records)

    async def account_for(self, address: str) -> str | None:
        """The account that receives mail for a local address, or None (unknown user)."""
        address = address.lower()
        local, _, domain = address.rpartition("@")
        candidates = [address]
        base = local.split("+", 1)[0]
        if base != local:
            candidates.append(f"{base}@{domain}")
        for candidate in candidates:
            account = await self.login_account(candidate)
            if account is not None:
                return account
            _, aliases = await self.data.get(SERVER_ACCOUNT, ALIAS, [candidate])
            for alias in aliases:
                account = await self.login_account(str(alias.get("target", "")).lower())
                if account is not None:
                    return account
        return None

    async def login_account(self, login: str) -> str | None:
        principal = await self.data.principal_by_login(login)
        if principal is None:
            return None
        accounts = await self.data.accounts_for(principal.id)
        personal = [a for a in accounts if a.is_personal and a.owner_id == principal.id]
        return personal[0].id if personal else None
