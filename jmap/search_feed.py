"""The search feeder: brings a search engine in step with the data role, from the durable
``search`` job queue, off the path of delivery.

The mail index enqueues a job in the transaction that creates or destroys an Email (with
the new Email's text), and ``fulmar reindex`` enqueues every Email of an account. A job
names Emails, not what to do with them: the feeder reads which of them still exist, indexes
those (with the text the job carries, or the text of their message, parsed in the worker
pool) and forgets the others, so jobs may run in any order and any number of times. It
claims a batch of due jobs under a lease, sends one write per kind to the engine, waits for
the engine to apply it, then completes the jobs. When the engine fails, the jobs are handed
back with exponential backoff: nothing is lost, and every node may run a feeder (the lease
gives each job to one of them at a time).

A search document that outlives its Email (a destroy indexed before a concurrent feed of
the same Email, on another node) is never visible: the mail index only returns Emails
present in the data role.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from typing import Any

from jmap.message import parse_message
from jmap.workers import BudgetExceeded, WorkerPool

from .store.base import BlobStore, DataStore, StoreError
from .store.jobs import Job
from .store.search import SEARCH_QUEUE, SearchDocument, SearchIndex

log = logging.getLogger("fulmar.search")

#: the worker pool's share for parsing messages whose text a job does not carry
FEEDER_OWNER = "_search_feeder"
#: Emails sent to the engine in one write at most
SEND_EMAILS = 64


def message_parts(octets: bytes) -> dict[str, str] | None:
    """The search text of a message (in the worker pool); None if it does not parse."""
    try:
        return parse_message(octets)["search"]
    except Exception:  # an unparsable message is stored but has no text to search
        return None


class SearchFeeder:
    """Claims ``search`` jobs and applies them to a ``SearchIndex``; see the module doc."""

    def __init__(
        self,
        data: DataStore,
        blobs: BlobStore,
        search: SearchIndex,
        workers: WorkerPool,
        *,
        clock: Callable[[], float] = time.time,
        batch: int = 64,
        lease_seconds: float = 300.0,
        poll_seconds: float = 0.05,
        backoff_base: float = 1.0,
        backoff_max: float = 300.0,
    ) -> None:
        self._data, self._blobs, self._search, self._workers = data, blobs, search, workers
        self._clock = clock
        self._batch, self._lease, self._poll = batch, lease_seconds, poll_seconds
        self._backoff_base, self._backoff_max = backoff_base, backoff_max
        self.owner = f"search@{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

    def backoff(self, attempts: int) -> float:
        """Seconds before a job that failed ``attempts + 1`` times runs again."""
        return min(self._backoff_max, self._backoff_base * 2 ** min(attempts, 30))

    async def run(self) -> None:
        """Feed until cancelled; sleeps ``poll_seconds`` whenever no job is due."""
        while True:
            try:
                handled = await self.run_once()
            except Exception:  # the claimed jobs' leases lapse, and they run again
                log.exception("search feeder: a batch failed; trying again")
                handled = 0
            if not handled:
                await asyncio.sleep(self._poll)

    async def run_once(self) -> int:
        """One batch: the number of jobs claimed (0 when none was due)."""
        now = self._clock()
        due = await self._data.jobs.next_due(SEARCH_QUEUE)
        if due is None or due > now:
            return 0
        jobs = await self._data.jobs.claim(SEARCH_QUEUE, self.owner, now, self._lease, self._batch)
        if not jobs:
            return 0
        try:
            await self._apply(jobs)
        except StoreError as exc:  # the engine (or the data role) failed: try again later
            log.warning("search feeder: %s; %d jobs retried", exc, len(jobs))
            later = self._clock()
            retries = (self._data.jobs.retry(j, later + self.backoff(j.attempts)) for j in jobs)
            await asyncio.gather(*retries)  # concurrent: one group commit for the batch
            return len(jobs)
        await asyncio.gather(*(self._data.jobs.complete(job) for job in jobs))
        return len(jobs)

    async def _apply(self, jobs: list[Job]) -> None:
        """Send the batch to the engine, ``SEND_EMAILS`` Emails per write at most (a
        reindexing job names many, each with up to a megabyte of text), then the drops."""
        wanted: dict[str, dict[str, dict[str, str] | None]] = {}
        dropped: list[str] = []
        for job in jobs:
            account = job.payload["account"]
            if job.payload.get("drop"):
                dropped.append(account)
                continue
            emails = wanted.setdefault(account, {})
            parts = job.payload.get("parts") or {}
            for email_id in job.payload["emails"]:
                emails[email_id] = parts.get(email_id) or emails.get(email_id)
        for account, emails in wanted.items():
            if account in dropped:
                continue
            ids = sorted(emails)
            for start in range(0, len(ids), SEND_EMAILS):
                chunk = {e: emails[e] for e in ids[start : start + SEND_EMAILS]}
                await self._send(account, chunk)
        for account in dict.fromkeys(dropped):
            await self._search.drop_account(account)

    async def _send(self, account: str, emails: dict[str, dict[str, str] | None]) -> None:
        """Index the Emails that exist (their text from the job or their message), and
        forget the others."""
        _, docs = await self._data.get(account, "Email", list(emails))
        present = {d["id"]: d for d in docs}
        gone = [(account, e) for e in emails if e not in present]
        documents = []
        for email_id, doc in present.items():
            parts = emails[email_id]
            if parts is None:
                parts = await self._parts_of(doc)
            if parts is None:
                gone.append((account, email_id))
            else:
                documents.append(SearchDocument(account, email_id, parts))
        await self._search.delete(gone)
        await self._search.put(documents)

    async def _parts_of(self, doc: dict[str, Any]) -> dict[str, str] | None:
        octets = await self._blobs.get(doc["blobId"])
        if octets is None:
            return None
        try:
            return await self._workers.run(FEEDER_OWNER, message_parts, octets)
        except BudgetExceeded:
            return None
