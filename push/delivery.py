"""Sends PushVerification and StateChange objects to PushSubscription URLs (RFC 8620 §7.2).

Each event is handled by the node that published it (a bus publish hook), so across many
nodes every event is pushed once. For each subscription there is one queue: changes that pile
up while a POST is in flight or waiting to be retried are merged into the next StateChange.
Failures are retried with exponential backoff (honouring Retry-After); a 404 or 410 destroys
the subscription. Nothing but the PushVerification is sent until the client has set the
verification code, and nothing at all after ``expires`` or once the subscription is
destroyed: each POST, retries included, first reads the subscription again (it may have been
destroyed on another node, or while a retry was waiting).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any

from jmap.auth import credential_valid
from jmap.config import Config
from jmap.services import Services

from .bus import StateMap
from .ssrf import check_push_url
from .state import is_hidden, state_change
from .subscription_records import TYPE, is_active, is_expired, is_verified
from .webpush import Outcome, WebPushSender, vapid_audience

log = logging.getLogger("fulmar.push.delivery")

#: seconds the map of accounts to the principals who can see them is trusted
ACCESS_TTL = 30.0
QUEUE_LIMIT = 10_000

Key = tuple[str, str]  # (personal account id, subscription id)


@dataclass
class Outgoing:
    """What is waiting to be sent to one subscription."""

    url: str
    keys: dict[str, str] | None
    verification: dict[str, Any] | None = None
    changed: dict[str, dict[str, str]] = field(default_factory=dict)

    def merge(self, changed: dict[str, dict[str, str]], newer: bool = True) -> None:
        for account_id, types in changed.items():
            mine = self.changed.setdefault(account_id, {})
            for name, state in types.items():
                if newer:
                    mine[name] = state
                else:
                    mine.setdefault(name, state)


class PushDelivery:
    def __init__(self, services: Services, sender: WebPushSender) -> None:
        self.services = services
        self.config: Config = services.config
        self.sender = sender
        self._events: asyncio.Queue[tuple[str, StateMap]] = asyncio.Queue(QUEUE_LIMIT)
        self._outgoing: dict[Key, Outgoing] = {}
        self._workers: dict[Key, asyncio.Task[None]] = {}
        self._verification_sent: set[Key] = set()
        self._access: dict[str, list[tuple[str, str]]] = {}
        self._access_at = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="push-delivery")

    async def close(self) -> None:
        tasks = [t for t in [self._task, *self._workers.values()] if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def on_publish(self, account_id: str, changed: StateMap) -> None:
        """The bus publish hook: queue the event (dropped, with a log line, when overloaded)."""
        try:
            self._events.put_nowait((account_id, changed))
        except asyncio.QueueFull:
            log.warning("push delivery queue full; dropping an event of %s", account_id)

    async def _run(self) -> None:
        while True:
            account_id, changed = await self._events.get()
            try:
                await self._handle(account_id, changed)
            except Exception:
                log.exception("push delivery failed for an event of %s", account_id)

    async def _handle(self, account_id: str, changed: StateMap) -> None:
        if TYPE in changed:
            await self._send_verifications(account_id)
        visible = {t: s for t, s in changed.items() if not is_hidden(t)}
        if not visible:
            return
        now = time.time()
        data = self.services.data
        for principal_id, personal in await self._principals_for(account_id):
            _, docs = await data.get(personal, TYPE, None)
            for doc in docs:
                if doc.get("_principal") != principal_id:
                    continue
                if is_expired(doc, now) or not await credential_valid(
                    data, principal_id, doc.get("_credential", "")
                ):
                    await self._destroy(personal, doc["id"])
                    continue
                if not is_active(doc, now):
                    continue
                types = doc.get("types")
                wanted = {t: s for t, s in visible.items() if types is None or t in types}
                if wanted:
                    self._queue((personal, doc["id"]), doc).merge({account_id: wanted})
                    self._kick((personal, doc["id"]))

    async def _send_verifications(self, personal: str) -> None:
        _, docs = await self.services.data.get(personal, TYPE, None)
        now = time.time()
        unverified = set()
        for doc in docs:
            key = (personal, doc["id"])
            if doc.get("verificationCode") is not None or is_expired(doc, now):
                continue
            unverified.add(key)
            if key in self._verification_sent:
                continue
            self._verification_sent.add(key)
            self._queue(key, doc).verification = {
                "@type": "PushVerification",
                "pushSubscriptionId": doc["id"],
                "verificationCode": doc["_code"],
            }
            self._kick(key)
        self._verification_sent = {
            k for k in self._verification_sent if k[0] != personal or k in unverified
        }

    async def _principals_for(self, account_id: str) -> list[tuple[str, str]]:
        """(principal id, their personal account id) of everyone who can see the account."""
        now = time.monotonic()
        stale = now - self._access_at > ACCESS_TTL
        if stale or (account_id not in self._access and now - self._access_at > 1.0):
            data = self.services.data
            access: dict[str, list[tuple[str, str]]] = {}
            for principal in await data.principals():
                accounts = await data.accounts_for(principal.id)
                personal = next((a.id for a in accounts if a.is_personal), None)
                if personal is None:
                    continue
                for account in accounts:
                    access.setdefault(account.id, []).append((principal.id, personal))
            self._access, self._access_at = access, now
        return self._access.get(account_id, [])

    def _queue(self, key: Key, doc: dict[str, Any]) -> Outgoing:
        outgoing = self._outgoing.get(key)
        if outgoing is None:
            outgoing = self._outgoing[key] = Outgoing(doc["url"], doc.get("keys"))
        return outgoing

    def _kick(self, key: Key) -> None:
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(self._work(key))

    async def _work(self, key: Key) -> None:
        """Send what is queued for one subscription until nothing is left."""
        attempt = 0
        try:
            while True:
                outgoing = self._outgoing.get(key)
                if outgoing is None or not (outgoing.verification or outgoing.changed):
                    break
                doc = await self._subscription(key)
                if doc is None or is_expired(doc, time.time()):
                    self._outgoing.pop(key, None)  # destroyed meanwhile: nothing more is sent
                    break
                if outgoing.verification is not None and is_verified(doc):
                    outgoing.verification = None  # a retry no longer needed
                    continue
                if outgoing.verification is None and not is_verified(doc):
                    self._outgoing.pop(key, None)
                    break
                if outgoing.verification is not None:
                    message, changed = outgoing.verification, None
                    outgoing.verification = None
                else:
                    changed, outgoing.changed = outgoing.changed, {}
                    message = state_change(changed)
                result = await self._post(outgoing, message)
                if result is None:  # the url no longer passes the checks: drop what is queued
                    self._outgoing.pop(key, None)
                    break
                if result.outcome is Outcome.GONE:
                    log.info("push subscription %s is gone (%s)", key[1], result.status)
                    await self._destroy(*key)
                    break
                if result.outcome is not Outcome.RETRY:
                    attempt = 0
                    continue
                attempt += 1
                if attempt > self.config.push_retry_attempts:
                    log.warning("giving up on a push to subscription %s", key[1])
                    attempt = 0
                    continue
                if changed is None:
                    outgoing.verification = message
                else:
                    outgoing.merge(changed, newer=False)
                await asyncio.sleep(self._backoff(attempt, result.retry_after))
        finally:
            self._workers.pop(key, None)
            outgoing = self._outgoing.get(key)
            if outgoing is not None and not (outgoing.verification or outgoing.changed):
                del self._outgoing[key]

    async def _subscription(self, key: Key) -> dict[str, Any] | None:
        """The subscription as stored now (None once destroyed, here or on another node)."""
        personal, subscription_id = key
        _, docs = await self.services.data.get(personal, TYPE, [subscription_id])
        return next((d for d in docs if d["id"] == subscription_id), None)

    async def _post(self, outgoing: Outgoing, message: dict[str, Any]) -> Any:
        reason = await check_push_url(outgoing.url, self.config.push_allow_local_http)
        if reason:
            log.warning("not pushing: %s", reason)
            return None
        try:
            return await self.sender.send(outgoing.url, outgoing.keys, message)
        except Exception:  # one bad subscription must not end its worker with a traceback
            log.exception("cannot push to %s", vapid_audience(outgoing.url))
            return None

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        base = self.config.push_retry_base_seconds * 2 ** (attempt - 1)
        delay = base * (0.5 + random.random() / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, 3600.0))
        return delay

    async def _destroy(self, personal: str, subscription_id: str) -> None:
        self._outgoing.pop((personal, subscription_id), None)
        async with self.services.write(personal) as tx:
            if (await tx.get(TYPE, [subscription_id])).get(subscription_id) is not None:
                await tx.destroy(TYPE, subscription_id)
