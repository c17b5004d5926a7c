"""The embedded data backend: one SQLite database in WAL mode.

Reads run on a small pool of reader threads, each with its own connection, and see the last
committed state (WAL snapshots). SQLite has one writer at a time: writes run on a single
writer thread with its own connection, behind an asyncio lock held only to flush.

A transaction (one method call) holds its account's asyncio lock from start until its
writes are durable, so one account's methods run one after another and each sees the one
before. It reads committed state through the readers plus its own buffer of pending writes,
and takes the writer lock only at commit, to flush the buffer in one hop together with the
modseq bumps and the change log. So no account waits on another account's method, only on
its flush. Writers elsewhere (``fulmar import``, a second node) are caught at the flush: if
the account's modseq or id counter moved since the transaction started, the flush fails
with ``WriteConflict`` and writes nothing; the caller runs the method again.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sqlite3
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import orjson

from ..datadir import make_database_private
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
from .sqlite_jobs import SCHEMA as JOBS_SCHEMA
from .sqlite_jobs import SqliteJobQueue, insert_job
from .write_buffer import WriteBuffer, collapse_changes

T = TypeVar("T")


SCHEMA = """
CREATE TABLE IF NOT EXISTS principals (
    id TEXT PRIMARY KEY,
    login TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    modseq INTEGER NOT NULL DEFAULT 0,
    log_floor INTEGER NOT NULL DEFAULT 0,
    next_id INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS access (
    principal_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    read_only INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (principal_id, account_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY,
    principal_id TEXT NOT NULL,
    label TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL,
    last_used REAL
);
CREATE TABLE IF NOT EXISTS objects (
    account_id TEXT NOT NULL,
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (account_id, type, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS type_state (
    account_id TEXT NOT NULL,
    type TEXT NOT NULL,
    modseq INTEGER NOT NULL,
    PRIMARY KEY (account_id, type)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changelog (
    account_id TEXT NOT NULL,
    modseq INTEGER NOT NULL,
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    kind INTEGER NOT NULL,
    props TEXT,
    at REAL NOT NULL,
    PRIMARY KEY (account_id, modseq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS changelog_by_type ON changelog (account_id, type, modseq);
CREATE TABLE IF NOT EXISTS blob_refs (
    account_id TEXT NOT NULL,
    blob_id TEXT NOT NULL,
    ref TEXT NOT NULL,
    PRIMARY KEY (account_id, blob_id, ref)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blob_refs_by_ref ON blob_refs (account_id, ref);
CREATE INDEX IF NOT EXISTS blob_refs_by_blob ON blob_refs (blob_id);
CREATE TABLE IF NOT EXISTS uploads (
    account_id TEXT NOT NULL,
    blob_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (account_id, blob_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS uploads_by_expiry ON uploads (expires);
CREATE INDEX IF NOT EXISTS uploads_by_blob ON uploads (blob_id);
CREATE TABLE IF NOT EXISTS blob_writes (
    blob_id TEXT PRIMARY KEY,
    at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blob_writes_by_time ON blob_writes (at);
"""


#: transactions one COMMIT may carry at most
MAX_BATCH = 64


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk before the client hears of it (accepted means durable).
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("PRAGMA busy_timeout=30000")
    # Deleted rows are overwritten, not left in free pages: push URLs and keys are secrets
    # that RFC 8620 §7.2 says to erase on destroy.
    conn.execute("PRAGMA secure_delete=ON")
    return conn


class Indexer(Protocol):
    """Keeps side tables (query indexes, full-text) of one type in step with its objects.

    ``write`` runs on the writer thread inside the committing transaction, once per changed
    object (``doc`` is None when it was destroyed), so indexes never lag the data. A document
    may carry index-only input under ``INDEX_ONLY`` (e.g. full text): indexers read it, and
    it is never stored.
    """

    type_name: str
    schema_sql: str

    def write(
        self, conn: sqlite3.Connection, account_id: str, object_id: str, doc: Document | None
    ) -> None: ...

    def drop_account(self, conn: sqlite3.Connection, account_id: str) -> None: ...


class Writes(Protocol):
    """What the writer flushes: a transaction's buffer, or one job-queue operation."""

    def write(self, conn: sqlite3.Connection) -> None: ...


def _new_opaque_id(prefix: str) -> str:
    return prefix + secrets.token_hex(8)


class SqliteDataStore:
    """The data role on SQLite (see the module docstring for the threading model)."""

    def __init__(self, path: Path, readers: int = 4, indexers: Iterable[Indexer] = ()) -> None:
        self.path = path
        self.indexers = {indexer.type_name: indexer for indexer in indexers}
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="sqlite-reader")
        self._local = threading.local()
        self._write_conn: sqlite3.Connection | None = None
        self._write_lock = asyncio.Lock()
        #: one lock per account, held by a transaction until its writes are durable
        self._account_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        #: group commit: transactions whose writes are in the open SQLite transaction, and
        #: how many more are waiting for the lock (they will join it)
        self._batch: list[asyncio.Future[None]] = []
        self._entering = 0
        self._orphan_commits: set[asyncio.Future[None]] = set()
        self._reader_conns: list[sqlite3.Connection] = []
        self.jobs = SqliteJobQueue(self)

    # -- plumbing --
    async def open(self) -> None:
        make_database_private(self.path)  # it holds password hashes and all mail headers

        def setup() -> None:
            self._write_conn = _connect(str(self.path))
            self._write_conn.executescript(SCHEMA)
            columns = {row[1] for row in self._write_conn.execute("PRAGMA table_info(tokens)")}
            if "last_used" not in columns:  # databases made before tokens kept it
                self._write_conn.execute("ALTER TABLE tokens ADD COLUMN last_used REAL")
            for indexer in self.indexers.values():
                self._write_conn.executescript(indexer.schema_sql)
            self._write_conn.executescript(JOBS_SCHEMA)
            self._write_conn.execute(
                "INSERT OR IGNORE INTO accounts (id, name, owner_id) VALUES (?, 'server', '')",
                (SERVER_ACCOUNT,),
            )

        await self._on_writer(setup)

    async def close(self) -> None:
        def shut_writer() -> None:
            if self._write_conn is not None:
                self._write_conn.close()

        await self._commit_open_batch()
        await self._on_writer(shut_writer)
        for conn in self._reader_conns:
            conn.close()
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)

    async def _on_writer(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn)

    def _reader_conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(str(self.path))
            self._local.conn = conn
            self._reader_conns.append(conn)
        return conn

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on a reader connection, in one snapshot (indexers query through it)."""

        def run() -> T:
            conn = self._reader_conn()
            conn.execute("BEGIN")
            try:
                return fn(conn)
            finally:
                conn.execute("COMMIT")

        try:
            return await asyncio.get_running_loop().run_in_executor(self._readers, run)
        except sqlite3.Error as exc:
            raise StoreError(str(exc)) from exc

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            conn = self._write_conn
            assert conn is not None
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        async with self._write_lock:
            await self._commit_batch()
            try:
                return await self._on_writer(run)
            except sqlite3.IntegrityError as exc:
                raise ConflictError(str(exc)) from exc
            except sqlite3.Error as exc:
                raise StoreError(str(exc)) from exc

    # -- principals, accounts, tokens --
    async def create_principal(self, login: str, password_hash: str, account_name: str) -> Account:
        principal_id = _new_opaque_id("p")
        account = Account(id=_new_opaque_id("a"), name=account_name, owner_id=principal_id)

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO principals (id, login, password_hash, created) VALUES (?, ?, ?, ?)",
                (principal_id, login, password_hash, time.time()),
            )
            conn.execute(
                "INSERT INTO accounts (id, name, owner_id) VALUES (?, ?, ?)",
                (account.id, account.name, principal_id),
            )
            conn.execute(
                "INSERT INTO access (principal_id, account_id, read_only) VALUES (?, ?, 0)",
                (principal_id, account.id),
            )

        await self._write(run)
        return account

    @staticmethod
    def _principal(row: tuple[Any, ...] | None) -> Principal | None:
        return Principal(id=row[0], login=row[1], password_hash=row[2]) if row else None

    async def principal_by_login(self, login: str) -> Principal | None:
        return await self.read(
            lambda c: self._principal(
                c.execute(
                    "SELECT id, login, password_hash FROM principals WHERE login = ?", (login,)
                ).fetchone()
            )
        )

    async def principal(self, principal_id: str) -> Principal | None:
        return await self.read(
            lambda c: self._principal(
                c.execute(
                    "SELECT id, login, password_hash FROM principals WHERE id = ?", (principal_id,)
                ).fetchone()
            )
        )

    async def principals(self) -> list[Principal]:
        rows = await self.read(
            lambda c: c.execute(
                "SELECT id, login, password_hash FROM principals ORDER BY login"
            ).fetchall()
        )
        return [Principal(*row) for row in rows]

    async def set_password(self, login: str, password_hash: str) -> None:
        def run(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "UPDATE principals SET password_hash = ? WHERE login = ?", (password_hash, login)
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no account with the address {login}")

        await self._write(run)

    async def remove_principal(self, login: str) -> tuple[list[str], list[str]]:
        def run(conn: sqlite3.Connection) -> tuple[list[str], list[str]]:
            row = conn.execute("SELECT id FROM principals WHERE login = ?", (login,)).fetchone()
            if row is None:
                raise NotFoundError(f"no account with the address {login}")
            principal_id = row[0]
            account_ids = [
                r[0]
                for r in conn.execute("SELECT id FROM accounts WHERE owner_id = ?", (principal_id,))
            ]
            held: set[str] = set()
            for account_id in account_ids:
                for table in ("blob_refs", "uploads"):
                    held.update(
                        r[0]
                        for r in conn.execute(
                            f"SELECT blob_id FROM {table} WHERE account_id = ?", (account_id,)
                        )
                    )
                for table in ("objects", "type_state", "changelog", "blob_refs", "uploads"):
                    conn.execute(f"DELETE FROM {table} WHERE account_id = ?", (account_id,))
                for indexer in self.indexers.values():
                    indexer.drop_account(conn, account_id)
                conn.execute("DELETE FROM access WHERE account_id = ?", (account_id,))
                conn.execute("DELETE FROM accounts WHERE id = ?", (account_id,))
            conn.execute("DELETE FROM access WHERE principal_id = ?", (principal_id,))
            conn.execute("DELETE FROM tokens WHERE principal_id = ?", (principal_id,))
            conn.execute("DELETE FROM principals WHERE id = ?", (principal_id,))
            return account_ids, [b for b in held if not _blob_held(conn, b)]

        return await self._write(run)

    async def accounts_for(self, principal_id: str) -> list[Account]:
        rows = await self.read(
            lambda c: c.execute(
                "SELECT a.id, a.name, a.owner_id, x.read_only FROM access x "
                "JOIN accounts a ON a.id = x.account_id WHERE x.principal_id = ? "
                "ORDER BY a.owner_id != x.principal_id, a.name",
                (principal_id,),
            ).fetchall()
        )
        return [
            Account(
                id=r[0],
                name=r[1],
                owner_id=r[2],
                is_personal=r[2] == principal_id,
                is_read_only=bool(r[3]),
            )
            for r in rows
        ]

    async def grant(self, account_id: str, principal_id: str, read_only: bool) -> None:
        await self._write(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO access (principal_id, account_id, read_only) "
                "VALUES (?, ?, ?)",
                (principal_id, account_id, int(read_only)),
            )
        )

    async def add_token(
        self, token_hash: str, principal_id: str, label: str, expires: float | None
    ) -> None:
        await self._write(
            lambda c: c.execute(
                "INSERT INTO tokens (hash, principal_id, label, created, expires) "
                "VALUES (?, ?, ?, ?, ?)",
                (token_hash, principal_id, label, time.time(), expires),
            )
        )

    async def remove_token(self, token_hash: str) -> bool:
        return await self._write(
            lambda c: c.execute("DELETE FROM tokens WHERE hash = ?", (token_hash,)).rowcount > 0
        )

    async def tokens(self) -> list[TokenInfo]:
        rows = await self.read(
            lambda c: c.execute(
                "SELECT t.hash, p.login, t.label, t.created, t.expires, t.last_used "
                "FROM tokens t JOIN principals p ON p.id = t.principal_id "
                "ORDER BY p.login, t.created"
            ).fetchall()
        )
        return [TokenInfo(*row) for row in rows]

    async def token_used(self, token_hash: str, when: float) -> None:
        await self._write(
            lambda c: c.execute(
                "UPDATE tokens SET last_used = ? WHERE hash = ?", (when, token_hash)
            )
        )

    async def principal_for_token(self, token_hash: str, now: float) -> Principal | None:
        return await self.read(
            lambda c: self._principal(
                c.execute(
                    "SELECT p.id, p.login, p.password_hash FROM tokens t "
                    "JOIN principals p ON p.id = t.principal_id "
                    "WHERE t.hash = ? AND (t.expires IS NULL OR t.expires > ?)",
                    (token_hash, now),
                ).fetchone()
            )
        )

    # -- objects and state --
    @asynccontextmanager
    async def transaction(self, account_id: str) -> AsyncIterator[SqliteTransaction]:
        """One method call's writes, atomically, durable when this returns.

        Holds the account's lock throughout (see the module docstring) and the writer lock
        only to flush. Group commit: flushes that queue up for the writer while one commits
        join a single SQLite transaction, and one fsync makes all of them durable. Each still
        waits for that COMMIT before returning, so nothing is acknowledged before it is on disk.
        """
        lock = self._account_locks.get(account_id)
        if lock is None:
            lock = self._account_locks[account_id] = asyncio.Lock()
        await lock.acquire()
        durable: asyncio.Future[None] | None = None
        try:
            tx = await self._begin(account_id)
            yield tx
            if tx.has_writes():
                durable = await self._flush(tx)
        finally:
            if durable is None:
                lock.release()
            else:
                # released when durable, even if this task is cancelled while it waits
                durable.add_done_callback(lambda _: lock.release())
        if durable is not None:
            await durable

    async def _begin(self, account_id: str) -> SqliteTransaction:
        row = await self.read(
            lambda c: c.execute(
                "SELECT modseq, next_id FROM accounts WHERE id = ?", (account_id,)
            ).fetchone()
        )
        if row is None:
            raise NotFoundError(account_id)
        return SqliteTransaction(self, account_id, row[0], row[1])

    async def flush_now(self, writes: Writes) -> None:
        """Write outside any account's transaction (the job queue), durable on return."""
        await (await self._flush(writes))

    async def _flush(self, tx: Writes) -> asyncio.Future[None]:
        """Write a transaction's buffer into the open batch; the future says when durable."""
        durable = asyncio.get_running_loop().create_future()
        self._entering += 1
        try:
            await self._write_lock.acquire()
        except BaseException:
            self._entering -= 1
            if self._batch:  # whoever held the lock left the batch for us to commit
                task = asyncio.ensure_future(self._commit_open_batch())
                self._orphan_commits.add(task)
                task.add_done_callback(self._orphan_commits.discard)
            raise
        self._entering -= 1
        try:
            conn = self._write_conn
            assert conn is not None
            batch_open = bool(self._batch)
            try:
                await self._on_writer(lambda: _flush_one(conn, tx, batch_open))
            except sqlite3.Error as exc:
                raise StoreError(str(exc)) from exc
            self._batch.append(durable)
        finally:
            try:
                if self._batch and (self._entering == 0 or len(self._batch) >= MAX_BATCH):
                    await self._commit_batch()
            finally:
                self._write_lock.release()
        return durable

    async def _commit_batch(self) -> None:
        """COMMIT the open batch (the write lock is held) and tell its transactions.

        The COMMIT runs on in the writer thread whatever happens to the task that asked for
        it, so a cancelled caller waits for its outcome (holding the lock) before the
        cancellation goes on: the batch learns what really happened to its writes."""
        batch, self._batch = self._batch, []
        if not batch:
            return
        outcome = asyncio.ensure_future(self._commit(batch))
        try:
            await asyncio.shield(outcome)
        except asyncio.CancelledError:
            while not outcome.done():  # ends: the writer thread returns
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(outcome)
            raise

    async def _commit(self, batch: list[asyncio.Future[None]]) -> None:
        conn = self._write_conn
        assert conn is not None
        try:
            await self._on_writer(lambda: conn.execute("COMMIT"))
        except Exception as exc:
            if conn.in_transaction:
                await self._on_writer(lambda: conn.execute("ROLLBACK"))
            for durable in batch:
                if not durable.done():
                    durable.set_exception(StoreError(f"commit failed: {exc}"))
            return
        for durable in batch:
            if not durable.done():
                durable.set_result(None)

    async def _commit_open_batch(self) -> None:
        async with self._write_lock:
            await self._commit_batch()

    async def get(
        self, account_id: str, type_name: str, ids: list[str] | None
    ) -> tuple[int, list[Document]]:
        def run(conn: sqlite3.Connection) -> tuple[int, list[Document]]:
            modseq = _type_modseq(conn, account_id, type_name)
            if ids is None:
                rows = conn.execute(
                    "SELECT data FROM objects WHERE account_id = ? AND type = ?",
                    (account_id, type_name),
                ).fetchall()
            else:
                rows = _select_ids(conn, account_id, type_name, ids)
            return modseq, [orjson.loads(r[0]) for r in rows]

        return await self.read(run)

    async def modseq(self, account_id: str, type_name: str) -> int:
        return await self.read(lambda c: _type_modseq(c, account_id, type_name))

    async def account_modseq(self, account_id: str) -> int:
        row = await self.read(
            lambda c: c.execute(
                "SELECT modseq FROM accounts WHERE id = ?", (account_id,)
            ).fetchone()
        )
        return row[0] if row else 0

    async def account_modseqs(self, account_ids: list[str]) -> dict[str, int]:
        def run(conn: sqlite3.Connection) -> dict[str, int]:
            found: dict[str, int] = {}
            for start in range(0, len(account_ids), 500):
                chunk = account_ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                found.update(
                    conn.execute(
                        f"SELECT id, modseq FROM accounts WHERE id IN ({marks})", chunk
                    ).fetchall()
                )
            return found

        return await self.read(run)

    async def type_states(self, account_id: str) -> dict[str, int]:
        rows = await self.read(
            lambda c: c.execute(
                "SELECT type, modseq FROM type_state WHERE account_id = ?", (account_id,)
            ).fetchall()
        )
        return dict(rows)

    async def changes(
        self, account_id: str, type_name: str, since: int, max_changes: int | None
    ) -> Changes:
        def run(conn: sqlite3.Connection) -> Changes:
            floor, current = conn.execute(
                "SELECT log_floor, modseq FROM accounts WHERE id = ?", (account_id,)
            ).fetchone()
            type_modseq = _type_modseq(conn, account_id, type_name)
            if _unknowable(since, floor, current, type_modseq):
                raise CannotCalculateChanges(since)
            rows = conn.execute(
                "SELECT modseq, id, kind, props FROM changelog "
                "WHERE account_id = ? AND type = ? AND modseq > ? ORDER BY modseq",
                (account_id, type_name, since),
            )
            return collapse_changes(rows, since, type_modseq, max_changes)

        return await self.read(run)

    async def changed_ids_since(self, account_id: str, type_name: str, since: int) -> set[str]:
        def run(conn: sqlite3.Connection) -> set[str]:
            floor, current = conn.execute(
                "SELECT log_floor, modseq FROM accounts WHERE id = ?", (account_id,)
            ).fetchone()
            if _unknowable(since, floor, current, _type_modseq(conn, account_id, type_name)):
                raise CannotCalculateChanges(since)
            return {
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT id FROM changelog "
                    "WHERE account_id = ? AND type = ? AND modseq > ?",
                    (account_id, type_name, since),
                )
            }

        return await self.read(run)

    async def prune_changes(self, older_than: float) -> int:
        def run(conn: sqlite3.Connection) -> int:
            floors = conn.execute(
                "SELECT account_id, MAX(modseq) FROM changelog WHERE at < ? GROUP BY account_id",
                (older_than,),
            ).fetchall()
            removed = 0
            for account_id, floor in floors:
                removed += conn.execute(
                    "DELETE FROM changelog WHERE account_id = ? AND modseq <= ?",
                    (account_id, floor),
                ).rowcount
                conn.execute(
                    "UPDATE accounts SET log_floor = MAX(log_floor, ?) WHERE id = ?",
                    (floor, account_id),
                )
            return removed

        return await self._write(run)

    # -- blob ownership --
    async def add_upload(self, account_id: str, blob_id: str, size: int, expires: float) -> None:
        await self._write(
            lambda c: c.execute(
                "INSERT INTO uploads (account_id, blob_id, size, expires) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (account_id, blob_id) DO UPDATE SET expires = "
                "MAX(expires, excluded.expires)",
                (account_id, blob_id, size, expires),
            )
        )

    async def blob_visible(self, account_id: str, blob_id: str, now: float) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            if conn.execute(
                "SELECT 1 FROM blob_refs WHERE account_id = ? AND blob_id = ? LIMIT 1",
                (account_id, blob_id),
            ).fetchone():
                return True
            return bool(
                conn.execute(
                    "SELECT 1 FROM uploads WHERE account_id = ? AND blob_id = ? AND expires > ?",
                    (account_id, blob_id, now),
                ).fetchone()
            )

        return await self.read(run)

    async def blobs_held(self, blob_ids: list[str]) -> set[str]:
        return await self.read(lambda c: {b for b in blob_ids if _blob_held(c, b)})

    async def expired_uploads(self, now: float) -> list[str]:
        def run(conn: sqlite3.Connection) -> list[str]:
            expired = [
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT blob_id FROM uploads WHERE expires <= ?", (now,)
                )
            ]
            conn.execute("DELETE FROM uploads WHERE expires <= ?", (now,))
            orphans = []
            for blob_id in expired:
                if not _blob_held(conn, blob_id):
                    orphans.append(blob_id)
            return orphans

        return await self._write(run)

    # -- the blob write journal --
    async def record_blob_writes(self, blob_ids: list[str], when: float) -> None:
        await self._write(
            lambda c: c.executemany(
                "INSERT INTO blob_writes (blob_id, at) VALUES (?, ?) "
                "ON CONFLICT (blob_id) DO UPDATE SET at = MAX(at, excluded.at)",
                [(b, when) for b in blob_ids],
            )
        )

    async def blob_writes_before(self, when: float, limit: int) -> list[str]:
        rows = await self.read(
            lambda c: c.execute(
                "SELECT blob_id FROM blob_writes WHERE at < ? ORDER BY at LIMIT ?", (when, limit)
            ).fetchall()
        )
        return [r[0] for r in rows]

    async def forget_blob_writes(self, blob_ids: list[str], before: float) -> None:
        await self._write(
            lambda c: c.executemany(
                "DELETE FROM blob_writes WHERE blob_id = ? AND at < ?",
                [(b, before) for b in blob_ids],
            )
        )


def _unknowable(since: int, floor: int, current: int, type_modseq: int) -> bool:
    """Is ``since`` a state whose changes the log cannot tell?

    States from the future are. States from before the pruned part of the log are too,
    unless the type has not changed since: then a state the server still hands out for a
    quiet type keeps working however old it is.
    """
    return since > current or (since < floor and since < type_modseq)


def _stored(doc: Document) -> Document:
    if INDEX_ONLY not in doc:
        return doc
    return {k: v for k, v in doc.items() if k != INDEX_ONLY}


def _blob_held(conn: sqlite3.Connection, blob_id: str) -> bool:
    """Does any account still hold this blob (by an upload or an object)?"""
    return bool(
        conn.execute(
            "SELECT 1 FROM uploads WHERE blob_id = ? UNION ALL "
            "SELECT 1 FROM blob_refs WHERE blob_id = ? LIMIT 1",
            (blob_id, blob_id),
        ).fetchone()
    )


def _type_modseq(conn: sqlite3.Connection, account_id: str, type_name: str) -> int:
    row = conn.execute(
        "SELECT modseq FROM type_state WHERE account_id = ? AND type = ?", (account_id, type_name)
    ).fetchone()
    return row[0] if row else 0


def _select_ids(
    conn: sqlite3.Connection, account_id: str, type_name: str, ids: list[str]
) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows.extend(
            conn.execute(
                f"SELECT data FROM objects WHERE account_id = ? AND type = ? AND id IN ({marks})",
                (account_id, type_name, *chunk),
            ).fetchall()
        )
    return rows


def _flush_one(conn: sqlite3.Connection, tx: Writes, batch_open: bool) -> None:
    """On the writer thread: a transaction's writes as a savepoint of the open batch."""
    if not batch_open:
        conn.execute("BEGIN IMMEDIATE")
    conn.execute("SAVEPOINT tx")
    try:
        tx.write(conn)
    except BaseException:
        conn.execute("ROLLBACK TO tx")
        conn.execute("RELEASE tx")
        if not batch_open:
            conn.execute("ROLLBACK")
        raise
    conn.execute("RELEASE tx")  # the store COMMITs the batch


class SqliteTransaction(WriteBuffer):
    """Buffers one method call's writes; reads see them; commit flushes all in one go."""

    def __init__(
        self, store: SqliteDataStore, account_id: str, start_modseq: int, next_id: int
    ) -> None:
        super().__init__(account_id, start_modseq, next_id)
        self._store = store

    # Runs on the writer thread, inside the batch's SQLite transaction.
    def write(self, conn: sqlite3.Connection) -> None:
        account = self.account_id
        now = time.time()
        row = conn.execute(
            "SELECT modseq, next_id FROM accounts WHERE id = ?", (account,)
        ).fetchone()
        if row is None:
            raise NotFoundError(account)
        if tuple(row) != self._start:
            raise WriteConflict(account)
        changes, type_modseqs, modseq = self.numbered_changes()
        log_rows = [
            (account, c.modseq, c.type_name, c.object_id, c.kind, c.properties, now)
            for c in changes
        ]
        indexers = self._store.indexers
        for (type_name, object_id), doc in self._pending.items():
            indexer = indexers.get(type_name)
            if indexer is not None:
                indexer.write(conn, account, object_id, doc)
            if doc is None:
                conn.execute(
                    "DELETE FROM objects WHERE account_id = ? AND type = ? AND id = ?",
                    (account, type_name, object_id),
                )
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO objects (account_id, type, id, data) "
                    "VALUES (?, ?, ?, ?)",
                    (account, type_name, object_id, orjson.dumps(_stored(doc))),
                )
        conn.executemany("INSERT INTO changelog VALUES (?, ?, ?, ?, ?, ?, ?)", log_rows)
        conn.executemany(
            "INSERT INTO type_state (account_id, type, modseq) VALUES (?, ?, ?) "
            "ON CONFLICT (account_id, type) DO UPDATE SET modseq = excluded.modseq",
            [(account, t, m) for t, m in type_modseqs.items()],
        )
        for ref in self._removed_refs:
            conn.execute("DELETE FROM blob_refs WHERE account_id = ? AND ref = ?", (account, ref))
        conn.executemany(
            "INSERT OR IGNORE INTO blob_refs (account_id, blob_id, ref) VALUES (?, ?, ?)",
            [(account, blob_id, ref) for blob_id, ref in self._blob_refs],
        )
        for queue, job_id, payload, due in self._jobs:
            insert_job(conn, queue, job_id, payload, due)
        conn.execute(
            "UPDATE accounts SET modseq = ?, next_id = ? WHERE id = ?",
            (modseq, self._next_id, account),
        )
        self.changed_types = type_modseqs

    # The Transaction interface (called on the event loop).
    async def _load(self, type_name: str, ids: list[str]) -> list[Document]:
        rows = await self._store.read(lambda c: _select_ids(c, self.account_id, type_name, ids))
        return [orjson.loads(data) for (data,) in rows]

    async def _load_all(self, type_name: str) -> list[Document]:
        rows = await self._store.read(
            lambda c: c.execute(
                "SELECT data FROM objects WHERE account_id = ? AND type = ?",
                (self.account_id, type_name),
            ).fetchall()
        )
        return [orjson.loads(data) for (data,) in rows]

    async def modseq(self, type_name: str) -> int:
        return await self._store.read(lambda c: _type_modseq(c, self.account_id, type_name))
