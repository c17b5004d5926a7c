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
from typing import Any

from jmap.store.base import INDEX_ONLY, Document, Transaction
from jmap.store.mail import COUNTERS, MailIndex

EMAIL, THREAD, MAILBOX = "Email", "Thread", "Mailbox"
EMAIL_DELIVERY = "EmailDelivery"
#: what /set create, /import and /copy report of a new Email (RFC 8621 §4.6)
CREATED_PROPERTIES = ("id", "blobId", "threadId", "size")


class EmailWriter:
    def __init__(self, tx: Transaction, mail: MailIndex) -> None:
        self.tx = tx
        self.mail = mail
        self._mailboxes: set[str] = set()
        self._threads: set[str] = set()
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
        metadata = {k: v for k, v in model.items() if k not in ("search", "receivedAt")}
        thread_id = await self._thread_for(model["threadKeys"])
        (email_id,) = await self.tx.new_ids("M", 1)
        doc = {
            **metadata,
            "id": email_id,
            "blobId": blob_id,
            "threadId": thread_id,
            "mailboxIds": mailbox_ids,
            "keywords": keywords,
            "receivedAt": received_at,
            INDEX_ONLY: {"search": model["search"]},
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
        self._mailboxes.update(mailbox_ids)
        self._threads.add(thread_id)
        self._delivered = self._delivered or delivered
        return doc

    async def update(self, current: Document, new: Document, changed: set[str]) -> None:
        """Replace an Email's mutable properties (``mailboxIds``, ``keywords``)."""
        await self.tx.update(EMAIL, new, changed)
        self._mailboxes.update(current["mailboxIds"], new["mailboxIds"])
        self._threads.add(current["threadId"])

    async def destroy(self, current: Document) -> None:
        email_id, thread_id = current["id"], current["threadId"]
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
        self._mailboxes.update(current["mailboxIds"])
        self._threads.add(thread_id)

    async def finish(self) -> None:
        """Record counter changes of every Mailbox that may have changed, and new mail.

        A thread's unread state counts in every Mailbox holding one of its Emails, so the
        Mailboxes of the touched threads' other Emails are included.
        """
        mailboxes = set(self._mailboxes)
        threads = await self.tx.get(THREAD, sorted(self._threads))
        mates = [e for t in threads.values() for e in t["emailIds"]]
        for email in (await self.tx.get(EMAIL, mates)).values():
            mailboxes.update(email["mailboxIds"])
        for doc in (await self.tx.get(MAILBOX, sorted(mailboxes))).values():
            await self.tx.update(MAILBOX, doc, set(COUNTERS))
        if self._delivered:
            await self.tx.update(EMAIL_DELIVERY, {"id": "singleton"}, None)
        self._mailboxes.clear()
        self._threads.clear()
        self._delivered = False
