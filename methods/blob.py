"""Blob/copy (RFC 8620 §6.3): make blobs of one account usable in another."""

from __future__ import annotations

import time
from typing import Any

from jmap.api import Invocation, MethodRegistry
from jmap.capabilities import CORE
from jmap.errors import MethodError
from jmap.schema import type_schema


async def copy(inv: Invocation, args: dict[str, Any]) -> dict[str, Any]:
    from_id = args.get("fromAccountId")
    from_account = inv.accounts.get(from_id) if isinstance(from_id, str) else None
    if from_account is None:
        raise MethodError("fromAccountNotFound")
    account = inv.account(args.get("accountId"), write=True)
    type_schema("Blob").validate_arguments("copy", args)
    data, blobs, config = inv.services.data, inv.services.blobs, inv.services.config
    now = time.time()
    copied: dict[str, str] = {}
    not_copied: dict[str, Any] = {}
    for blob_id in dict.fromkeys(args["blobIds"]):
        size = await blobs.size(blob_id)
        if size is None or not await data.blob_visible(from_account.id, blob_id, now):
            not_copied[blob_id] = {"type": "notFound", "description": None}
            continue
        await data.add_upload(account.id, blob_id, size, now + config.upload_ttl_seconds)
        copied[blob_id] = blob_id
    return {
        "fromAccountId": from_account.id,
        "accountId": account.id,
        "copied": copied or None,
        "notCopied": not_copied or None,
    }


def register(registry: MethodRegistry) -> None:
    registry.add("Blob/copy", CORE, copy)
