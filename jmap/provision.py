"""Creating and removing principals with their accounts (used by the CLI and the server)."""

from __future__ import annotations

import re
import time

from methods.identity import create_default_identity
from methods.mailbox import create_default_mailboxes

from .auth import hash_password
from .store.base import Account, BlobStore, DataStore

_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+")


class ProvisionError(Exception):
    """An operator's request cannot be carried out (bad address, short password…)."""


def check_address(address: str) -> str:
    if not _ADDRESS.fullmatch(address):
        raise ProvisionError(f"not an email address: {address!r}")
    return address.lower()


def check_password(password: str) -> str:
    if len(password) < 8:
        raise ProvisionError("the password must be at least 8 characters long")
    return password


async def add_account(data: DataStore, address: str, password: str) -> Account:
    """A principal whose login is ``address``, its account and standard mailboxes."""
    address = check_address(address)
    account = await data.create_principal(address, hash_password(check_password(password)), address)
    async with data.transaction(account.id) as tx:
        await create_default_mailboxes(tx)
        await create_default_identity(tx, address)
    return account


async def remove_account(data: DataStore, blobs: BlobStore, address: str) -> list[str]:
    """Remove a principal and its accounts; blobs no one references any more go too."""
    started = time.time()
    account_ids, orphans = await data.remove_principal(check_address(address))
    for blob_id in orphans:
        await blobs.delete(blob_id, written_before=started)
    return account_ids
