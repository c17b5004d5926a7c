"""Blob/copy (RFC 8620 §6.3): make blobs of one account usable in another.

A part blob id (``jmap.part_blobs``) names bytes inside a message; copying it stores those
bytes as a blob of their own, so the other account gets the part and not the whole message.
"""

from __future__ import annotations

import time
from typing import Any

from jmap.api import Invocation, MethodRegistry
from jmap.capabilities import CORE
from jmap.errors import MethodError
from jmap.part_blobs import read_blob, split_blob_id
from jmap.schema import type_schema
from jmap.store.base import BlobStore, DataStore


async def copy(inv: Invocation, args: dict[str, Any]) -> dict[str, Any]:
    from_id = args.get("fromAccountId")
    if not isinstance(from_id, str):  # RFC 8620 §3.6.2: a missing argument is invalid
        raise MethodError("invalidArguments", "fromAccountId must be given, as a string.")
    from_account = inv.accounts.get(from_id)
    if from_account is None:
        raise MethodError("fromAccountNotFound")
    account = inv.account(args.get("accountId"), write=True)
    type_schema("Blob").validate_arguments("copy", args)
    data, blobs, config = inv.services.data, inv.services.blobs, inv.services.config
    now = time.time()
    copied: dict[str, str] = {}
    not_copied: dict[str, Any] = {}
    for blob_id in dict.fromkeys(args["blobIds"]):
        found = await _source(data, blobs, from_account.id, blob_id, now)
        if found is None:
            not_copied[blob_id] = {"type": "notFound", "description": None}
            continue
        copied_id, size = found
        await data.add_upload(account.id, copied_id, size, now + config.upload_ttl_seconds)
        copied[blob_id] = copied_id
    return {
        "fromAccountId": from_account.id,
        "accountId": account.id,
        "copied": copied or None,
        "notCopied": not_copied or None,
    }


async def _source(
    data: DataStore, blobs: BlobStore, account_id: str, blob_id: str, now: float
) -> tuple[str, int] | None:
    """The stored blob id and size to give the other account, if ``account_id`` sees it."""
    split = split_blob_id(blob_id)
    if split is None:
        return None
    if split[1]:  # a part: its bytes become a blob of their own
        octets = await read_blob(data, blobs, account_id, blob_id)
        return None if octets is None else (await blobs.put(octets), len(octets))
    size = await blobs.size(blob_id)
    if size is None or not await data.blob_visible(account_id, blob_id, now):
        return None
    return blob_id, size


def register(registry: MethodRegistry) -> None:
    registry.add("Blob/copy", CORE, copy)
