"""The data role on MongoDB, through pymongo's ``AsyncMongoClient``.

One document per object in ``objects`` (``account_id``, ``type``, ``id``, ``data``), and the
per-account records (``accounts``, ``type_state``, ``changelog``, ``blob_refs``, ``uploads``)
each with ``account_id`` leading every index: ``account_id`` is the hashed shard key
(``fulmar mongo init``). Object documents go through ``mongo_keys`` so user-chosen keys
(keywords) never become field names.

A transaction buffers one method call's writes in memory (reads see committed state plus
the buffer), exactly as the SQLite backend does, and commits them in one MongoDB
transaction: first a conditional update of the account's ``(modseq, next_id)``, which
fails when another writer (another node, ``fulmar import``) moved them since the
transaction began (``WriteConflict``: the method runs again), then the objects, the
change log, the type states, blob references, index side documents and jobs. The driver's
``with_transaction`` retries on ``TransientTransactionError`` and
``UnknownTransactionCommitResult``; writes use majority write concern, so an answered write
survives a failover. One account's transactions run one at a time in a process (an asyncio
lock per account); different accounts never wait on each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import weakref
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any, Protocol
from urllib.parse import urlsplit

from pymongo import (
    ASCENDING,
    AsyncMongoClient,
    DeleteOne,
    IndexModel,
    ReplaceOne,
    UpdateOne,
    WriteConcern,
)
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure, PyMongoError

from .base import (
    INDEX_ONLY,
    SERVER_ACCOUNT,
    Account,
    CannotCalculateChanges,
    Changes,
    ConflictError,
    Document,
    NotFoundError,
    Principal,
    StoreError,
    TokenInfo,
    WriteConflict,
)
from .jobs import new_job_id
from .mongo_jobs import INDEXES as JOB_INDEXES
from .mongo_jobs import MongoJobQueue, job_upsert
from .mongo_keys import escape, unescape
from .write_buffer import WriteBuffer, collapse_changes

#: MongoDB's WriteConflict error code (a conflict the driver did not retry away)
WRITE_CONFLICT_CODE = 112
#: the schema version ``fulmar mongo init`` records (``meta`` collection)
SCHEMA_VERSION = 1

#: (collection, keys, unique) of every index the data role needs; ``account_id`` leads each
#: per-account index. The exceptions are the directory collections (principals, tokens,
#: access: small, unsharded) and the blob lookups by ``blob_id``: blobs are content-addressed
#: and shared between accounts, so "does anyone still hold this blob" asks every shard.
INDEXES: list[tuple[str, list[tuple[str, int]], bool]] = [
    ("principals", [("login_key", ASCENDING)], True),
    ("access", [("principal_id", ASCENDING), ("account_id", ASCENDING)], True),
    ("tokens", [("principal_id", ASCENDING)], False),
    ("accounts", [("account_id", ASCENDING)], True),
    ("objects", [("account_id", ASCENDING), ("type", ASCENDING), ("id", ASCENDING)], True),
    ("type_state", [("account_id", ASCENDING), ("type", ASCENDING)], True),
    ("changelog", [("account_id", ASCENDING), ("modseq", ASCENDING)], True),
    ("changelog", [("account_id", ASCENDING), ("type", ASCENDING), ("modseq", ASCENDING)], False),
    ("changelog", [("account_id", ASCENDING), ("at", ASCENDING)], False),
    (
        "blob_refs",
        [("account_id", ASCENDING), ("blob_id", ASCENDING), ("ref", ASCENDING)],
        True,
    ),
    ("blob_refs", [("account_id", ASCENDING), ("ref", ASCENDING)], False),
    ("blob_refs", [("blob_id", ASCENDING)], False),
    ("uploads", [("account_id", ASCENDING), ("blob_id", ASCENDING)], True),
    ("uploads", [("expires", ASCENDING)], False),
    ("uploads", [("blob_id", ASCENDING)], False),
    ("blob_writes", [("at", ASCENDING)], False),
]
#: collections sharded on hashed ``account_id`` by ``fulmar mongo init`` on a mongos
SHARDED = ("accounts", "objects", "type_state", "changelog", "blob_refs", "uploads")


class MongoIndexer(Protocol):
    """Keeps side collections (the mail index) of one type in step with its objects, inside
    the committing MongoDB transaction (``doc`` is None when the object was destroyed)."""

    type_name: str
    indexes: list[tuple[str, list[tuple[str, Any]], bool]]
    sharded: tuple[str, ...]

    async def write(
        self, commit: Commit, account_id: str, object_id: str, doc: Document | None
    ) -> None: ...

    async def finish(self, commit: Commit, account_id: str) -> None:
        """Once per commit, after every ``write`` (work that spans several objects)."""

    async def drop_account(self, db: AsyncDatabase, session: Any, account_id: str) -> None: ...


class Commit:
    """What an indexer needs while a transaction commits: the database and session, and
    the modseq of the change being indexed (a stable, unique order within the account)."""

    def __init__(self, db: AsyncDatabase, session: AsyncClientSession) -> None:
        self.db = db
        self.session = session
        self.seq = 0
        #: scratch space an indexer keeps for the length of one commit
        self.state: dict[str, Any] = {}
        #: jobs an indexer adds, (queue, payload), written after the objects (an emulator
        #: without isolation shows them to a worker at once: the objects must be there)
        self.jobs: list[tuple[str, Document]] = []


def database_name(url: str) -> str:
    """The database named in the URL's path, ``fulmar`` when there is none."""
    name = urlsplit(url).path.lstrip("/")
    return name or "fulmar"


def emulator_name(build_info: Document) -> str | None:
    """Which MongoDB emulator answers, if one does.

    The emulators the tests run on cannot hold two transactions open at once: mongoeco
    refuses the second committer of any collection both wrote (and shows its writes for a
    moment before rolling them back), nx-27017 runs every session on one SQLite connection.
    Against them the store commits one transaction at a time per process; against MongoDB,
    transactions of different accounts run concurrently (document-level conflicts).
    """
    if build_info.get("gitVersion") == "mongoeco":
        return "mongoeco"
    if build_info.get("process") == "nx_27017":
        return "nx-27017"
    return None


def _new_opaque_id(prefix: str) -> str:
    return prefix + secrets.token_hex(8)


def _error(exc: PyMongoError) -> StoreError:
    if isinstance(exc, DuplicateKeyError):
        return ConflictError(str(exc))
    if isinstance(exc, OperationFailure) and (
        exc.code == WRITE_CONFLICT_CODE or "write conflict" in str(exc).lower()
    ):
        return WriteConflict(str(exc))
    return StoreError(str(exc))


class MongoDataStore:
    """The data role on MongoDB (see the module docstring)."""

    def __init__(
        self, url: str, database: str | None = None, indexers: Iterable[MongoIndexer] = ()
    ) -> None:
        self.url = url
        self.database = database or database_name(url)
        self.indexers = {indexer.type_name: indexer for indexer in indexers}
        self.client: AsyncMongoClient | None = None
        self._db: AsyncDatabase | None = None
        self._account_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        #: set when the server is an emulator that cannot run two transactions at once
        self._serial: asyncio.Lock | None = None
        self.emulator: str | None = None
        self.jobs = MongoJobQueue(self)

    @property
    def db(self) -> AsyncDatabase:
        assert self._db is not None, "open() the store first"
        return self._db

    # -- plumbing --
    async def open(self) -> None:
        self.client = AsyncMongoClient(self.url, serverSelectionTimeoutMS=10_000, tz_aware=False)
        self._db = self.client.get_database(self.database, write_concern=WriteConcern("majority"))
        try:
            self.emulator = emulator_name(await self.client.admin.command("buildInfo"))
            if self.emulator is not None:
                self._serial = asyncio.Lock()
            schema = await self.db.meta.find_one({"_id": "schema"})
            if schema is not None and schema["version"] > SCHEMA_VERSION:
                raise StoreError(
                    f"the database has schema version {schema['version']}, newer than this "
                    f"Fulmar's {SCHEMA_VERSION}: upgrade Fulmar first"
                )
            if schema is None or schema["version"] < SCHEMA_VERSION:
                await self.create_indexes()  # a new database, or one made by an older Fulmar
                await self.record_schema_version()
            await self.db.accounts.update_one(
                {"_id": SERVER_ACCOUNT},
                {
                    "$setOnInsert": {
                        "account_id": SERVER_ACCOUNT,
                        "name": "server",
                        "owner_id": "",
                        "modseq": 0,
                        "log_floor": 0,
                        "next_id": 0,
                    }
                },
                upsert=True,
            )
        except PyMongoError as exc:
            raise _error(exc) from exc

    def index_specs(self) -> list[tuple[str, list[tuple[str, Any]], bool]]:
        specs = [*INDEXES, *JOB_INDEXES]
        for indexer in self.indexers.values():
            specs.extend(indexer.indexes)
        return specs

    def sharded_collections(self) -> list[str]:
        names = list(SHARDED)
        for indexer in self.indexers.values():
            names.extend(indexer.sharded)
        return names

    async def create_indexes(self) -> None:
        """Every index, one ``createIndexes`` command per collection (existing ones stay)."""
        by_collection: dict[str, list[IndexModel]] = {}
        for collection, keys, unique in self.index_specs():
            by_collection.setdefault(collection, []).append(IndexModel(keys, unique=unique))
        for collection, models in by_collection.items():
            await self.db[collection].create_indexes(models)

    async def record_schema_version(self) -> None:
        await self.db.meta.update_one(
            {"_id": "schema"},
            {"$max": {"version": SCHEMA_VERSION}, "$set": {"at": time.time()}},
            upsert=True,
        )

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None

    async def _txn(self, callback: Any) -> Any:
        """Run ``callback(session)`` in one MongoDB transaction, with the driver's retries
        (``TransientTransactionError``, ``UnknownTransactionCommitResult``)."""
        assert self.client is not None
        async with self._serial or contextlib.nullcontext():
            try:
                async with self.client.start_session() as session:
                    return await session.with_transaction(
                        callback, write_concern=WriteConcern("majority")
                    )
            except PyMongoError as exc:
                raise _error(exc) from exc

    async def _do(self, awaitable: Any) -> Any:
        try:
            return await awaitable
        except PyMongoError as exc:
            raise _error(exc) from exc

    # -- principals, accounts, tokens --
    async def create_principal(self, login: str, password_hash: str, account_name: str) -> Account:
        principal_id = _new_opaque_id("p")
        account = Account(id=_new_opaque_id("a"), name=account_name, owner_id=principal_id)
        db = self.db

        async def run(session: AsyncClientSession) -> None:
            await db.principals.insert_one(
                {
                    "_id": principal_id,
                    "login": login,
                    "login_key": _login_key(login),
                    "password_hash": password_hash,
                    "created": time.time(),
                },
                session=session,
            )
            await db.accounts.insert_one(
                {
                    "_id": account.id,
                    "account_id": account.id,
                    "name": account_name,
                    "owner_id": principal_id,
                    "modseq": 0,
                    "log_floor": 0,
                    "next_id": 0,
                },
                session=session,
            )
            await db.access.insert_one(
                {"principal_id": principal_id, "account_id": account.id, "read_only": False},
                session=session,
            )

        await self._txn(run)
        return account

    @staticmethod
    def _principal(doc: Document | None) -> Principal | None:
        if doc is None:
            return None
        return Principal(id=doc["_id"], login=doc["login"], password_hash=doc["password_hash"])

    async def principal_by_login(self, login: str) -> Principal | None:
        doc = await self._do(self.db.principals.find_one({"login_key": _login_key(login)}))
        return self._principal(doc)

    async def principal(self, principal_id: str) -> Principal | None:
        return self._principal(await self._do(self.db.principals.find_one({"_id": principal_id})))

    async def principals(self) -> list[Principal]:
        docs = await self._do(self.db.principals.find({}).sort("login", ASCENDING).to_list())
        return [p for p in map(self._principal, docs) if p is not None]

    async def set_password(self, login: str, password_hash: str) -> None:
        result = await self._do(
            self.db.principals.update_one(
                {"login_key": _login_key(login)}, {"$set": {"password_hash": password_hash}}
            )
        )
        if result.matched_count == 0:
            raise NotFoundError(f"no account with the address {login}")

    async def remove_principal(self, login: str) -> tuple[list[str], list[str]]:
        db = self.db

        async def run(session: AsyncClientSession) -> tuple[list[str], list[str]]:
            principal = await db.principals.find_one(
                {"login_key": _login_key(login)}, session=session
            )
            if principal is None:
                raise NotFoundError(f"no account with the address {login}")
            principal_id = principal["_id"]
            # its own accounts are among those it has access to (the access index)
            granted = await db.access.distinct(
                "account_id", {"principal_id": principal_id}, session=session
            )
            account_ids = [
                d["_id"]
                async for d in db.accounts.find(
                    {"_id": {"$in": granted or [""]}, "owner_id": principal_id},
                    {"_id": 1},
                    session=session,
                )
            ]
            held: set[str] = set()
            for account_id in account_ids:
                for collection in ("blob_refs", "uploads"):
                    held.update(
                        await db[collection].distinct(
                            "blob_id", {"account_id": account_id}, session=session
                        )
                    )
                for collection in ("objects", "type_state", "changelog", "blob_refs", "uploads"):
                    await db[collection].delete_many({"account_id": account_id}, session=session)
                for indexer in self.indexers.values():
                    await indexer.drop_account(db, session, account_id)
                await db.access.delete_many({"account_id": account_id}, session=session)
                await db.accounts.delete_one({"_id": account_id}, session=session)
            await db.access.delete_many({"principal_id": principal_id}, session=session)
            await db.tokens.delete_many({"principal_id": principal_id}, session=session)
            await db.principals.delete_one({"_id": principal_id}, session=session)
            orphans = [b for b in held if not await _blob_held(db, b, session)]
            return account_ids, orphans

        return await self._txn(run)

    async def accounts_for(self, principal_id: str) -> list[Account]:
        grants = await self._do(self.db.access.find({"principal_id": principal_id}).to_list())
        read_only = {g["account_id"]: bool(g.get("read_only")) for g in grants}
        if not read_only:
            return []
        docs = await self._do(self.db.accounts.find({"_id": {"$in": list(read_only)}}).to_list())
        accounts = [
            Account(
                id=d["_id"],
                name=d["name"],
                owner_id=d["owner_id"],
                is_personal=d["owner_id"] == principal_id,
                is_read_only=read_only[d["_id"]],
            )
            for d in docs
        ]
        return sorted(accounts, key=lambda a: (not a.is_personal, a.name))

    async def grant(self, account_id: str, principal_id: str, read_only: bool) -> None:
        await self._do(
            self.db.access.update_one(
                {"principal_id": principal_id, "account_id": account_id},
                {"$set": {"read_only": read_only}},
                upsert=True,
            )
        )

    async def add_token(
        self, token_hash: str, principal_id: str, label: str, expires: float | None
    ) -> None:
        await self._do(
            self.db.tokens.insert_one(
                {
                    "_id": token_hash,
                    "principal_id": principal_id,
                    "label": label,
                    "created": time.time(),
                    "expires": expires,
                    "last_used": None,
                }
            )
        )

    async def remove_token(self, token_hash: str) -> bool:
        result = await self._do(self.db.tokens.delete_one({"_id": token_hash}))
        return result.deleted_count > 0

    async def tokens(self) -> list[TokenInfo]:
        docs = await self._do(self.db.tokens.find({}).to_list())
        ids = list({d["principal_id"] for d in docs})
        if not ids:
            return []
        logins = {
            p["_id"]: p["login"]
            for p in await self._do(self.db.principals.find({"_id": {"$in": ids}}).to_list())
        }
        infos = [
            TokenInfo(
                d["_id"],
                logins[d["principal_id"]],
                d["label"],
                d["created"],
                d.get("expires"),
                d.get("last_used"),
            )
            for d in docs
            if d["principal_id"] in logins
        ]
        return sorted(infos, key=lambda t: (t.login, t.created))

    async def token_used(self, token_hash: str, when: float) -> None:
        await self._do(
            self.db.tokens.update_one({"_id": token_hash}, {"$set": {"last_used": when}})
        )

    async def principal_for_token(self, token_hash: str, now: float) -> Principal | None:
        token = await self._do(self.db.tokens.find_one({"_id": token_hash}))
        if token is None or (token.get("expires") is not None and token["expires"] <= now):
            return None
        return await self.principal(token["principal_id"])

    # -- objects and state --
    @asynccontextmanager
    async def transaction(self, account_id: str) -> AsyncIterator[MongoTransaction]:
        """One method call's writes, atomically, durable (majority) when this returns."""
        lock = self._account_locks.get(account_id)
        if lock is None:
            lock = self._account_locks[account_id] = asyncio.Lock()
        async with lock:
            account = await self._do(
                self.db.accounts.find_one({"_id": account_id}, {"modseq": 1, "next_id": 1})
            )
            if account is None:
                raise NotFoundError(account_id)
            tx = MongoTransaction(self, account_id, account["modseq"], account["next_id"])
            yield tx
            if tx.has_writes():
                tx.changed_types = await self._txn(tx.commit)

    async def get(
        self, account_id: str, type_name: str, ids: list[str] | None
    ) -> tuple[int, list[Document]]:
        modseq = await self.modseq(account_id, type_name)
        return modseq, await self.find_objects(account_id, type_name, ids)

    async def find_objects(
        self, account_id: str, type_name: str, ids: list[str] | None
    ) -> list[Document]:
        query: dict[str, Any] = {"account_id": account_id, "type": type_name}
        if ids is not None and not ids:
            return []
        if ids is not None:
            query["id"] = {"$in": list(ids)}
        docs = await self._do(self.db.objects.find(query, {"data": 1, "_id": 0}).to_list())
        return [unescape(d["data"]) for d in docs]

    async def modseq(self, account_id: str, type_name: str) -> int:
        doc = await self._do(
            self.db.type_state.find_one({"account_id": account_id, "type": type_name})
        )
        return doc["modseq"] if doc else 0

    async def account_modseq(self, account_id: str) -> int:
        doc = await self._do(self.db.accounts.find_one({"_id": account_id}, {"modseq": 1}))
        return doc["modseq"] if doc else 0

    async def account_modseqs(self, account_ids: list[str]) -> dict[str, int]:
        if not account_ids:
            return {}
        docs = await self._do(
            self.db.accounts.find({"_id": {"$in": list(account_ids)}}, {"modseq": 1}).to_list()
        )
        return {d["_id"]: d["modseq"] for d in docs}

    async def type_states(self, account_id: str) -> dict[str, int]:
        docs = await self._do(self.db.type_state.find({"account_id": account_id}).to_list())
        return {d["type"]: d["modseq"] for d in docs}

    async def _log_bounds(self, account_id: str, type_name: str, since: int) -> int:
        account = await self._do(
            self.db.accounts.find_one({"_id": account_id}, {"modseq": 1, "log_floor": 1})
        )
        floor, current = (account["log_floor"], account["modseq"]) if account else (0, 0)
        type_modseq = await self.modseq(account_id, type_name)
        if since > current or (since < floor and since < type_modseq):
            raise CannotCalculateChanges(since)
        return type_modseq

    async def changes(
        self, account_id: str, type_name: str, since: int, max_changes: int | None
    ) -> Changes:
        type_modseq = await self._log_bounds(account_id, type_name, since)
        rows = await self._do(
            self.db.changelog.find(
                {"account_id": account_id, "type": type_name, "modseq": {"$gt": since}},
                {"modseq": 1, "id": 1, "kind": 1, "props": 1},
            )
            .sort("modseq", ASCENDING)
            .to_list()
        )
        return collapse_changes(
            [(r["modseq"], r["id"], r["kind"], r.get("props")) for r in rows],
            since,
            type_modseq,
            max_changes,
        )

    async def changed_ids_since(self, account_id: str, type_name: str, since: int) -> set[str]:
        await self._log_bounds(account_id, type_name, since)
        ids = await self._do(
            self.db.changelog.distinct(
                "id", {"account_id": account_id, "type": type_name, "modseq": {"$gt": since}}
            )
        )
        return set(ids)

    async def prune_changes(self, older_than: float) -> int:
        """Per account, through the ``(account_id, at)`` index (no cross-shard scan)."""
        removed = 0
        async for account in self.db.accounts.find({}, {"_id": 1}):
            account_id = account["_id"]
            newest = await self._do(
                self.db.changelog.find(
                    {"account_id": account_id, "at": {"$lt": older_than}}, {"modseq": 1}
                )
                .sort("at", -1)
                .limit(1)
                .to_list()
            )
            if not newest:
                continue
            floor = newest[0]["modseq"]
            result = await self._do(
                self.db.changelog.delete_many({"account_id": account_id, "modseq": {"$lte": floor}})
            )
            removed += result.deleted_count
            await self._do(
                self.db.accounts.update_one({"_id": account_id}, {"$max": {"log_floor": floor}})
            )
        return removed

    # -- blob ownership --
    async def add_upload(self, account_id: str, blob_id: str, size: int, expires: float) -> None:
        await self._do(
            self.db.uploads.update_one(
                {"account_id": account_id, "blob_id": blob_id},
                {"$max": {"expires": expires}, "$setOnInsert": {"size": size}},
                upsert=True,
            )
        )

    async def blob_visible(self, account_id: str, blob_id: str, now: float) -> bool:
        if await self._do(
            self.db.blob_refs.find_one({"account_id": account_id, "blob_id": blob_id}, {"_id": 1})
        ):
            return True
        upload = await self._do(
            self.db.uploads.find_one(
                {"account_id": account_id, "blob_id": blob_id, "expires": {"$gt": now}},
                {"_id": 1},
            )
        )
        return upload is not None

    async def blobs_held(self, blob_ids: list[str]) -> set[str]:
        held: set[str] = set()
        if not blob_ids:  # (an empty $in matches everything on some emulators)
            return held
        for collection in ("uploads", "blob_refs"):
            held.update(
                await self._do(
                    self.db[collection].distinct("blob_id", {"blob_id": {"$in": list(blob_ids)}})
                )
            )
        return held

    async def expired_uploads(self, now: float) -> list[str]:
        expired = await self._do(self.db.uploads.distinct("blob_id", {"expires": {"$lte": now}}))
        await self._do(self.db.uploads.delete_many({"expires": {"$lte": now}}))
        if not expired:
            return []
        return sorted(set(expired) - await self.blobs_held(expired))

    # -- the blob write journal (one document per blob: ``_id`` the blob id, ``at``) --
    async def record_blob_writes(self, blob_ids: list[str], when: float) -> None:
        if blob_ids:
            await self._do(
                self.db.blob_writes.bulk_write(
                    [UpdateOne({"_id": b}, {"$max": {"at": when}}, upsert=True) for b in blob_ids],
                    ordered=False,
                )
            )

    async def blob_writes_before(self, when: float, limit: int) -> list[str]:
        docs = await self._do(
            self.db.blob_writes.find({"at": {"$lt": when}}, {"_id": 1})
            .sort("at", ASCENDING)
            .limit(limit)
            .to_list()
        )
        return [d["_id"] for d in docs]

    async def forget_blob_writes(self, blob_ids: list[str], before: float) -> None:
        if blob_ids:  # (an empty $in matches everything on some emulators)
            await self._do(
                self.db.blob_writes.delete_many({"_id": {"$in": blob_ids}, "at": {"$lt": before}})
            )


def _login_key(login: str) -> str:
    """Logins compare without regard to ASCII case (as SQLite's NOCASE does)."""
    return login.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


async def _blob_held(db: AsyncDatabase, blob_id: str, session: Any = None) -> bool:
    for collection in ("uploads", "blob_refs"):
        if await db[collection].find_one({"blob_id": blob_id}, {"_id": 1}, session=session):
            return True
    return False


def _stored(doc: Document) -> Document:
    if INDEX_ONLY not in doc:
        return doc
    return {k: v for k, v in doc.items() if k != INDEX_ONLY}


def object_key(account_id: str, type_name: str, object_id: str) -> dict[str, str]:
    return {"account_id": account_id, "type": type_name, "id": object_id}


class MongoTransaction(WriteBuffer):
    """Buffers one method call's writes; reads see them; commit writes all in one MongoDB
    transaction, guarded by the account's ``(modseq, next_id)``."""

    def __init__(
        self, store: MongoDataStore, account_id: str, start_modseq: int, next_id: int
    ) -> None:
        super().__init__(account_id, start_modseq, next_id)
        self._store = store

    async def commit(self, session: AsyncClientSession) -> dict[str, int]:
        """The transaction body (``with_transaction`` may run it more than once)."""
        db = self._store.db
        account = self.account_id
        now = time.time()
        changes, type_modseqs, modseq = self.numbered_changes()
        seqs = {(c.type_name, c.object_id): c.modseq for c in changes}
        log_rows: list[Document] = [
            {
                "account_id": account,
                "modseq": c.modseq,
                "type": c.type_name,
                "id": c.object_id,
                "kind": c.kind,
                "props": c.properties,
                "at": now,
            }
            for c in changes
        ]
        # First: claim the account's state; nobody else may have moved it meanwhile.
        claimed = await db.accounts.update_one(
            {"_id": account, "modseq": self._start[0], "next_id": self._start[1]},
            {"$set": {"modseq": modseq, "next_id": self._next_id}},
            session=session,
        )
        if claimed.matched_count == 0:
            if await db.accounts.find_one({"_id": account}, {"_id": 1}, session=session) is None:
                raise NotFoundError(account)
            raise WriteConflict(account)
        commit = Commit(db, session)
        writes: list[Any] = []
        indexers = self._store.indexers
        for (type_name, object_id), doc in self._pending.items():
            key = object_key(account, type_name, object_id)
            indexer = indexers.get(type_name)
            if indexer is not None:
                commit.seq = seqs.get((type_name, object_id), modseq)
                await indexer.write(commit, account, object_id, doc)
            if doc is None:
                writes.append(DeleteOne(key))
            else:
                writes.append(ReplaceOne(key, {**key, "data": escape(_stored(doc))}, upsert=True))
        for indexer in indexers.values():
            await indexer.finish(commit, account)
        if writes:
            await db.objects.bulk_write(writes, ordered=True, session=session)
        if log_rows:
            await db.changelog.insert_many(log_rows, session=session)
        if type_modseqs:
            await db.type_state.bulk_write(
                [
                    UpdateOne(
                        {"account_id": account, "type": t}, {"$set": {"modseq": m}}, upsert=True
                    )
                    for t, m in type_modseqs.items()
                ],
                session=session,
            )
        if self._removed_refs:
            await db.blob_refs.delete_many(
                {"account_id": account, "ref": {"$in": self._removed_refs}}, session=session
            )
        if self._blob_refs:
            await db.blob_refs.bulk_write(
                [
                    UpdateOne(
                        {"account_id": account, "blob_id": blob_id, "ref": ref},
                        {"$setOnInsert": {"account_id": account}},
                        upsert=True,
                    )
                    for blob_id, ref in self._blob_refs
                ],
                session=session,
            )
        jobs = [*self._jobs, *((q, new_job_id(), p, now) for q, p in commit.jobs)]
        for queue, job_id, payload, due in jobs:
            await db.jobs.update_one(
                *job_upsert(queue, job_id, payload, due), upsert=True, session=session
            )
        return type_modseqs

    # The Transaction interface.
    async def _load(self, type_name: str, ids: list[str]) -> list[Document]:
        return await self._store.find_objects(self.account_id, type_name, ids)

    async def _load_all(self, type_name: str) -> list[Document]:
        return await self._store.find_objects(self.account_id, type_name, None)

    async def modseq(self, type_name: str) -> int:
        return await self._store.modseq(self.account_id, type_name)
