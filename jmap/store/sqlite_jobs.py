"""The job queue role on SQLite: a ``jobs`` table written through the group commit."""

from __future__ import annotations

import secrets
import sqlite3
from typing import TYPE_CHECKING, Any

import orjson

from .base import Document
from .jobs import Job, new_job_id

if TYPE_CHECKING:
    from .sqlite import SqliteDataStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    queue TEXT NOT NULL,
    id TEXT NOT NULL,
    payload BLOB NOT NULL,
    due REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease TEXT NOT NULL DEFAULT '',
    lease_until REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS jobs_by_due ON jobs (queue, due);
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until REAL NOT NULL
) WITHOUT ROWID;
"""


def insert_job(
    conn: sqlite3.Connection,
    queue: str,
    job_id: str,
    payload: Document,
    due: float,
    lease: tuple[str, float] | None = None,
) -> None:
    token, until = lease or ("", 0.0)
    conn.execute(
        "INSERT OR IGNORE INTO jobs (queue, id, payload, due, lease, lease_until) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (queue, job_id, orjson.dumps(payload), due, token, until),
    )


class _Op:
    """One queue write, flushed like a transaction (``write`` runs on the writer thread)."""

    def __init__(self, run: Any) -> None:
        self._run = run
        self.result: Any = None

    def write(self, conn: sqlite3.Connection) -> None:
        self.result = self._run(conn)


class SqliteJobQueue:
    def __init__(self, store: SqliteDataStore) -> None:
        self._store = store

    async def _write(self, run: Any) -> Any:
        op = _Op(run)
        await self._store.flush_now(op)
        return op.result

    async def enqueue(
        self, queue: str, payload: Document, due: float, job_id: str | None = None
    ) -> str:
        job_id = job_id or new_job_id()
        await self._write(lambda c: insert_job(c, queue, job_id, payload, due))
        return job_id

    async def enqueue_holding(
        self,
        queue: str,
        payload: Document,
        due: float,
        job_id: str,
        hold: tuple[str, str, str],
        lease: tuple[str, float] | None = None,
    ) -> None:
        """``enqueue`` together with a blob ref ``hold`` = (account, blob id, ref) that keeps
        the job's blob from the orphan sweep, in one commit. No account transaction: a blob
        ref changes no object, so there is no modseq to bump and no account lock to wait
        for (the inbound listener's path: many sessions end DATA at once for one account).
        ``lease`` = (lease, until): the job is born claimed by the caller, as if ``claim``
        had handed it out (so a local worker can run it without claiming it)."""
        account_id, blob_id, ref = hold

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR IGNORE INTO blob_refs (account_id, blob_id, ref) VALUES (?, ?, ?)",
                (account_id, blob_id, ref),
            )
            insert_job(conn, queue, job_id, payload, due, lease)

        await self._write(run)

    async def claim(
        self, queue: str, owner: str, now: float, lease_seconds: float, limit: int = 1
    ) -> list[Job]:
        lease = f"{owner}:{secrets.token_hex(8)}"
        until = now + lease_seconds

        def run(conn: sqlite3.Connection) -> list[Job]:
            rows = conn.execute(
                "SELECT id, payload, due, attempts FROM jobs "
                "WHERE queue = ? AND due <= ? AND lease_until <= ? ORDER BY due LIMIT ?",
                (queue, now, now, limit),
            ).fetchall()
            conn.executemany(
                "UPDATE jobs SET lease = ?, lease_until = ? WHERE queue = ? AND id = ?",
                [(lease, until, queue, row[0]) for row in rows],
            )
            return [
                Job(queue, job_id, orjson.loads(data), due, attempts, lease, until)
                for job_id, data, due, attempts in rows
            ]

        return await self._write(run)

    async def renew(self, job: Job, now: float, lease_seconds: float) -> Job | None:
        until = now + lease_seconds

        def run(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE jobs SET lease_until = ? WHERE queue = ? AND id = ? AND lease = ?",
                (until, job.queue, job.id, job.lease),
            )
            return cursor.rowcount == 1

        if not await self._write(run):
            return None
        return Job(job.queue, job.id, job.payload, job.due, job.attempts, job.lease, until)

    async def complete(self, job: Job) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "DELETE FROM jobs WHERE queue = ? AND id = ? AND lease = ?",
                (job.queue, job.id, job.lease),
            )
            return cursor.rowcount == 1

        return await self._write(run)

    async def retry(self, job: Job, due: float, payload: Document | None = None) -> bool:
        data = orjson.dumps(job.payload if payload is None else payload)

        def run(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE jobs SET due = ?, payload = ?, attempts = attempts + 1, lease = '', "
                "lease_until = 0 WHERE queue = ? AND id = ? AND lease = ?",
                (due, data, job.queue, job.id, job.lease),
            )
            return cursor.rowcount == 1

        return await self._write(run)

    async def pending(self, queue: str) -> int:
        row = await self._store.read(
            lambda c: c.execute("SELECT count(*) FROM jobs WHERE queue = ?", (queue,)).fetchone()
        )
        return int(row[0])

    async def next_due(self, queue: str) -> float | None:
        row = await self._store.read(
            lambda c: c.execute("SELECT min(due) FROM jobs WHERE queue = ?", (queue,)).fetchone()
        )
        return row[0]

    async def take_lease(self, name: str, owner: str, now: float, seconds: float) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT INTO leases (name, owner, until) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until "
                "WHERE leases.until <= ?",
                (name, owner, now + seconds, now),
            )
            return cursor.rowcount == 1

        return await self._write(run)
