"""The check at the end of ``fulmar migrate``: the source and the target compared.

Per account: its record (name, owner, modseq, log floor, id counter), every type's state
string, the count of objects of each type, of change-log entries, blob references,
uploads and mail index documents. Then the directory (principals, grants, tokens) and the
job queue by count; and, when the blobs went to S3, their count and the sha256 of a sample
of them (or all) read back from the bucket, which must name each blob's id.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .ids import encode_state
from .migrate import checkpoint_id
from .migrate_source import SqliteSource, blob_files, hash_stream

ACCOUNT_FIELDS = ("name", "owner_id", "modseq", "log_floor", "next_id")
#: (what, source table, target collection) counted per account
PER_ACCOUNT_COUNTS = (
    ("change-log entries", "changelog", "changelog"),
    ("blob references", "blob_refs", "blob_refs"),
    ("uploads", "uploads", "uploads"),
    ("mail index entries", "mail_email", "mail_email"),
    ("mail texts", "mail_email", "mail_text"),
)
#: (what, source table, target collection) counted once
DIRECTORY_COUNTS = (
    ("principals", "principals", "principals"),
    ("grants", "access", "access"),
    ("tokens", "tokens", "tokens"),
    ("jobs", "jobs", "jobs"),
)
#: mismatches listed in full; past this many only their number is told
LISTED = 100


@dataclass
class Verification:
    accounts: int = 0
    objects: Counter[str] = field(default_factory=Counter)
    states: int = 0
    totals: dict[str, int] = field(default_factory=dict)
    blobs_source: int | None = None
    blobs_target: int | None = None
    blobs_hashed: int = 0
    mismatches: list[str] = field(default_factory=list)
    mismatch_count: int = 0

    @property
    def ok(self) -> bool:
        return self.mismatch_count == 0

    def mismatch(self, text: str) -> None:
        self.mismatch_count += 1
        if len(self.mismatches) < LISTED:
            self.mismatches.append(text)


async def verify(
    source: SqliteSource, db: Any, blobs: Any | None, sample: int | None, seed: int | None = None
) -> Verification:
    """Compare everything countable; ``sample`` blobs are hashed (None: every one)."""
    result = Verification()
    async for ids in source.account_ids():
        for account_id in ids:
            await _account(source, db, account_id, result)
            result.accounts += 1
    async for doc in db.accounts.find({}, {"_id": 1}):
        if await source.one("SELECT 1 FROM accounts WHERE id = ?", (doc["_id"],)) is None:
            result.mismatch(f"account {doc['_id']} is in the target only")
    for what, table, collection in DIRECTORY_COUNTS:
        s = (await source.one(f"SELECT COUNT(*) FROM {table}"))[0]
        t = await db[collection].count_documents({})
        result.totals[what] = s
        if s != t:
            result.mismatch(f"{what}: {s} in the source, {t} in the target")
    if blobs is not None:
        await _blobs(source, blobs, sample, random.Random(seed), result)
    return result


async def _account(source: SqliteSource, db: Any, account_id: str, result: Verification) -> None:
    async with source.snapshot():
        row = await source.one(
            f"SELECT {', '.join(ACCOUNT_FIELDS)} FROM accounts WHERE id = ?", (account_id,)
        )
        if row is None:
            return
        held = await db.accounts.find_one({"_id": account_id})
        if held is None:
            result.mismatch(f"account {account_id} is missing from the target")
            return
        mark = await db.migration.find_one({"_id": checkpoint_id(account_id)})
        if mark is not None and mark.get("signature") != await source.signature(account_id):
            result.mismatch(
                f"account {account_id} changed in the source after it was copied (is the "
                "server running? stop it and run fulmar migrate again)"
            )
        for name, value in zip(ACCOUNT_FIELDS, row, strict=True):
            if held.get(name) != value:
                result.mismatch(
                    f"account {account_id}: {name} {value!r} in the source, "
                    f"{held.get(name)!r} in the target"
                )
        await _states(source, db, account_id, result)
        await _object_counts(source, db, account_id, result)
        for what, table, collection in PER_ACCOUNT_COUNTS:
            s = (
                await source.one(
                    f"SELECT COUNT(*) FROM {table} WHERE account_id = ?", (account_id,)
                )
            )[0]
            t = await db[collection].count_documents({"account_id": account_id})
            result.totals[what] = result.totals.get(what, 0) + s
            if s != t:
                result.mismatch(
                    f"account {account_id}: {s} {what} in the source, {t} in the target"
                )


async def _states(source: SqliteSource, db: Any, account_id: str, result: Verification) -> None:
    mine = dict(
        await source.all("SELECT type, modseq FROM type_state WHERE account_id = ?", (account_id,))
    )
    theirs = {
        d["type"]: d["modseq"]
        async for d in db.type_state.find({"account_id": account_id}, {"type": 1, "modseq": 1})
    }
    for type_name in sorted(set(mine) | set(theirs)):
        s, t = mine.get(type_name), theirs.get(type_name)
        result.states += 1
        if s != t:
            shown = [encode_state(v) if v is not None else "none" for v in (s, t)]
            result.mismatch(
                f"account {account_id}: {type_name} state {shown[0]} in the source, "
                f"{shown[1]} in the target"
            )


async def _object_counts(
    source: SqliteSource, db: Any, account_id: str, result: Verification
) -> None:
    mine = dict(
        await source.all(
            "SELECT type, COUNT(*) FROM objects WHERE account_id = ? GROUP BY type", (account_id,)
        )
    )
    cursor = await db.objects.aggregate(
        [{"$match": {"account_id": account_id}}, {"$group": {"_id": "$type", "n": {"$sum": 1}}}]
    )
    theirs: dict[str, int] = {d["_id"]: d["n"] for d in await cursor.to_list()}
    for type_name in sorted(set(mine) | set(theirs)):
        s, t = mine.get(type_name, 0), theirs.get(type_name, 0)
        result.objects[type_name] += s
        if s != t:
            result.mismatch(
                f"account {account_id}: {s} {type_name} in the source, {t} in the target"
            )


async def _blobs(
    source: SqliteSource, blobs: Any, sample: int | None, rng: random.Random, result: Verification
) -> None:
    """Counts, then the hashes of a reservoir sample of the blob files (or of all)."""
    chosen: list[tuple[str, Any]] = []
    seen = 0
    for item in blob_files(source.data_dir):
        seen += 1
        if sample is None or len(chosen) < sample:
            chosen.append(item)
        else:
            slot = rng.randrange(seen)
            if slot < sample:
                chosen[slot] = item
    result.blobs_source = seen
    in_bucket = 0
    async for batch in blobs.written_before(float("inf")):
        in_bucket += len(batch)
    result.blobs_target = in_bucket
    if in_bucket < seen:
        result.mismatch(f"blobs: {seen} in the source, {in_bucket} in the bucket")
    for blob_id, path in chosen:
        stream = await blobs.open_stream(blob_id)
        if stream is None:
            result.mismatch(f"blob {blob_id} is missing from the bucket")
            continue
        digest, size = await hash_stream(stream)
        result.blobs_hashed += 1
        if digest != blob_id or size != path.stat().st_size:
            result.mismatch(
                f"blob {blob_id}: the bucket holds other bytes ({size} octets, "
                f"sha256 {digest[1:17]}…)"
            )


def summary_rows(result: Verification) -> list[tuple[str, str]]:
    """(what, how many) lines of the summary."""
    rows: list[tuple[str, str]] = [("accounts", str(result.accounts))]
    rows += [(f"{name} objects", str(n)) for name, n in sorted(result.objects.items())]
    rows.append(("state strings", str(result.states)))
    rows += [(what, str(n)) for what, n in result.totals.items()]
    if result.blobs_source is not None:
        rows.append(("blobs (source / bucket)", f"{result.blobs_source} / {result.blobs_target}"))
        rows.append(("blobs hashed", str(result.blobs_hashed)))
    return rows
