"""Which addresses an account may send as (RFC 8621 §6, §7.5 and §9.6).

An account owns its login address, every alias whose target is that address (``Alias``
records of the server account), and, through a ``*@domain`` identity, every address of its
own login's domain.
"""

from __future__ import annotations

from jmap.store.base import SERVER_ACCOUNT, Account, DataStore

ALIAS = "Alias"


async def account_address(data: DataStore, account: Account) -> str:
    """The login address of the account's owner (its own address)."""
    owner = await data.principal(account.owner_id)
    return owner.login.lower() if owner is not None else ""


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


async def may_send_as(data: DataStore, own: str, email: str) -> bool:
    """May the account whose address is ``own`` use ``email`` (an address or ``*@domain``)?"""
    email = email.strip().lower()
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain or not own:
        return False
    if email == own:
        return True
    if local == "*":
        return domain == domain_of(own)
    _, aliases = await data.get(SERVER_ACCOUNT, ALIAS, [email])
    return any(str(a.get("target", "")).lower() == own for a in aliases)


def identity_covers(identity_email: str, address: str) -> bool:
    """Is ``address`` the identity's address, or one of its ``*@domain``?"""
    identity_email, address = identity_email.lower(), address.lower()
    if identity_email.startswith("*@"):
        return domain_of(address) == identity_email[2:] and address.rpartition("@")[0] != ""
    return identity_email == address
