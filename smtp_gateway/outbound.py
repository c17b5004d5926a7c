"""The outbound queue worker: sends EmailSubmissions' messages and records each
recipient's fate on the submission.

Any node may run one. It claims due ``outbound`` jobs with a lease (a worker that dies
leaves its jobs to another once the lease lapses), turns each submission's ``undoStatus``
to ``final`` (or drops a canceled one), delivers local recipients with an ``inbound`` job
and the rest over SMTP, grouped per destination: one connection per destination carries
all of a batch's messages, with at most ``smtp_max_per_destination`` connections open to
it. Then, in one transaction per submission, it records each recipient's
``deliveryStatus`` and enqueues the DSNs, and hands the job back for the recipients left
(``retry``) or finishes it. The clock and the lease owner are injected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from jmap.services import Services
from jmap.store.base import StoreError, Transaction
from jmap.store.jobs import Job, new_job_id

from .bounces import bounce_address, is_hard_bounce, suppress, suppressed, verp_secret
from .dsn import RecipientReport, build_dsn
from .hostname import smtp_hostname
from .local import LocalDirectory
from .mail_metrics import MAIL_METRICS, sending_domain
from .mta_sts import MtaSts, PolicyFetcher
from .queues import HELD_BY, HOLD_PREFIX, INBOUND, OUTBOUND, inbound_payload, send_ref
from .retry import next_attempt
from .routing import NoDNS, Resolver, Route, Router
from .smtp_client import ClientSettings, Connection, DeliveryFailed, Reply, temporary
from .sts_cache import DataPolicyCache

log = logging.getLogger("fulmar.smtp.outbound")

SUBMISSION = "EmailSubmission"
#: signs a message for a domain (DKIM); the default leaves it unsigned
Signer = Callable[[bytes, str], Awaitable[bytes]]
LOCAL_REPLY = Reply(250, "2.1.5 Delivered to a local mailbox")
UNKNOWN_LOCAL = Reply(550, "5.1.1 No such local mailbox")
#: the reply of a recipient on the account's suppression list
SUPPRESSED = "550 5.7.1 Not sent: this address is suppressed"
#: the status of a recipient given up on (RFC 3463: delivery time expired)
EXPIRED = "4.4.7"


async def unsigned(message: bytes, domain: str) -> bytes:
    return message


@dataclass
class _Work:
    """One claimed job on its way through a batch."""

    job: Job
    message: bytes
    #: the recipients still to deliver, in envelope order
    pending: list[str]
    #: the envelope sender for remote servers: the sender's address with a bounce token
    bounce_from: str = ""
    replies: dict[str, Reply] = field(default_factory=dict)
    #: recipients of local domains (never suppressed: accounts come and go)
    local_domain: set[str] = field(default_factory=set)
    #: recipients delivered to local accounts: address -> account id
    local: dict[str, str] = field(default_factory=dict)
    remote_mta: dict[str, str] = field(default_factory=dict)

    @property
    def payload(self) -> dict[str, Any]:
        return self.job.payload


@dataclass
class _Plan:
    """What recording one job's attempt will write."""

    work: _Work
    #: the job's payload as it will be handed back
    payload: dict[str, Any]
    first: float
    final: dict[str, tuple[str, Reply]]
    left: list[str]
    dsn_blob: str | None = None
    local_blob: str | None = None


class OutboundWorker:
    def __init__(
        self,
        services: Services,
        resolver: Resolver | None = None,
        sign: Signer = unsigned,
        now: Callable[[], float] = time.time,
        owner: str | None = None,
        router: Router | None = None,
    ) -> None:
        config = services.config
        self.services = services
        self.sign = sign
        self.now = now
        self.owner = owner or f"{socket.gethostname()}:{secrets.token_hex(4)}"
        self.router = router or _router(services, resolver, now)
        self.hostname = smtp_hostname(config)
        self.settings = ClientSettings(
            self.hostname,
            config.smtp_source_address,
            config.smtp_send_timeout_seconds,
            config.smtp_tls_ca_file,
        )
        self._lanes: dict[str, asyncio.Semaphore] = {}
        self._secret: bytes | None = None

    # -- the loop --
    async def run(self, batch: int = 32) -> None:
        """Work the queue until cancelled; idle, look again every ``smtp_queue_poll_seconds``."""
        poll = self.services.config.smtp_queue_poll_seconds
        while True:
            try:
                done = await self.run_once(batch)
            except StoreError as exc:  # the data role is down or closing: try again later
                log.warning("outbound queue: %s; its jobs are retried when leases lapse", exc)
                done = 0
            except Exception:
                log.exception("outbound batch failed; its jobs are retried when leases lapse")
                done = 0
            if not done:
                await asyncio.sleep(poll)

    async def run_once(self, batch: int = 32) -> int:
        """Claim and work one batch; the number of jobs taken. An idle queue costs one read
        (claiming is a write, and a durable one)."""
        due = await self.services.data.jobs.next_due(OUTBOUND)
        if due is None or due > self.now():
            return 0
        jobs = await self.claim(batch)
        if jobs:
            await self.process(jobs)
        return len(jobs)

    async def claim(self, batch: int = 32) -> list[Job]:
        lease = self.services.config.smtp_lease_seconds
        return await self.services.data.jobs.claim(OUTBOUND, self.owner, self.now(), lease, batch)

    async def process(self, jobs: list[Job]) -> None:
        works = await self._start_all(jobs)
        directory = LocalDirectory(self.services.data)
        by_route: dict[str, tuple[Route, list[tuple[_Work, list[str]]]]] = {}
        routes: dict[str, Route] = {}
        for work in works:
            remote: dict[str, list[str]] = {}
            for rcpt in work.pending:
                domain = rcpt.rpartition("@")[2].lower()
                if rcpt in work.replies:
                    continue
                if await directory.is_local(domain):
                    work.local_domain.add(rcpt)
                    account = await directory.account_for(rcpt)
                    if account is None:
                        work.replies[rcpt] = UNKNOWN_LOCAL
                    else:
                        work.local[rcpt] = account
                        work.replies[rcpt] = LOCAL_REPLY
                else:
                    remote.setdefault(domain, []).append(rcpt)
            for domain, rcpts in remote.items():
                route = routes.get(domain) or await self.router.route(domain)
                routes[domain] = route
                by_route.setdefault(route.key, (route, []))[1].append((work, rcpts))
        delivered = asyncio.Event()
        keeper = asyncio.create_task(self._keep_leases(works, delivered))
        try:
            await asyncio.gather(
                *(self._deliver(route, items) for route, items in by_route.values())
            )
        finally:
            # stopped between renewals, never cancelled inside one: a commit it shares
            # with other transactions must not be cut short
            delivered.set()
            await keeper
        by_account: dict[str, list[_Work]] = {}
        for work in works:
            by_account.setdefault(work.payload["accountId"], []).append(work)
        await asyncio.gather(*(self._record(a, group) for a, group in by_account.items()))

    async def _keep_leases(self, works: list[_Work], done: asyncio.Event) -> None:
        """Renew the batch's leases while it is being delivered (slow servers, timeouts),
        so no other node takes a job this one is still sending; until ``done``."""
        lease = self.services.config.smtp_lease_seconds
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), lease / 3)
            if done.is_set():
                return
            for work in works:
                try:
                    renewed = await self.services.data.jobs.renew(work.job, self.now(), lease)
                except StoreError as exc:  # tried again at the next third of the lease
                    log.warning("outbound job %s: lease not renewed: %s", work.job.id, exc)
                    continue
                if renewed is not None:
                    work.job = renewed

    # -- taking jobs --
    async def _start_all(self, jobs: list[Job]) -> list[_Work]:
        by_account: dict[str, list[Job]] = {}
        for job in jobs:
            by_account.setdefault(job.payload["accountId"], []).append(job)
        groups = await asyncio.gather(
            *(self._start(account, group) for account, group in by_account.items())
        )
        return [work for group in groups for work in group]

    async def _start(self, account_id: str, jobs: list[Job]) -> list[_Work]:
        """Take one account's submissions out of ``pending`` (dropping canceled ones) in
        one transaction, and read what is left to send. Recipients already answered stay
        answered: a job run again after a crash sends only to the rest."""
        taken: list[tuple[Job, list[str]]] = []
        canceled: list[Job] = []
        async with self.services.write(account_id) as tx:
            for job in jobs:
                submission_id = job.payload["submissionId"]
                pending = list(job.payload["pending"])
                doc = (await tx.get(SUBMISSION, [submission_id])).get(submission_id)
                if doc is not None and doc["undoStatus"] == "canceled":
                    await tx.remove_blob_refs(send_ref(submission_id))
                    canceled.append(job)
                    continue
                if doc is not None:
                    status = doc.get("deliveryStatus") or {}
                    pending = [r for r in pending if status.get(r, {}).get("delivered") == "queued"]
                    if doc["undoStatus"] == "pending":
                        await tx.update(SUBMISSION, {**doc, "undoStatus": "final"}, {"undoStatus"})
                taken.append((job, pending))
        await asyncio.gather(*(self.services.data.jobs.complete(job) for job in canceled))
        return [await self._work(job, pending) for job, pending in taken]

    async def _work(self, job: Job, pending: list[str]) -> _Work:
        payload = job.payload
        account_id, submission_id = payload["accountId"], payload["submissionId"]
        message = await self.services.blobs.get(payload["blobId"])
        if message is None:
            log.error("outbound job %s: the message blob is gone", job.id)
            message = b""
        mail_from = payload["mailFrom"]
        if message:  # signed for the sender's domain (a null sender's payload names one)
            domain = payload.get("signDomain") or mail_from.rpartition("@")[2]
            message = await self.sign(message, domain.lower())
        if self._secret is None:
            self._secret = await verp_secret(self.services.data)
        bounce_from = bounce_address(self._secret, mail_from, account_id, submission_id)
        work = _Work(job, message, pending, bounce_from)
        if not message:
            work.replies = dict.fromkeys(pending, Reply(554, "5.3.0 The message is lost"))
        config = self.services.config
        blocked = await suppressed(
            self.services.data, account_id, pending, self.now(), config.smtp_suppress_days
        )
        for rcpt, reason in blocked.items():
            work.replies[rcpt] = Reply(550, f"{SUPPRESSED[4:]} ({reason})")
        return work

    def _lane_limit(self, key: str) -> asyncio.Semaphore:
        limit = self._lanes.get(key)
        if limit is None:
            limit = self._lanes[key] = asyncio.Semaphore(
                self.services.config.smtp_max_per_destination
            )
        return limit

    async def _deliver(self, route: Route, items: list[tuple[_Work, list[str]]]) -> None:
        """Every message of the batch for one destination, over at most
        ``smtp_max_per_destination`` connections, each reused for message after message."""
        items = [(w, [r for r in rcpts if r not in w.replies]) for w, rcpts in items]
        queue = deque((w, rcpts) for w, rcpts in items if rcpts)
        if route.refused or route.unavailable:
            reply = (
                Reply(556, f"5.1.10 {route.refused}")
                if route.refused and "null MX" in route.refused
                else Reply(550, f"5.1.2 {route.refused}")
                if route.refused
                else temporary(route.unavailable or "")
            )
            for work, rcpts in queue:
                work.replies.update(dict.fromkeys(rcpts, reply))
            return

        async def lane() -> None:
            async with self._lane_limit(route.key):
                connection: Connection | None = None
                try:
                    while queue:
                        work, rcpts = queue.popleft()
                        try:
                            if connection is None:
                                connection = await Connection.open(route, self.settings)
                            replies = await connection.send(work.bounce_from, rcpts, work.message)
                        except DeliveryFailed as exc:
                            # the destination cannot be reached: so for all that is left
                            work.replies.update(dict.fromkeys(rcpts, exc.reply))
                            while queue:
                                other, others = queue.popleft()
                                other.replies.update(dict.fromkeys(others, exc.reply))
                            return
                        except Exception as exc:  # the connection broke mid-transaction
                            replies = dict.fromkeys(rcpts, temporary(f"connection lost: {exc}"))
                            if connection is not None:
                                await connection.close()
                            connection = None
                        else:
                            for rcpt in rcpts:
                                work.remote_mta[rcpt] = connection.hop
                        work.replies.update(replies)
                finally:
                    if connection is not None:
                        await connection.close()

        lanes = min(len(queue), self.services.config.smtp_max_per_destination)
        await asyncio.gather(*(lane() for _ in range(lanes)))

    def _outcomes(
        self, work: _Work, payload: dict[str, Any], first: float, now: float
    ) -> tuple[dict[str, tuple[str, Reply]], list[str], list[RecipientReport]]:
        """(recipient -> (delivered, reply) for those settled, those left to retry, the
        DSN reports): 5xx fails at once; 4xx is retried until ``smtp_give_up_seconds``
        after the first attempt, with one "delayed" report after ``smtp_delayed_dsn_seconds``."""
        config = self.services.config
        final: dict[str, tuple[str, Reply]] = {}
        left: list[str] = []
        reports: list[RecipientReport] = []
        for rcpt in work.pending:
            reply = work.replies.get(rcpt, temporary("not tried"))
            if reply.outcome == "retry":
                left.append(rcpt)
            else:
                final[rcpt] = (reply.outcome, reply)
                if reply.outcome == "no":
                    reports.append(self._report(work, rcpt, "failed", reply.status))
        if left and now - first >= config.smtp_give_up_seconds:
            for rcpt in left:
                final[rcpt] = ("no", work.replies.get(rcpt, temporary("not tried")))
                reports.append(self._report(work, rcpt, "failed", EXPIRED))
            left = []
        late = now - first >= config.smtp_delayed_dsn_seconds
        if left and late and not payload.get("delayedSent"):
            until = first + config.smtp_give_up_seconds
            for rcpt in left:
                status = work.replies.get(rcpt, temporary("")).status
                reports.append(self._report(work, rcpt, "delayed", status, until))
            payload["delayedSent"] = True
        return final, left, reports

    async def _record(self, account_id: str, works: list[_Work]) -> None:
        """One transaction for the account's batch: each recipient's status, the local
        deliveries, the DSNs, the suppressions; then each job is finished or handed back
        for the recipients left."""
        now = self.now()
        plans = [await self._plan(work, now) for work in works]
        async with self.services.write(account_id) as tx:
            for plan in plans:
                await self._apply(tx, plan, now)
        for plan in plans:
            _count(plan)
        await asyncio.gather(*(self._hand_back(plan, now) for plan in plans))

    async def _plan(self, work: _Work, now: float) -> _Plan:
        payload = dict(work.job.payload)
        first = payload.get("firstAttempt") or now
        final, left, reports = self._outcomes(work, payload, first, now)
        plan = _Plan(work, payload, first, final, left)
        if reports and payload["mailFrom"]:  # never a DSN to the null sender (RFC 3461 §6.2)
            dsn = build_dsn(
                reporting_mta=self.hostname,
                sender=payload["mailFrom"],
                original=work.message,
                reports=reports,
                arrival=first,
                now=now,
            )
            plan.dsn_blob = await self.services.blobs.put(dsn)
        if work.local:
            plan.local_blob = await self.services.blobs.put(work.message)
        return plan

    async def _apply(self, tx: Transaction, plan: _Plan, now: float) -> None:
        work, payload = plan.work, plan.payload
        account_id, submission_id = payload["accountId"], payload["submissionId"]
        doc = (await tx.get(SUBMISSION, [submission_id])).get(submission_id)
        if doc is not None:
            status = {k: dict(v) for k, v in (doc.get("deliveryStatus") or {}).items()}
            for rcpt in work.pending:
                entry = status.setdefault(rcpt, {"displayed": "unknown"})
                delivered, reply = plan.final.get(rcpt, ("queued", work.replies.get(rcpt)))
                entry["delivered"] = delivered
                if reply is not None:
                    entry["smtpReply"] = reply.line
            new = {**doc, "deliveryStatus": status}
            if plan.dsn_blob is not None:
                new["dsnBlobIds"] = [*doc.get("dsnBlobIds", []), plan.dsn_blob]
                await tx.add_blob_refs([(plan.dsn_blob, submission_id)])
            if new != doc:
                await tx.update(SUBMISSION, new, {"deliveryStatus", "dsnBlobIds"})
        if self.services.config.smtp_suppress_days:
            for rcpt, (delivered, reply) in plan.final.items():
                hard = delivered == "no" and is_hard_bounce(reply.status)
                if hard and rcpt not in work.local_domain:
                    await suppress(tx, rcpt, reply.line, now)
        if plan.local_blob is not None:
            # held by its inbound job, in this account: delivery drops the hold (heldBy)
            recipients = list(work.local.items())
            inbound = inbound_payload(plan.local_blob, payload["mailFrom"], recipients, now)
            await _enqueue_held(tx, {**inbound, HELD_BY: account_id}, now)
        if plan.dsn_blob is not None:
            # RFC 3464 §2 / RFC 5321 §4.5.5: a DSN's envelope sender is null; this account
            # is its first recipient, which holds a queued message
            dsn_to = [(payload["mailFrom"], account_id)]
            await _enqueue_held(tx, inbound_payload(plan.dsn_blob, "", dsn_to, now), now)
        if not plan.left:
            await tx.remove_blob_refs(send_ref(submission_id))

    async def _hand_back(self, plan: _Plan, now: float) -> None:
        jobs, job = self.services.data.jobs, plan.work.job
        if plan.left:
            plan.payload.update(pending=plan.left, firstAttempt=plan.first)
            give_up = self.services.config.smtp_give_up_seconds
            due = next_attempt(plan.first, job.attempts + 1, now, give_up)
            done = await jobs.retry(job, due, plan.payload)
        else:
            done = await jobs.complete(job)
        if not done:
            log.warning("outbound job %s: lease lost before it was handed back", job.id)

    @staticmethod
    def _report(
        work: _Work, rcpt: str, action: str, status: str, until: float | None = None
    ) -> RecipientReport:
        reply = work.replies.get(rcpt)
        return RecipientReport(
            rcpt,
            action,
            status,
            diagnostic=reply.line if reply is not None else None,
            remote_mta=work.remote_mta.get(rcpt),
            will_retry_until=until,
        )


async def _enqueue_held(tx: Transaction, payload: dict[str, Any], now: float) -> None:
    """An inbound job whose blob this account holds (``inbound:<job id>``) until it is
    delivered: nothing else holds the copy (the submission may be gone, or never was)."""
    job_id = new_job_id()
    await tx.add_blob_refs([(payload["blobId"], HOLD_PREFIX + job_id)])
    await tx.enqueue(INBOUND, payload, now, job_id)


def _count(plan: _Plan) -> None:
    """The attempt's recipients in the metrics (once its record is committed)."""
    payload = plan.work.payload
    domain = sending_domain(payload["mailFrom"] or payload.get("signDomain", ""))
    if plan.left:
        MAIL_METRICS.outbound.labels(domain, "deferred").inc(len(plan.left))
    for delivered, reply in plan.final.values():
        if delivered == "yes":
            MAIL_METRICS.outbound.labels(domain, "delivered").inc()
        elif reply.line.startswith(SUPPRESSED):
            MAIL_METRICS.outbound.labels(domain, "suppressed").inc()
        else:
            MAIL_METRICS.outbound.labels(domain, "failed").inc()
            MAIL_METRICS.bounced(domain, reply.status)


def _router(services: Services, resolver: Resolver | None, now: Callable[[], float]) -> Router:
    """Routes, relay, then MX; MTA-STS when the resolver answers TXT queries too, its
    policies cached in the data role."""
    config = services.config
    resolver = resolver or NoDNS()
    sts = None
    if hasattr(resolver, "txt"):
        fetch = PolicyFetcher(resolver, config.smtp_tls_ca_file)  # type: ignore[arg-type]
        cache = DataPolicyCache(services.data)
        sts = MtaSts(resolver, fetch, now, cache)  # type: ignore[arg-type]
    return Router(config.smtp_routes, config.smtp_relay, resolver, sts=sts)
