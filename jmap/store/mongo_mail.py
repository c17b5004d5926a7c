"""The mail index role on MongoDB: one ``mail_email`` index document per Email, written in
the committing transaction by ``EmailIndexer``, and the queries of ``MailIndex`` over it.

``mail_email`` holds the sort and filter fields, the Mailbox ids and keywords as arrays
(values, never field names), the thread's keywords (``thread_some``/``thread_all``, kept on
every Email of the thread), message ids and base subject for threading, the header index
(``headers``: name and folded Text form) and the search tokens (``mongo_text``).
``mail_text`` keeps the subject and body text for SearchSnippet/get only. Per thread, each
Email also carries the thread's state (rewritten on every Email of a thread a commit
touches): ``thread_some``/``thread_all`` keywords and ``thread_unread_in``, the Mailboxes
holding an unread Email of the thread (the unreadThreads counter's input, whichever
Mailbox is the trash).

Mailbox counters are aggregations over ``mail_email`` of the account (served by the
``(account_id, mailboxes)`` index, computed inside MongoDB; cost grows with the account's
Emails, where the SQLite backend keeps them incrementally).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from jmap.message.search import header_index

from . import fts
from .base import INDEX_ONLY, Document
from .fts_snippet import long_snippet
from .jobs import new_job_id
from .mail import COUNTERS, MARK_START, EmailQuery, Snippet
from .mongo import Commit, MongoDataStore
from .mongo_jobs import job_upsert
from .mongo_mail_query import (
    account_filter,
    known_mailboxes_only,
    long_mailbox_lists,
    needs_pipeline,
    pipeline,
    sort_keys,
)
from .mongo_text import index_fields
from .search import (
    SEARCH_QUEUE,
    SearchIndex,
    drop_payload,
    feed_payload,
    search_hits,
    snippet_leaves,
)
from .sqlite_mail import address_key, is_unread, sort_key
from .sqlite_mail_query import epoch

EMAIL = "Email"
MAILBOX = "Mailbox"
TRASH = "trash"
A = ("account_id", ASCENDING)

#: every index ``account_id``-first; each query shape of ``mongo_mail_query`` has one
INDEXES: list[tuple[str, list[tuple[str, Any]], bool]] = [
    ("mail_email", [A, ("id", ASCENDING)], True),
    ("mail_email", [A, ("received_at", ASCENDING)], False),
    ("mail_email", [A, ("mailboxes", ASCENDING), ("received_at", ASCENDING)], False),
    ("mail_email", [A, ("keywords", ASCENDING)], False),
    ("mail_email", [A, ("thread_some", ASCENDING)], False),
    ("mail_email", [A, ("thread_all", ASCENDING)], False),
    ("mail_email", [A, ("thread_id", ASCENDING)], False),
    ("mail_email", [A, ("blob_id", ASCENDING)], False),
    ("mail_email", [A, ("msgids", ASCENDING), ("base_subject", ASCENDING)], False),
    ("mail_email", [A, ("headers.n", ASCENDING)], False),
    ("mail_email", [A, ("tokens", ASCENDING)], False),
    ("mail_email", [A, ("size", ASCENDING)], False),
    ("mail_email", [A, ("sent_at", ASCENDING)], False),
    ("mail_email", [A, ("from_key", ASCENDING)], False),
    ("mail_email", [A, ("to_key", ASCENDING)], False),
    ("mail_email", [A, ("subject_key", ASCENDING)], False),
    ("mail_text", [A, ("id", ASCENDING)], True),
]
#: the fields a query reads (never the text)
LIGHT = {"id": 1, "thread_id": 1, "keywords": 1, "_id": 0}


class EmailIndexer:
    """Keeps ``mail_email`` and ``mail_text`` in step with the Email documents; with
    ``feed``, the text goes to the ``search`` job queue (in the same transaction) for a
    search engine instead of into ``tokens`` and ``mail_text``."""

    type_name = EMAIL
    indexes = INDEXES
    sharded = ("mail_email", "mail_text")

    def __init__(self, feed: bool = False) -> None:
        self.feed = feed

    async def write(
        self, commit: Commit, account_id: str, object_id: str, doc: Document | None
    ) -> None:
        db, session = commit.db, commit.session
        key = {"account_id": account_id, "id": object_id}
        threads: set[str] = commit.state.setdefault("threads", set())
        old = await db.mail_email.find_one(key, {"thread_id": 1}, session=session)
        if old is not None:
            threads.add(old["thread_id"])
        if doc is None:
            await db.mail_email.delete_one(key, session=session)
            await db.mail_text.delete_one(key, session=session)
            if old is not None and self.feed:
                commit.jobs.append((SEARCH_QUEUE, feed_payload(account_id, [object_id])))
            return
        threads.add(doc["threadId"])
        fields: dict[str, Any] = {
            "mailboxes": sorted(doc["mailboxIds"]),
            "keywords": sorted(doc.get("keywords") or {}),
            "unread": int(is_unread(doc)),
        }
        if old is not None:
            await db.mail_email.update_one(key, {"$set": fields}, session=session)
            return
        search = (doc.get(INDEX_ONLY) or {}).get("search")
        own = {} if self.feed else search or {}
        email, text = await asyncio.to_thread(new_index_docs, key, doc, commit.seq, own)
        await db.mail_email.insert_one(email, session=session)
        if not self.feed:
            await db.mail_text.insert_one(text, session=session)
        elif search is not None:
            commit.jobs.append(
                (SEARCH_QUEUE, feed_payload(account_id, [object_id], {object_id: search}))
            )

    async def finish(self, commit: Commit, account_id: str) -> None:
        """Once per commit: the thread keywords of every thread the commit touched."""
        db, session = commit.db, commit.session
        for thread_id in sorted(commit.state.get("threads", ())):
            where = {"account_id": account_id, "thread_id": thread_id}
            mates = await db.mail_email.find(
                where, {"keywords": 1, "unread": 1, "mailboxes": 1}, session=session
            ).to_list()
            if not mates:
                continue
            thread = thread_fields(mates)
            await db.mail_email.update_many(where, {"$set": thread}, session=session)

    async def drop_account(self, db: AsyncDatabase, session: Any, account_id: str) -> None:
        if self.feed:
            await db.jobs.update_one(
                *job_upsert(SEARCH_QUEUE, new_job_id(), drop_payload(account_id), time.time()),
                upsert=True,
                session=session,
            )
        for collection in ("mail_email", "mail_text"):
            await db[collection].delete_many({"account_id": account_id}, session=session)


def new_index_docs(
    key: dict[str, str], doc: Document, seq: int, search: dict[str, str]
) -> tuple[Document, Document]:
    """The ``mail_email`` and ``mail_text`` documents of a new Email (``key``: account_id and
    id; ``seq``: its place in the account's order of arrival). The thread fields start
    empty: ``thread_fields`` of the whole thread fills them."""
    keys = doc.get("threadKeys") or {}
    email = {
        **key,
        "mailboxes": sorted(doc["mailboxIds"]),
        "keywords": sorted(doc.get("keywords") or {}),
        "unread": int(is_unread(doc)),
        "thread_id": doc["threadId"],
        "blob_id": doc["blobId"],
        "seq": seq,
        "received_at": epoch(doc["receivedAt"]) or 0,
        "sent_at": epoch(doc.get("sentAt")),
        "size": doc["size"],
        "has_attachment": bool(doc.get("hasAttachment")),
        "from_key": address_key(doc.get("from")),
        "to_key": address_key(doc.get("to")),
        "subject_key": sort_key(keys.get("baseSubject", "")),
        "msgids": list(keys.get("messageIds", [])),
        "base_subject": keys.get("baseSubject", ""),
        "headers": [{"n": n, "v": v} for n, v in header_index(doc.get("headers") or [])],
        "thread_some": [],
        "thread_all": [],
        "thread_unread_in": [],
        **index_fields(search),
    }
    text = {**key, "subject": search.get("subject", ""), "body": search.get("body", "")}
    return email, text


def thread_fields(mates: list[Document]) -> Document:
    """The thread's state kept on each of its Emails, from their ``keywords``, ``unread``
    and ``mailboxes``."""
    sets = [set(m.get("keywords") or ()) for m in mates]
    unread_in = {b for m in mates if m["unread"] for b in m["mailboxes"]}
    return {
        "thread_some": sorted(set().union(*sets)),
        "thread_all": sorted(set.intersection(*sets)),
        "thread_unread_in": sorted(unread_in),
    }


class MongoMailIndex:
    """``MailIndex`` answered from ``mail_email`` by MongoDB queries and aggregations; text
    conditions by ``mongo_text``, or by ``search`` when one is given (its id sets)."""

    def __init__(self, store: MongoDataStore, search: SearchIndex | None = None) -> None:
        self._store = store
        self.search = search

    @property
    def _emails(self) -> Any:
        return self._store.db.mail_email

    async def _bounded(self, account_id: str, query: EmailQuery) -> EmailQuery:
        if not long_mailbox_lists(query.filter):
            return query
        known = await self._store._do(
            self._store.db.objects.distinct("id", {"account_id": account_id, "type": MAILBOX})
        )
        return EmailQuery(
            known_mailboxes_only(query.filter, set(known)), query.sort, query.collapse_threads
        )

    async def query(
        self, account_id: str, query: EmailQuery, offset: int = 0, limit: int | None = None
    ) -> tuple[int, list[str]]:
        modseq = await self._store.modseq(account_id, EMAIL)
        query = await self._bounded(account_id, query)
        if limit == 0:
            return modseq, []
        hits = await search_hits(self.search, account_id, query.filter)
        if needs_pipeline(query):
            cursor = await self._store._do(
                self._emails.aggregate(pipeline(account_id, query, offset, limit, hits))
            )
            docs = await self._store._do(cursor.to_list())
        else:
            spec, _ = sort_keys(query)
            where = account_filter(account_id, query, hits)
            cursor = self._emails.find(where, {"id": 1, "_id": 0})
            cursor = cursor.sort(spec).skip(offset)
            if limit is not None:
                cursor = cursor.limit(limit)
            docs = await self._store._do(cursor.to_list())
        return modseq, [d["id"] for d in docs]

    async def count(self, account_id: str, query: EmailQuery) -> int:
        query = await self._bounded(account_id, query)
        where = account_filter(
            account_id, query, await search_hits(self.search, account_id, query.filter)
        )
        if not query.collapse_threads:
            return int(await self._store._do(self._emails.count_documents(where)))
        cursor = await self._store._do(
            self._emails.aggregate(
                [
                    {"$match": where},
                    {"$group": {"_id": "$thread_id"}},
                    {"$group": {"_id": None, "n": {"$sum": 1}}},
                ]
            )
        )
        rows = await self._store._do(cursor.to_list())
        return int(rows[0]["n"]) if rows else 0

    async def _trash(self, account_id: str) -> str | None:
        doc = await self._store._do(
            self._store.db.objects.find_one(
                {"account_id": account_id, "type": MAILBOX, "data.role": TRASH}, {"id": 1}
            )
        )
        return doc["id"] if doc else None

    async def mailbox_counters(self, account_id: str) -> dict[str, dict[str, int]]:
        """The four counters, unreadThreads with RFC 8621 §2's trash rule: the trash sees a
        thread's unread Emails in the trash, every other Mailbox its unread Emails in some
        Mailbox other than the trash."""
        trash = await self._trash(account_id)  # a server-made id: never read as a field path
        match = {"$match": {"account_id": account_id}}
        emails = [
            match,
            {"$unwind": "$mailboxes"},
            {"$group": {"_id": "$mailboxes", "total": {"$sum": 1}, "unread": {"$sum": "$unread"}}},
        ]
        # per (thread, Mailbox): does the thread have an unread Email outside the trash
        # (side 0), in the trash (side 1); ``thread_unread_in`` is kept per thread
        side0 = _if({"$gt": [{"$size": {"$setDifference": ["$thread_unread_in", [trash]]}}, 0]})
        side1 = _if({"$in": [trash, "$thread_unread_in"]})
        threads = [
            match,
            {"$unwind": "$mailboxes"},
            {
                "$group": {
                    # one row per (Mailbox, thread); ids are server-made, without the separator
                    "_id": {"$concat": ["$mailboxes", "\x1f", "$thread_id"]},
                    "m": {"$first": "$mailboxes"},
                    "u0": {"$max": side0},
                    "u1": {"$max": side1},
                }
            },
            {
                "$group": {
                    "_id": "$m",
                    "threads": {"$sum": 1},
                    "unread_threads": {
                        "$sum": {
                            "$cond": {"if": {"$eq": ["$m", trash]}, "then": "$u1", "else": "$u0"}
                        }
                    },
                }
            },
        ]
        counters: dict[str, dict[str, int]] = {}
        for row in await self._aggregate(emails):
            counters[row["_id"]] = dict.fromkeys(COUNTERS, 0)
            counters[row["_id"]].update(totalEmails=row["total"], unreadEmails=row["unread"])
        for row in await self._aggregate(threads):
            entry = counters.setdefault(row["_id"], dict.fromkeys(COUNTERS, 0))
            entry.update(totalThreads=row["threads"], unreadThreads=row["unread_threads"])
        return counters

    async def _aggregate(self, stages: list[dict[str, Any]]) -> list[Document]:
        cursor = await self._store._do(self._emails.aggregate(stages))
        return await self._store._do(cursor.to_list())

    async def emails_in_mailbox(self, account_id: str, mailbox_id: str) -> list[str]:
        docs = await self._store._do(
            self._emails.find(
                {"account_id": account_id, "mailboxes": mailbox_id}, {"id": 1, "_id": 0}
            ).to_list()
        )
        return [d["id"] for d in docs]

    async def thread_for(
        self, account_id: str, message_ids: list[str], base_subject: str
    ) -> str | None:
        if not message_ids:
            return None
        docs = await self._store._do(
            self._emails.find(
                {
                    "account_id": account_id,
                    "msgids": {"$in": list(message_ids)},
                    "base_subject": base_subject,
                },
                {"thread_id": 1},
            )
            .sort("seq", ASCENDING)
            .limit(1)
            .to_list()
        )
        return docs[0]["thread_id"] if docs else None

    async def thread_mates(self, account_id: str, email_ids: list[str]) -> set[str]:
        mates: set[str] = set()
        for start in range(0, len(email_ids), 500):
            chunk = email_ids[start : start + 500]
            threads = await self._store._do(
                self._emails.distinct("thread_id", {"account_id": account_id, "id": {"$in": chunk}})
            )
            if not threads:
                continue
            docs = await self._store._do(
                self._emails.find(
                    {"account_id": account_id, "thread_id": {"$in": threads}}, {"id": 1}
                ).to_list()
            )
            mates.update(d["id"] for d in docs)
        return mates

    async def emails_with_blobs(self, account_id: str, blob_ids: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(blob_ids), 500):
            chunk = blob_ids[start : start + 500]
            if not chunk:
                continue
            docs = await self._store._do(
                self._emails.find(
                    {"account_id": account_id, "blob_id": {"$in": chunk}}, {"blob_id": 1, "id": 1}
                ).to_list()
            )
            found.update((d["blob_id"], d["id"]) for d in docs)
        return found

    async def snippets(
        self, account_id: str, filter_: dict[str, Any] | None, email_ids: list[str]
    ) -> dict[str, Snippet]:
        if self.search is not None:
            return await self.search.snippets(account_id, snippet_leaves(filter_), email_ids)
        if fts.snippet_expression(filter_) is None or not email_ids:
            return {}
        subject_terms = fts.column_terms_expression(filter_, "subject")
        body_terms = fts.column_terms_expression(filter_, "body")
        found: dict[str, Snippet] = {}
        # one text at a time: a long body is only held while its snippet is made
        cursor = self._store.db.mail_text.find(
            {"account_id": account_id, "id": {"$in": list(email_ids)}}
        )
        async for doc in cursor:
            snippet = await asyncio.to_thread(
                _snippet, doc["subject"], doc["body"], subject_terms, body_terms
            )
            if snippet.subject is not None or snippet.preview is not None:
                found[doc["id"]] = snippet
        return found


def _if(condition: Any) -> dict[str, Any]:
    """1 where the expression holds, else 0."""
    return {"$cond": {"if": condition, "then": 1, "else": 0}}


def _snippet(subject: str, body: str, subject_terms: str | None, body_terms: str | None) -> Snippet:
    """Marked subject and body pieces, as the embedded backend makes them (``fts_snippet``)."""

    def marked(text: str, terms: str | None, ellipsis: str, tokens: int) -> str | None:
        if not text or terms is None:
            return None
        snippet = long_snippet(text, terms, ellipsis, tokens)
        return snippet if snippet and MARK_START in snippet else None

    return Snippet(marked(subject, subject_terms, "", 64), marked(body, body_terms, "…", 24))


class MongoMailStore(MongoDataStore):
    """The MongoDB data role with the mail index role in the same database."""

    def __init__(
        self, url: str, database: str | None = None, search: SearchIndex | None = None
    ) -> None:
        super().__init__(url, database, indexers=[EmailIndexer(feed=search is not None)])
        self.mail = MongoMailIndex(self, search)
        #: the search engine fed from the ``search`` queue (None: ``mongo_text``)
        self.search = search

    async def close(self) -> None:
        await super().close()
        if self.search is not None:
            await self.search.close()
