"""The job queue role on MongoDB: one document per job in ``jobs``.

Claims are conditional updates (``lease_until <= now``), so two workers never hold one job;
``complete``, ``retry`` and ``renew`` match the caller's lease token, so a worker whose lease
lapsed cannot undo another's progress. Payloads go through ``mongo_keys`` like objects.
Named leases are documents of ``leases`` keyed by ``_id`` (the name): taking one is an
upsert matching a lapsed lease, so a lease someone holds fails on the key.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from .base import Document, StoreError
from .jobs import Job, new_job_id
from .mongo_keys import escape, unescape

if TYPE_CHECKING:
    from .mongo import MongoDataStore

INDEXES = [
    ("jobs", [("queue", ASCENDING), ("id", ASCENDING)], True),
    ("jobs", [("queue", ASCENDING), ("due", ASCENDING)], False),
]


def job_upsert(queue: str, job_id: str, payload: Document, due: float) -> tuple[Document, Document]:
    """(filter, update) that add a job unless the queue holds that id already."""
    return (
        {"queue": queue, "id": job_id},
        {
            "$setOnInsert": {
                "queue": queue,
                "id": job_id,
                "payload": escape(payload),
                "due": due,
                "attempts": 0,
                "lease": "",
                "lease_until": 0.0,
            }
        },
    )


def _job(doc: Document) -> Job:
    return Job(
        doc["queue"],
        doc["id"],
        unescape(doc["payload"]),
        doc["due"],
        doc["attempts"],
        doc["lease"],
        doc["lease_until"],
    )


class MongoJobQueue:
    def __init__(self, store: MongoDataStore) -> None:
        self._store = store

    async def _do(self, awaitable: Any) -> Any:
        try:
            return await awaitable
        except PyMongoError as exc:
            raise StoreError(str(exc)) from exc

    async def enqueue(
        self, queue: str, payload: Document, due: float, job_id: str | None = None
    ) -> str:
        job_id = job_id or new_job_id()
        await self._do(
            self._store.db.jobs.update_one(*job_upsert(queue, job_id, payload, due), upsert=True)
        )
        return job_id

    async def claim(
        self, queue: str, owner: str, now: float, lease_seconds: float, limit: int = 1
    ) -> list[Job]:
        jobs = self._store.db.jobs
        lease = f"{owner}:{secrets.token_hex(8)}"
        until = now + lease_seconds
        due = {"queue": queue, "due": {"$lte": now}, "lease_until": {"$lte": now}}
        claimed = []
        for _ in range(limit):  # each step leases the earliest free job, atomically
            doc = await self._do(
                jobs.find_one_and_update(
                    due,
                    {"$set": {"lease": lease, "lease_until": until}},
                    sort=[("due", ASCENDING), ("id", ASCENDING)],
                    return_document=ReturnDocument.AFTER,
                )
            )
            if doc is None:
                break
            claimed.append(_job(doc))
        return claimed

    async def renew(self, job: Job, now: float, lease_seconds: float) -> Job | None:
        until = now + lease_seconds
        result = await self._do(
            self._store.db.jobs.update_one(
                {"queue": job.queue, "id": job.id, "lease": job.lease},
                {"$set": {"lease_until": until}},
            )
        )
        if result.matched_count != 1:
            return None
        return Job(job.queue, job.id, job.payload, job.due, job.attempts, job.lease, until)

    async def complete(self, job: Job) -> bool:
        result = await self._do(
            self._store.db.jobs.delete_one({"queue": job.queue, "id": job.id, "lease": job.lease})
        )
        return result.deleted_count == 1

    async def retry(self, job: Job, due: float, payload: Document | None = None) -> bool:
        result = await self._do(
            self._store.db.jobs.update_one(
                {"queue": job.queue, "id": job.id, "lease": job.lease},
                {
                    "$set": {
                        "due": due,
                        "payload": escape(job.payload if payload is None else payload),
                        "lease": "",
                        "lease_until": 0.0,
                    },
                    "$inc": {"attempts": 1},
                },
            )
        )
        return result.matched_count == 1

    async def pending(self, queue: str) -> int:
        return int(await self._do(self._store.db.jobs.count_documents({"queue": queue})))

    async def next_due(self, queue: str) -> float | None:
        docs = await self._do(
            self._store.db.jobs.find({"queue": queue}, {"due": 1})
            .sort("due", ASCENDING)
            .limit(1)
            .to_list()
        )
        return docs[0]["due"] if docs else None

    async def take_lease(self, name: str, owner: str, now: float, seconds: float) -> bool:
        free = {"_id": name, "until": {"$lte": now}}
        update = {"$set": {"owner": owner, "until": now + seconds}}
        try:
            await self._do(self._store.db.leases.update_one(free, update, upsert=True))
        except StoreError as exc:
            if isinstance(exc.__cause__, DuplicateKeyError):
                return False  # held by another (the upsert's insert met the name)
            raise
        return True
