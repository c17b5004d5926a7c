"""Every Email write of one transaction goes through ``EmailWriter``: it threads new mail,
keeps Thread documents and blob ownership in step, and records the Mailbox counter
changes (as updates of the counters only) and EmailDelivery when it finishes.

Threading: an Email joins the thread of an earlier Email that shares a message id
(Message-ID / In-Reply-To / References) and has the same base subject. Threads are never
merged: when a message links two existing threads it joins the older one. A threadId is
immutable (RFC 8621 §3), and merging would mean destroying and re-creating Emails under new
ids, which costs every client a resync for a cosmetic gain; Gmail does not merge either.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any

from jmap.store.base import INDEX_ONLY, Document, Transaction
from jmap.store.mail import COUNTERS, MailIndex

EMAIL, THREAD, MAILBOX = "Email", "Thread", "Mailbox"
EMAIL_DELIVERY = "EmailDelivery"
TRASH = "trash"
#: what /set create, /import and /copy report of a new Email (RFC 8621 §4.6)
CREATED_PROPERTIES = ("id", "blobId", "threadId", "size")


class EmailWriter:
    def __init__(self, tx: Transaction, mail: MailIndex) -> None:
        self.tx = tx
        self.mail = mail
        # thread id -> (mailboxIds, unread) of its Emails before this writer touched it
        self._before: dict[str, list[_Member]] = {}
        self._delivered = False
        # (message id, base subject) -> thread, for Emails created in this transaction
        self._new_keys: dict[tuple[str, str], str] = {}

    async def _thread_for(self, keys: dict[str, Any]) -> str:
        message_ids, base = keys.get("messageIds") or [], keys.get("baseSubject", "")
        for message_id in message_ids:
            thread_id = self._new_keys.get((message_id, base))
            if thread_id is not None:
                break
        else:
            thread_id = await self.mail.thread_for(self.tx.account_id, message_ids, base)
            if thread_id is None:
                (thread_id,) = await self.tx.new_ids("T", 1)
        for message_id in message_ids:
            self._new_keys.setdefault((message_id, base), thread_id)
        return thread_id

    async def create(
        self,
        model: dict[str, Any],
        blob_id: str,
        mailbox_ids: dict[str, bool],
        keywords: dict[str, bool],
        received_at: str,
        delivered: bool = False,
    ) -> Document:
        """Store a new Email from a ``parse_message`` model; ``delivered`` marks new mail."""
        index_only = ("search", "headerIndex", "receivedAt")
        metadata = {k: v for k, v in model.items() if k not in index_only}
        thread_id = await self._thread_for(model["threadKeys"])
        await self._snapshot(thread_id)
        (email_id,) = await self.tx.new_ids("M", 1)
        doc = {
            **metadata,
            "id": email_id,
            "blobId": blob_id,
            "threadId": thread_id,
            "mailboxIds": mailbox_ids,
            "keywords": keywords,
            "receivedAt": received_at,
            INDEX_ONLY: {"search": model["search"], "headers": model["headerIndex"]},
        }
        await self.tx.create(EMAIL, doc)
        await self.tx.add_blob_refs([(blob_id, email_id)])
        thread = (await self.tx.get(THREAD, [thread_id])).get(thread_id)
        email_ids, times = (thread["emailIds"], thread["receivedAts"]) if thread else ([], [])
        at = bisect.bisect_right(times, received_at)
        members = {
            "id": thread_id,
            "emailIds": [*email_ids[:at], email_id, *email_ids[at:]],
            "receivedAts": [*times[:at], received_at, *times[at:]],
        }
        if thread is None:
            await self.tx.create(THREAD, members)
        else:
            await self.tx.update(THREAD, members, {"emailIds"})
        self._delivered = self._delivered or delivered
        return doc

    async def update(self, current: Document, new: Document, changed: set[str]) -> None:
        """Replace an Email's mutable properties (``mailboxIds``, ``keywords``)."""
        if _member(current) != _member(new):
            await self._snapshot(current["threadId"])
        await self.tx.update(EMAIL, new, changed)

    async def destroy(self, current: Document) -> None:
        email_id, thread_id = current["id"], current["threadId"]
        await self._snapshot(thread_id)
        await self.tx.destroy(EMAIL, email_id)
        await self.tx.remove_blob_refs(email_id)
        thread = (await self.tx.get(THREAD, [thread_id])).get(thread_id)
        if thread is not None:
            at = thread["emailIds"].index(email_id)
            remaining = thread["emailIds"][:at] + thread["emailIds"][at + 1 :]
            if remaining:
                times = thread["receivedAts"][:at] + thread["receivedAts"][at + 1 :]
                await self.tx.update(
                    THREAD, {**thread, "emailIds": remaining, "receivedAts": times}, {"emailIds"}
                )
            else:
                await self.tx.destroy(THREAD, thread_id)

    async def _snapshot(self, thread_id: str) -> None:
        """Remember a thread's Emails as they are before this writer first changes it."""
        if thread_id not in self._before:
            self._before[thread_id] = await self._members(thread_id)

    async def _members(self, thread_id: str) -> list[_Member]:
        thread = (await self.tx.get(THREAD, [thread_id])).get(thread_id)
        emails = await self.tx.get(EMAIL, thread["emailIds"]) if thread else {}
        return [_member(e) for e in emails.values()]

    async def finish(self) -> None:
        """Record the counter changes of every Mailbox whose counters changed, and new mail.

        The four counters are sums over threads, so each touched thread's share of them is
        compared before and after. A Mailbox whose counters stay is not updated: its state
        (and every client's copy) stays too, e.g. when ``$flagged`` is set.
        """
        after = {t: await self._members(t) for t in self._before}
        states = (*self._before.values(), *after.values())
        candidates = {m for members in states for mailboxes, _ in members for m in mailboxes}
        docs = await self.tx.get(MAILBOX, sorted(candidates))
        trash = next((i for i, d in docs.items() if d.get("role") == TRASH), None)
        old = _counters(self._before.values(), trash)
        new = _counters(after.values(), trash)
        for mailbox_id, doc in docs.items():
            if old.get(mailbox_id) != new.get(mailbox_id):
                await self.tx.update(MAILBOX, doc, set(COUNTERS))
        if self._delivered:
            await self.tx.update(EMAIL_DELIVERY, {"id": "singleton"}, None)
        self._before.clear()
        self._delivered = False


#: what an Email adds to the counters: its Mailboxes, and whether it is unread
_Member = tuple[frozenset[str], bool]


def _member(email: Document) -> _Member:
    keywords = email.get("keywords") or {}
    unread = not keywords.get("$seen") and not keywords.get("$draft")
    return frozenset(email["mailboxIds"]), unread


def _counters(threads: Iterable[list[_Member]], trash: str | None) -> dict[str, tuple[int, ...]]:
    """The four counters (RFC 8621 §2) that these threads' Emails add to each Mailbox.

    unreadThreads has the trash rule: the trash counts a thread with an unread Email in the
    trash, any other Mailbox one with an unread Email in some Mailbox other than the trash.
    """
    sums: dict[str, list[int]] = {}
    for members in threads:
        unread_in_trash = any(u and trash in m for m, u in members)
        unread_elsewhere = any(u and any(b != trash for b in m) for m, u in members)
        per: dict[str, list[int]] = {}
        for mailboxes, unread in members:
            for mailbox_id in mailboxes:
                entry = per.setdefault(mailbox_id, [0, 0])
                entry[0] += 1
                entry[1] += unread
        for mailbox_id, (total, unread) in per.items():
            side_unread = unread_in_trash if mailbox_id == trash else unread_elsewhere
            totals = sums.setdefault(mailbox_id, [0, 0, 0, 0])
            for i, value in enumerate((total, unread, 1, int(side_unread))):
                totals[i] += value
    return {m: tuple(v) for m, v in sums.items()}
