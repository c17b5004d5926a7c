"""Identity (RFC 8621 §6): the From addresses, names and signatures a user sends with.

An identity may only use an address the account may send as (``methods.sending``);
anything else is ``forbiddenFrom`` (§6.3). Every account gets one identity for its own
address when it is provisioned (``create_default_identity``), so Identity/get never writes.
"""

from __future__ import annotations

from typing import Any

from jmap.api import Invocation
from jmap.errors import SetError, invalid_properties
from jmap.store.base import Account, Document, Transaction

from .sending import account_address, may_send_as
from .standard import DataType, SetContext

IDENTITY = "Identity"


class IdentityType(DataType):
    name = IDENTITY
    id_prefix = "I"
    computed = frozenset({"mayDelete"})

    async def present(
        self, inv: Invocation, account: Account, docs: list[Document]
    ) -> list[dict[str, Any]]:
        return [{**d, "mayDelete": not account.is_read_only} for d in docs]

    async def before_create(
        self, inv: Invocation, tx: Transaction, obj: dict[str, Any], ctx: SetContext
    ) -> None:
        account = inv.accounts[tx.account_id]
        data = inv.services.data
        obj["email"] = obj["email"].strip().lower()
        if not await may_send_as(data, await account_address(data, account), obj["email"]):
            raise SetError("forbiddenFrom", "This account may not send as that address.")

    async def before_update(
        self,
        inv: Invocation,
        tx: Transaction,
        current: Document,
        new: dict[str, Any],
        changed: set[str],
        ctx: SetContext,
    ) -> None:
        if "email" in changed:
            raise invalid_properties(["email"], "The email of an Identity is immutable.")


async def create_default_identity(tx: Transaction, address: str, name: str = "") -> None:
    """The identity a new account starts with: its own address."""
    (identity_id,) = await tx.new_ids(IdentityType.id_prefix, 1)
    await tx.create(
        IDENTITY,
        {
            "id": identity_id,
            "name": name,
            "email": address.lower(),
            "replyTo": None,
            "bcc": None,
            "textSignature": "",
            "htmlSignature": "",
        },
    )
