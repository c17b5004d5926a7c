"""``fulmar migrate``: an embedded deployment (SQLite data, blob files) copied to MongoDB
(and its blobs to S3), exactly: every object, id, state, modseq and change-log entry keeps
its value, so clients go on with ``/changes`` from the states they hold.

Rows are copied as they are (the two backends keep the same records); the MongoDB mail
index (``mail_email``, ``mail_text``) is built from the Email documents and the FTS5 text,
its ``seq`` (the order of arrival, the tie-break of every sort) following SQLite's rowids
so ``Email/query`` answers in the same order.

Resumable: each account is copied in one go inside one read snapshot, between a
``copying`` and a ``done`` checkpoint in the target's ``migration`` collection. A run that
finds an account ``copying`` (a killed run) deletes what the target holds of it and copies
it again; a ``done`` account whose source has not changed since (its signature: modseq,
id counter, log floor, uploads) is skipped. The directory (principals, grants, tokens), the
job queue and the blobs are idempotent upserts on every run. A run that finds everything
done says so and only verifies.

No merge: a target that holds anything this migration did not write (another deployment,
a server already run on it, an account changed there after it was copied) is refused
before a write. The server must be stopped: writes made to the source after an account was
copied are detected (its signature moved) and reported by the verification; running the
command again copies those accounts again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from pymongo import ReplaceOne

from .migrate_source import SqliteSource, blob_dirs, blobs_in
from .store.base import SERVER_ACCOUNT, Document
from .store.mongo import _login_key
from .store.mongo_keys import escape
from .store.mongo_mail import MongoMailStore, new_index_docs, thread_fields

#: per-account collections of the target (each document carries ``account_id``)
ACCOUNT_COLLECTIONS = (
    "objects",
    "type_state",
    "changelog",
    "blob_refs",
    "uploads",
    "mail_email",
    "mail_text",
)
#: documents written per target round trip
WRITE_BATCH = 500
#: text octets of mail_text documents buffered before they are written
TEXT_BUFFER = 8 << 20
#: blobs uploaded at once
BLOB_PARALLEL = 8
RUN = "run"
FTS_COLUMNS = ("from_", "to_", "cc", "bcc", "subject", "body", "attachments")


class MigrationError(Exception):
    """The migration cannot go on as asked (one line for the operator); nothing was merged."""


class Reporter(Protocol):
    """Progress of a run: a terminal shows bars, a log gets lines."""

    def start(self, task: str, total: int | None) -> None: ...

    def advance(self, task: str, n: int = 1) -> None: ...

    def note(self, text: str) -> None: ...


@dataclass
class CopyReport:
    accounts_copied: int = 0
    accounts_skipped: int = 0
    accounts_removed: int = 0
    objects: int = 0
    changes: int = 0
    blobs_uploaded: int = 0
    blobs_present: int = 0
    jobs: int = 0
    #: Emails whose text the source kept in Meilisearch, not FTS5 (no text index copied)
    without_text: int = 0
    #: True when the target held everything already: nothing was written
    nothing_to_do: bool = False
    notes: list[str] = field(default_factory=list)


def checkpoint_id(account_id: str) -> str:
    return "a:" + account_id


class Migration:
    """One run of ``fulmar migrate`` (see the module docstring)."""

    def __init__(
        self,
        source: SqliteSource,
        target: MongoMailStore,
        blobs: Any | None,
        reporter: Reporter,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.target = target
        self.db = target.db
        #: the S3 blob store, or None when the blobs stay where they are
        self.blobs = blobs
        self.reporter = reporter
        self.clock = clock
        self.report = CopyReport()

    # -- the run --
    async def run(self) -> CopyReport:
        fingerprint = await self.source.fingerprint()
        run = await self.db.migration.find_one({"_id": RUN})
        if run is None:
            await self._require_empty()
        elif run["source"] != fingerprint:
            raise MigrationError(
                "the target holds a migration of another deployment "
                f"({run['source']['path']}, first principal {run['source']['first_principal']!r}"
                "): migrate into a new, empty database"
            )
        elif run.get("finished") and await self._all_done():
            self.report.nothing_to_do = True
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(run["finished"]))
            self.reporter.note(f"nothing to copy: the target holds this deployment (since {when})")
            return self.report
        await self.db.migration.update_one(
            {"_id": RUN},
            {
                "$set": {"source": fingerprint, "finished": None},
                "$setOnInsert": {"started": self.clock()},
            },
            upsert=True,
        )
        self.reporter.start("written", None)
        if self.blobs is not None:
            await self._copy_blobs()
        await self._copy_directory()
        await self._copy_accounts()
        await self._copy_jobs()
        await self.db.migration.update_one({"_id": RUN}, {"$set": {"finished": self.clock()}})
        return self.report

    async def _require_empty(self) -> None:
        """A target without a migration record must hold nothing (a new database)."""
        db = self.db
        for name in ("principals", "tokens", "access", "jobs", *ACCOUNT_COLLECTIONS):
            if await db[name].find_one({}, {"_id": 1}) is not None:
                raise MigrationError(
                    f"the target database {self.target.database} holds data ({name}) that "
                    "fulmar migrate did not write: migrate into a new, empty database "
                    "(nothing was changed)"
                )
        async for account in db.accounts.find({}, {"modseq": 1}):
            if account["_id"] != SERVER_ACCOUNT or account.get("modseq"):
                raise MigrationError(
                    f"the target database {self.target.database} holds account "
                    f"{account['_id']} that fulmar migrate did not write: migrate into a new, "
                    "empty database (nothing was changed)"
                )

    async def _all_done(self) -> bool:
        """Is every source account copied, unchanged since, and nothing else checkpointed?"""
        count = 0
        async for ids in self.source.account_ids():
            for account_id in ids:
                mark = await self.db.migration.find_one({"_id": checkpoint_id(account_id)})
                if mark is None or mark["status"] != "done":
                    return False
                if mark["signature"] != await self.source.signature(account_id):
                    return False
                count += 1
        total = await self.db.migration.count_documents({"account_id": {"$exists": True}})
        return total == count

    # -- accounts --
    async def _copy_accounts(self) -> None:
        total = await self.source.one("SELECT COUNT(*) FROM accounts")
        self.reporter.start("accounts", total[0] if total else None)
        async for ids in self.source.account_ids():
            for account_id in ids:
                await self._copy_account(account_id)
                self.reporter.advance("accounts")
        await self._drop_removed_accounts()

    async def _copy_account(self, account_id: str) -> None:
        db, source = self.db, self.source
        mark_id = checkpoint_id(account_id)
        async with source.snapshot():
            row = await source.one(
                "SELECT name, owner_id, modseq, log_floor, next_id FROM accounts WHERE id = ?",
                (account_id,),
            )
            if row is None:  # removed meanwhile: the next run drops it from the target
                return
            signature = await source.signature(account_id)
            mark = await db.migration.find_one({"_id": mark_id})
            held = await db.accounts.find_one({"_id": account_id})
            if mark is None and held is not None and not _unused_server_account(held):
                raise MigrationError(
                    f"the target already holds account {account_id}, not written by this "
                    "migration: migrate into a new, empty database (no data was merged)"
                )
            if mark is not None and mark["status"] == "done":
                if held is None or held.get("modseq") != mark["target_modseq"]:
                    raise MigrationError(
                        f"account {account_id} changed in the target after it was copied "
                        "(did a server run on it?): migrate into a new, empty database"
                    )
                if mark["signature"] == signature:
                    self.report.accounts_skipped += 1
                    return
            await db.migration.replace_one(
                {"_id": mark_id},
                {
                    "_id": mark_id,
                    "account_id": account_id,
                    "status": "copying",
                    "started": self.clock(),
                },
                upsert=True,
            )
            await self._wipe_account(account_id)
            await self._copy_rows(account_id)
            await self._index_emails(account_id)
            name, owner_id, modseq, log_floor, next_id = row
            await db.accounts.replace_one(
                {"_id": account_id},
                {
                    "_id": account_id,
                    "account_id": account_id,
                    "name": name,
                    "owner_id": owner_id,
                    "modseq": modseq,
                    "log_floor": log_floor,
                    "next_id": next_id,
                },
                upsert=True,
            )
            await db.migration.replace_one(
                {"_id": mark_id},
                {
                    "_id": mark_id,
                    "account_id": account_id,
                    "status": "done",
                    "signature": signature,
                    "target_modseq": modseq,
                    "copied": self.clock(),
                },
            )
            self.report.accounts_copied += 1

    async def _wipe_account(self, account_id: str) -> None:
        for name in ACCOUNT_COLLECTIONS:
            await self.db[name].delete_many({"account_id": account_id})

    async def _copy_rows(self, account_id: str) -> None:
        """Objects, type states, the change log, blob references and uploads, as they are."""
        a = (account_id,)
        tables: list[tuple[str, str, Callable[[Any], Document]]] = [
            (
                "objects",
                "SELECT type, id, data FROM objects WHERE account_id = ?",
                lambda r: {"type": r[0], "id": r[1], "data": escape(orjson.loads(r[2]))},
            ),
            (
                "type_state",
                "SELECT type, modseq FROM type_state WHERE account_id = ?",
                lambda r: {"type": r[0], "modseq": r[1]},
            ),
            (
                "changelog",
                "SELECT modseq, type, id, kind, props, at FROM changelog WHERE account_id = ?",
                lambda r: dict(
                    zip(("modseq", "type", "id", "kind", "props", "at"), r, strict=True)
                ),
            ),
            (
                "blob_refs",
                "SELECT blob_id, ref FROM blob_refs WHERE account_id = ?",
                lambda r: {"blob_id": r[0], "ref": r[1]},
            ),
            (
                "uploads",
                "SELECT blob_id, size, expires FROM uploads WHERE account_id = ?",
                lambda r: {"blob_id": r[0], "size": r[1], "expires": r[2]},
            ),
        ]
        for collection, sql, convert in tables:
            async for rows in self.source.rows(sql, a):
                docs = [{"account_id": account_id, **convert(r)} for r in rows]
                await self._insert(collection, docs)
                if collection == "objects":
                    self.report.objects += len(docs)
                elif collection == "changelog":
                    self.report.changes += len(docs)

    async def _index_emails(self, account_id: str) -> None:
        """``mail_email`` and ``mail_text`` of every Email, a thread at a time (the thread
        fields need the whole thread), written in batches."""
        top = await self.source.one("SELECT COALESCE(MAX(rowid), 0) FROM mail_email")
        base = (top[0] if top else 0) + 1  # seq = rowid - base: negative, in rowid order
        emails: list[Document] = []
        texts: list[Document] = []
        thread: list[Document] = []
        buffered = 0

        async def flush() -> None:
            nonlocal emails, texts, buffered
            await self._insert("mail_email", emails)
            await self._insert("mail_text", texts)
            emails, texts, buffered = [], [], 0

        def close_thread() -> None:
            if thread:
                fields = thread_fields(thread)
                emails.extend({**doc, **fields} for doc in thread)
                thread.clear()

        columns = ", ".join(f"f.{c}" for c in FTS_COLUMNS)
        sql = (
            f"SELECT e.rowid, e.id, e.thread_id, o.data, f.rowid, {columns} FROM mail_email e "
            "JOIN objects o ON o.account_id = e.account_id AND o.type = 'Email' AND o.id = e.id "
            "LEFT JOIN mail_fts f ON f.rowid = e.rowid "
            "WHERE e.account_id = ? ORDER BY e.thread_id, e.rowid"
        )
        async for rows in self.source.rows(sql, (account_id,)):
            for rowid, email_id, thread_id, data, fts_rowid, *text in rows:
                if thread and thread[0]["thread_id"] != thread_id:
                    close_thread()
                    if len(emails) >= WRITE_BATCH or buffered >= TEXT_BUFFER:
                        await flush()
                if fts_rowid is None:
                    self.report.without_text += 1
                search = {c.rstrip("_"): v or "" for c, v in zip(FTS_COLUMNS, text, strict=True)}
                key = {"account_id": account_id, "id": email_id}
                email, body = await asyncio.to_thread(
                    new_index_docs, key, orjson.loads(data), rowid - base, search
                )
                thread.append(email)
                texts.append(body)
                buffered += len(body["body"]) + len(body["subject"])
        close_thread()
        await flush()

    async def _drop_removed_accounts(self) -> None:
        """Accounts copied by an earlier run and since removed from the source."""
        async for mark in self.db.migration.find({"account_id": {"$exists": True}}):
            account_id = mark["account_id"]
            if await self.source.one("SELECT 1 FROM accounts WHERE id = ?", (account_id,)):
                continue
            await self._wipe_account(account_id)
            await self.db.accounts.delete_one({"_id": account_id})
            await self.db.migration.delete_one({"_id": mark["_id"]})
            self.report.accounts_removed += 1

    # -- the directory and the job queue --
    async def _copy_directory(self) -> None:
        """Principals, grants and tokens: every row upserted, rows gone from the source
        deleted (so a run after the source changed leaves no stale login behind)."""
        await self._prune("principals", ("_id",), "principals", ("id",))
        grant = ("principal_id", "account_id")
        await self._prune("access", grant, "access", grant)
        await self._prune("tokens", ("_id",), "tokens", ("hash",))
        await self._upsert(
            "principals",
            "SELECT id, login, password_hash, created FROM principals",
            lambda r: (
                {"_id": r[0]},
                {
                    "_id": r[0],
                    "login": r[1],
                    "login_key": _login_key(r[1]),
                    "password_hash": r[2],
                    "created": r[3],
                },
            ),
        )
        await self._upsert(
            "access",
            "SELECT principal_id, account_id, read_only FROM access",
            lambda r: (
                {"principal_id": r[0], "account_id": r[1]},
                {"principal_id": r[0], "account_id": r[1], "read_only": bool(r[2])},
            ),
        )
        await self._upsert(
            "tokens",
            "SELECT hash, principal_id, label, created, expires, last_used FROM tokens",
            lambda r: (
                {"_id": r[0]},
                {
                    "_id": r[0],
                    "principal_id": r[1],
                    "label": r[2],
                    "created": r[3],
                    "expires": r[4],
                    "last_used": r[5],
                },
            ),
        )

    async def _copy_jobs(self) -> None:
        """Pending jobs (deliveries, outbound mail, search feed) with their attempts and
        leases, so none is lost and none runs twice."""
        await self._prune("jobs", ("queue", "id"), "jobs", ("queue", "id"))
        total = await self.source.one("SELECT COUNT(*) FROM jobs")
        self.report.jobs = total[0] if total else 0
        await self._upsert(
            "jobs",
            "SELECT queue, id, payload, due, attempts, lease, lease_until FROM jobs",
            lambda r: (
                {"queue": r[0], "id": r[1]},
                {
                    "queue": r[0],
                    "id": r[1],
                    "payload": escape(orjson.loads(r[2])),
                    "due": r[3],
                    "attempts": r[4],
                    "lease": r[5],
                    "lease_until": r[6],
                },
            ),
        )

    async def _upsert(
        self, collection: str, sql: str, convert: Callable[[Any], tuple[Document, Document]]
    ) -> None:
        async for rows in self.source.rows(sql):
            writes = [ReplaceOne(*convert(r), upsert=True) for r in rows]
            await self.db[collection].bulk_write(writes, ordered=False)
            self.reporter.advance("written", len(writes))

    async def _prune(
        self, collection: str, key: tuple[str, ...], table: str, columns: tuple[str, ...]
    ) -> None:
        """Delete the target's documents of ``collection`` whose row (``key`` fields =
        ``columns`` of ``table``, its primary key) the source no longer has."""
        projection = {k: 1 for k in key}
        names = ", ".join(columns)
        row = "(" + ",".join("?" * len(columns)) + ")"
        batch: list[Document] = []

        async def check() -> None:
            keys = [tuple(d[k] for k in key) for d in batch]
            rows = ",".join([row] * len(keys))
            sql = f"SELECT {names} FROM {table} WHERE ({names}) IN (VALUES {rows})"
            found = {
                tuple(r) for r in await self.source.all(sql, tuple(v for k in keys for v in k))
            }
            for doc_key in keys:
                if doc_key not in found:
                    await self.db[collection].delete_one(dict(zip(key, doc_key, strict=True)))
            batch.clear()

        async for doc in self.db[collection].find({}, projection):
            batch.append(doc)
            if len(batch) >= WRITE_BATCH:
                await check()
        if batch:
            await check()

    async def _insert(self, collection: str, docs: list[Document]) -> None:
        for start in range(0, len(docs), WRITE_BATCH):
            chunk = docs[start : start + WRITE_BATCH]
            await self.db[collection].insert_many(chunk, ordered=False)
            self.reporter.advance("written", len(chunk))

    # -- blobs --
    async def _copy_blobs(self) -> None:
        """Every blob file to the bucket, streamed; one already there is left alone. A
        folder (``blobs/aa/bb``) copied by an earlier run and unchanged since (its
        signature, checkpointed as ``b:aa/bb``) is skipped without asking the bucket."""
        data_dir = self.source.data_dir
        folders = await asyncio.to_thread(blob_dirs, data_dir)
        self.reporter.start("blobs", len(folders))
        for folder in folders:
            files, signature = await asyncio.to_thread(blobs_in, folder)
            mark_id = "b:" + folder.relative_to(data_dir / "blobs").as_posix()
            mark = await self.db.migration.find_one({"_id": mark_id})
            if mark is not None and mark["signature"] == signature:
                self.report.blobs_present += len(files)
            else:
                pending: list[tuple[str, Awaitable[bool]]] = []
                for blob_id, path in files:
                    pending.append((blob_id, self.blobs.put_file(blob_id, path)))
                    if len(pending) >= BLOB_PARALLEL:
                        await self._put_blobs(pending)
                await self._put_blobs(pending)
                await self.db.migration.replace_one(
                    {"_id": mark_id}, {"_id": mark_id, "signature": signature}, upsert=True
                )
            self.reporter.advance("blobs")

    async def _put_blobs(self, pending: list[tuple[str, Awaitable[bool]]]) -> None:
        """Upload, and journal each blob in the target (``blob_journal``): the new
        deployment's orphan sweep then looks at every copied blob once, so orphans the
        source had go too."""
        if not pending:
            return
        results = await asyncio.gather(*(put for _, put in pending))
        await self.target.record_blob_writes([b for b, _ in pending], self.clock())
        for uploaded in results:
            if uploaded:
                self.report.blobs_uploaded += 1
            else:
                self.report.blobs_present += 1
        pending.clear()


def _unused_server_account(doc: Document) -> bool:
    """The ``_server`` account every MongoDB store creates on open, never written to."""
    return doc["_id"] == SERVER_ACCOUNT and not doc.get("modseq")
