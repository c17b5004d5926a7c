"""Blob ids of message parts: ``{message blobId}_{partId}``, repeated for parts of attached
messages, so every EmailBodyPart has a downloadable blobId without storing parts twice."""

from __future__ import annotations

import time

from .message import part_bytes
from .store.base import BlobStore, DataStore, is_blob_id


def part_blob_id(blob_id: str, part_id: str) -> str:
    return f"{blob_id}_{part_id}"


def split_blob_id(value: str) -> tuple[str, list[str]] | None:
    """The stored blob and the chain of partIds a (part) blob id names, or None."""
    root, *parts = value.split("_")
    if not is_blob_id(root) or not all(p.isascii() and p.isdigit() for p in parts):
        return None
    return root, parts


async def read_blob(
    data: DataStore, blobs: BlobStore, account_id: str, blob_id: str
) -> bytes | None:
    """The octets of a whole or part blob, if the account may see it."""
    split = split_blob_id(blob_id) if isinstance(blob_id, str) else None
    if split is None:
        return None
    root, parts = split
    if not await data.blob_visible(account_id, root, time.time()):
        return None
    octets = await blobs.get(root)
    for part_id in parts:
        if octets is None:
            return None
        octets = part_bytes(octets, part_id)
    return octets
