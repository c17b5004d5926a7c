"""The job queue role: durable work any node may take, held by one worker at a time.

Inbound delivery, the outbound queue and search feeding are jobs; named leases
(``take_lease``) serve periodic work that runs on one node at a time. A job is
leased: ``claim`` hands it to one owner until ``lease_until``; if that worker dies, the
lease lapses and another claims it. ``complete`` and ``retry`` only act while the caller
still holds the lease, so a worker whose lease lapsed cannot undo another's progress.
Times are passed in by the caller (never read from a clock here), so tests control them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol

from .base import Document


def new_job_id() -> str:
    return "J" + secrets.token_hex(12)


@dataclass(frozen=True, slots=True)
class Job:
    queue: str
    id: str
    payload: Document
    #: when the job may run (seconds since the epoch)
    due: float
    #: how many times it was handed back with ``retry``
    attempts: int
    #: the claim that holds it (a random token) and until when
    lease: str
    lease_until: float


class JobQueue(Protocol):
    async def enqueue(
        self, queue: str, payload: Document, due: float, job_id: str | None = None
    ) -> str:
        """Add a job, durable when this returns. Enqueueing an id the queue holds already
        changes nothing (so a retried enqueue does not run the work twice)."""

    async def claim(
        self, queue: str, owner: str, now: float, lease_seconds: float, limit: int = 1
    ) -> list[Job]:
        """Lease up to ``limit`` jobs due by ``now`` that nobody holds, earliest first."""

    async def renew(self, job: Job, now: float, lease_seconds: float) -> Job | None:
        """Extend a held lease; None if it lapsed and the job was claimed by another."""

    async def complete(self, job: Job) -> bool:
        """Remove a held job; False if its lease was lost (the job is left alone)."""

    async def retry(self, job: Job, due: float, payload: Document | None = None) -> bool:
        """Hand a held job back to run at ``due``, counting an attempt and optionally
        replacing its payload; False if its lease was lost."""

    async def pending(self, queue: str) -> int:
        """Jobs in the queue, held or not."""

    async def next_due(self, queue: str) -> float | None:
        """When the earliest job of the queue falls due (None: the queue is empty)."""

    async def take_lease(self, name: str, owner: str, now: float, seconds: float) -> bool:
        """Hold the named lease ``name`` for ``owner`` until ``now + seconds`` if it is
        free (never taken, or lapsed by ``now``); False if anyone holds it, ``owner`` too.
        For work that runs once per period across nodes and is no job (housekeeping)."""
