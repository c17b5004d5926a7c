"""The mail index role on SQLite: side tables kept by an ``Indexer`` in the committing
transaction, and the queries of ``MailIndex`` over them.

Tables (every Email has one ``mail_email`` row; the others hang off its rowid):

- ``mail_email``: sort and filter columns; ``mail_mailbox``, ``mail_keyword``: membership;
- ``mail_msgid``: message ids and base subject, for threading;
- ``mail_header``: every header field's lower-cased name and folded Text form, for the
  ``header`` filter;
- ``mail_counts``, ``mail_mailbox_thread``, ``mail_thread_unread``: the Mailbox counters,
  maintained incrementally so reading them is one indexed lookup;
- ``mail_trash``: which Mailbox has the role trash (kept by ``MailboxIndexer``), for the
  unreadThreads rule of RFC 8621 §2;
- ``mail_fts`` (``fts.py``): full text, unless a search engine is configured: then each
  new or destroyed Email is instead a job on the ``search`` queue, inserted in the same
  transaction, that the search feeder (``jmap.search_feed``) hands to the engine.
"""

from __future__ import annotations

import sqlite3
import time
import unicodedata
from pathlib import Path
from typing import Any

from jmap.message.search import header_index

from . import fts
from .base import INDEX_ONLY, Document
from .fts_snippet import read_snippets
from .jobs import new_job_id
from .mail import COUNTERS, EmailQuery, Snippet
from .search import (
    SEARCH_QUEUE,
    SearchIndex,
    drop_payload,
    feed_payload,
    search_hits,
    snippet_leaves,
)
from .sqlite import SqliteDataStore
from .sqlite_jobs import insert_job
from .sqlite_mail_query import compile_query, epoch

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS mail_email (
    rowid INTEGER PRIMARY KEY,
    account_id TEXT NOT NULL,
    id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    blob_id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    sent_at INTEGER,
    size INTEGER NOT NULL,
    has_attachment INTEGER NOT NULL,
    unread INTEGER NOT NULL,
    from_key TEXT NOT NULL,
    to_key TEXT NOT NULL,
    subject_key TEXT NOT NULL,
    UNIQUE (account_id, id)
);
CREATE INDEX IF NOT EXISTS mail_email_received ON mail_email (account_id, received_at);
CREATE INDEX IF NOT EXISTS mail_email_thread ON mail_email (account_id, thread_id);
CREATE INDEX IF NOT EXISTS mail_email_blob ON mail_email (account_id, blob_id);
CREATE TABLE IF NOT EXISTS mail_mailbox (
    email_rowid INTEGER NOT NULL,
    mailbox_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    PRIMARY KEY (email_rowid, mailbox_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mail_mailbox_by_mailbox
    ON mail_mailbox (account_id, mailbox_id, email_rowid);
CREATE TABLE IF NOT EXISTS mail_keyword (
    email_rowid INTEGER NOT NULL,
    keyword TEXT NOT NULL,
    account_id TEXT NOT NULL,
    PRIMARY KEY (email_rowid, keyword)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mail_keyword_by_keyword
    ON mail_keyword (account_id, keyword, email_rowid);
CREATE TABLE IF NOT EXISTS mail_msgid (
    account_id TEXT NOT NULL,
    msgid TEXT NOT NULL,
    base_subject TEXT NOT NULL,
    email_rowid INTEGER NOT NULL,
    thread_id TEXT NOT NULL,
    PRIMARY KEY (account_id, msgid, base_subject, email_rowid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mail_msgid_by_email ON mail_msgid (email_rowid);
CREATE TABLE IF NOT EXISTS mail_counts (
    account_id TEXT NOT NULL,
    mailbox_id TEXT NOT NULL,
    total INTEGER NOT NULL DEFAULT 0,
    unread INTEGER NOT NULL DEFAULT 0,
    threads INTEGER NOT NULL DEFAULT 0,
    unread_threads INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, mailbox_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mail_mailbox_thread (
    account_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    mailbox_id TEXT NOT NULL,
    emails INTEGER NOT NULL,
    PRIMARY KEY (account_id, thread_id, mailbox_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mail_thread_unread (
    account_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    trash INTEGER NOT NULL,
    unread INTEGER NOT NULL,
    PRIMARY KEY (account_id, thread_id, trash)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mail_trash (
    account_id TEXT PRIMARY KEY,
    mailbox_id TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mail_header (
    email_rowid INTEGER NOT NULL,
    account_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS mail_header_by_email ON mail_header (email_rowid);
CREATE INDEX IF NOT EXISTS mail_header_by_name ON mail_header (account_id, name, email_rowid);
"""

EMAIL = "Email"
MAILBOX = "Mailbox"
TRASH = "trash"


def sort_key(text: str) -> str:
    """Strings sort without regard to case or accents (``élodie`` next to ``eve``)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def address_key(addresses: list[dict[str, Any]] | None) -> str:
    """RFC 8621 §4.4.2 from/to sort key: name, else email, of the first address."""
    if not addresses:
        return ""
    first = addresses[0]
    return sort_key(first.get("name") or first.get("email") or "")


def is_unread(doc: Document) -> bool:
    keywords = doc.get("keywords") or {}
    return not keywords.get("$seen") and not keywords.get("$draft")


class EmailIndexer:
    """Keeps the mail side tables and full text in step with the Email documents; with
    ``feed``, the full text goes to the ``search`` job queue instead of FTS5."""

    type_name = EMAIL
    schema_sql = SCHEMA_SQL + fts.SCHEMA_SQL

    def __init__(self, feed: bool = False) -> None:
        self.feed = feed

    def _enqueue(self, conn: sqlite3.Connection, payload: Document) -> None:
        insert_job(conn, SEARCH_QUEUE, new_job_id(), payload, time.time())

    def write(
        self, conn: sqlite3.Connection, account_id: str, object_id: str, doc: Document | None
    ) -> None:
        row = conn.execute(
            "SELECT rowid, thread_id, unread FROM mail_email WHERE account_id = ? AND id = ?",
            (account_id, object_id),
        ).fetchone()
        trash = _trash_id(conn, account_id)
        if row is not None:
            rowid, thread_id, unread = row
            mailboxes = [
                r[0]
                for r in conn.execute(
                    "SELECT mailbox_id FROM mail_mailbox WHERE email_rowid = ?", (rowid,)
                )
            ]
            _uncount(conn, account_id, thread_id, bool(unread), mailboxes, trash)
            if doc is None:
                for table in ("mail_mailbox", "mail_keyword", "mail_msgid", "mail_header"):
                    conn.execute(f"DELETE FROM {table} WHERE email_rowid = ?", (rowid,))
                conn.execute("DELETE FROM mail_email WHERE rowid = ?", (rowid,))
                if self.feed:
                    self._enqueue(conn, feed_payload(account_id, [object_id]))
                else:
                    fts.delete(conn, rowid)
                return
        if doc is None:
            return
        unread = is_unread(doc)
        values = (
            doc["threadId"],
            doc["blobId"],
            epoch(doc["receivedAt"]) or 0,
            epoch(doc.get("sentAt")),
            doc["size"],
            int(bool(doc.get("hasAttachment"))),
            int(unread),
            address_key(doc.get("from")),
            address_key(doc.get("to")),
            sort_key((doc.get("threadKeys") or {}).get("baseSubject", "")),
        )
        if row is None:
            rowid = conn.execute(
                "INSERT INTO mail_email (account_id, id, thread_id, blob_id, received_at, "
                "sent_at, size, has_attachment, unread, from_key, to_key, subject_key) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (account_id, object_id, *values),
            ).lastrowid
            assert rowid is not None
            keys = doc.get("threadKeys") or {}
            conn.executemany(
                "INSERT OR IGNORE INTO mail_msgid VALUES (?, ?, ?, ?, ?)",
                [
                    (account_id, m, keys.get("baseSubject", ""), rowid, doc["threadId"])
                    for m in keys.get("messageIds", [])
                ],
            )
            _write_headers(conn, account_id, rowid, doc)
        else:
            conn.execute("UPDATE mail_email SET unread = ? WHERE rowid = ?", (int(unread), rowid))
            conn.execute("DELETE FROM mail_mailbox WHERE email_rowid = ?", (rowid,))
            conn.execute("DELETE FROM mail_keyword WHERE email_rowid = ?", (rowid,))
        conn.executemany(
            "INSERT INTO mail_mailbox (email_rowid, mailbox_id, account_id) VALUES (?, ?, ?)",
            [(rowid, m, account_id) for m in doc["mailboxIds"]],
        )
        conn.executemany(
            "INSERT INTO mail_keyword (email_rowid, keyword, account_id) VALUES (?, ?, ?)",
            [(rowid, k, account_id) for k in doc.get("keywords") or {}],
        )
        _count(conn, account_id, doc["threadId"], unread, list(doc["mailboxIds"]), trash)
        search = (doc.get(INDEX_ONLY) or {}).get("search")
        if search is not None and self.feed:
            self._enqueue(conn, feed_payload(account_id, [object_id], {object_id: search}))
        elif search is not None:
            fts.write(conn, rowid, search)

    def drop_account(self, conn: sqlite3.Connection, account_id: str) -> None:
        if self.feed:
            self._enqueue(conn, drop_payload(account_id))
        conn.execute(
            "DELETE FROM mail_fts WHERE rowid IN "
            "(SELECT rowid FROM mail_email WHERE account_id = ?)",
            (account_id,),
        )
        for table in (
            "mail_email",
            "mail_mailbox",
            "mail_keyword",
            "mail_msgid",
            "mail_header",
            "mail_counts",
            "mail_mailbox_thread",
            "mail_thread_unread",
        ):
            conn.execute(f"DELETE FROM {table} WHERE account_id = ?", (account_id,))


def _write_headers(conn: sqlite3.Connection, account_id: str, rowid: int, doc: Document) -> None:
    """The header index rows, as the parser made them (in the worker pool: decoding 1,000
    fields of encoded words took seconds of the single writer); made here only for a
    document written without them."""
    index = (doc.get(INDEX_ONLY) or {}).get("headers")
    if index is None:
        index = header_index(doc.get("headers") or [])
    conn.executemany(
        "INSERT INTO mail_header (email_rowid, account_id, name, value) VALUES (?, ?, ?, ?)",
        [(rowid, account_id, n, v) for n, v in index],
    )


# -- Mailbox counters --
# unreadThreads follows RFC 8621 §2 with its trash rule: each Mailbox looks at one side of
# a thread. The trash (side 1) sees the unread Emails in the trash; every other Mailbox
# (side 0) sees the unread Emails in at least one Mailbox other than the trash. An Email in
# both counts on both sides. ``mail_thread_unread`` keeps, per thread and side, how many
# unread Emails that side has (rows exist only while that is above zero).
# Invariant: unread_threads(M) = #{T : a mail_mailbox_thread row (M, T) exists and
# mail_thread_unread(T, side(M)) > 0}. Each step below keeps it, so the order of steps matters.


def _trash_id(conn: sqlite3.Connection, account_id: str) -> str | None:
    row = conn.execute(
        "SELECT mailbox_id FROM mail_trash WHERE account_id = ?", (account_id,)
    ).fetchone()
    return row[0] if row else None


def _sides(unread: bool, mailboxes: list[str], trash: str | None) -> list[int]:
    """The sides whose unread count an Email is part of: 0 the other Mailboxes, 1 the trash."""
    if not unread:
        return []
    return [
        side
        for side, present in ((0, any(m != trash for m in mailboxes)), (1, trash in mailboxes))
        if present
    ]


def _on_side(side: int, column: str) -> str:
    """SQL true when the Mailbox in ``column`` is on ``side``; takes the trash id."""
    return f"{column} = ?" if side else f"{column} IS NOT ?"


def _thread_unread(conn: sqlite3.Connection, account_id: str, thread_id: str) -> dict[int, int]:
    return dict(
        conn.execute(
            "SELECT trash, unread FROM mail_thread_unread WHERE account_id = ? AND thread_id = ?",
            (account_id, thread_id),
        ).fetchall()
    )


def _shift_unread_threads(
    conn: sqlite3.Connection,
    account_id: str,
    thread_id: str,
    side: int,
    trash: str | None,
    delta: int,
) -> None:
    conn.execute(
        "UPDATE mail_counts SET unread_threads = unread_threads + ? WHERE account_id = ? AND "
        "mailbox_id IN (SELECT mailbox_id FROM mail_mailbox_thread "
        f"WHERE account_id = ? AND thread_id = ? AND {_on_side(side, 'mailbox_id')})",
        (delta, account_id, account_id, thread_id, trash),
    )


def _uncount(
    conn: sqlite3.Connection,
    account_id: str,
    thread_id: str,
    unread: bool,
    mailboxes: list[str],
    trash: str | None,
) -> None:
    thread_unread = _thread_unread(conn, account_id, thread_id)
    for mailbox_id in mailboxes:
        (left,) = conn.execute(
            "UPDATE mail_mailbox_thread SET emails = emails - 1 "
            "WHERE account_id = ? AND thread_id = ? AND mailbox_id = ? RETURNING emails",
            (account_id, thread_id, mailbox_id),
        ).fetchone()
        gone = left == 0
        if gone:
            conn.execute(
                "DELETE FROM mail_mailbox_thread "
                "WHERE account_id = ? AND thread_id = ? AND mailbox_id = ?",
                (account_id, thread_id, mailbox_id),
            )
        was_unread = thread_unread.get(int(mailbox_id == trash), 0) > 0
        conn.execute(
            "UPDATE mail_counts SET total = total - 1, unread = unread - ?, "
            "threads = threads - ?, unread_threads = unread_threads - ? "
            "WHERE account_id = ? AND mailbox_id = ?",
            (int(unread), int(gone), int(gone and was_unread), account_id, mailbox_id),
        )
    for side in _sides(unread, mailboxes, trash):
        if thread_unread[side] == 1:
            conn.execute(
                "DELETE FROM mail_thread_unread "
                "WHERE account_id = ? AND thread_id = ? AND trash = ?",
                (account_id, thread_id, side),
            )
            _shift_unread_threads(conn, account_id, thread_id, side, trash, -1)
        else:
            conn.execute(
                "UPDATE mail_thread_unread SET unread = unread - 1 "
                "WHERE account_id = ? AND thread_id = ? AND trash = ?",
                (account_id, thread_id, side),
            )


def _count(
    conn: sqlite3.Connection,
    account_id: str,
    thread_id: str,
    unread: bool,
    mailboxes: list[str],
    trash: str | None,
) -> None:
    for side in _sides(unread, mailboxes, trash):
        (side_unread,) = conn.execute(
            "INSERT INTO mail_thread_unread (account_id, thread_id, trash, unread) "
            "VALUES (?, ?, ?, 1) ON CONFLICT (account_id, thread_id, trash) "
            "DO UPDATE SET unread = unread + 1 RETURNING unread",
            (account_id, thread_id, side),
        ).fetchone()
        if side_unread == 1:
            _shift_unread_threads(conn, account_id, thread_id, side, trash, 1)
    thread_unread = _thread_unread(conn, account_id, thread_id)
    for mailbox_id in mailboxes:
        (emails,) = conn.execute(
            "INSERT INTO mail_mailbox_thread (account_id, thread_id, mailbox_id, emails) "
            "VALUES (?, ?, ?, 1) ON CONFLICT (account_id, thread_id, mailbox_id) "
            "DO UPDATE SET emails = emails + 1 RETURNING emails",
            (account_id, thread_id, mailbox_id),
        ).fetchone()
        new = emails == 1
        is_unread = thread_unread.get(int(mailbox_id == trash), 0) > 0
        conn.execute(
            "INSERT INTO mail_counts (account_id, mailbox_id) VALUES (?, ?) "
            "ON CONFLICT (account_id, mailbox_id) DO NOTHING",
            (account_id, mailbox_id),
        )
        conn.execute(
            "UPDATE mail_counts SET total = total + 1, unread = unread + ?, "
            "threads = threads + ?, unread_threads = unread_threads + ? "
            "WHERE account_id = ? AND mailbox_id = ?",
            (int(unread), int(new), int(new and is_unread), account_id, mailbox_id),
        )


def _recount_unread_threads(conn: sqlite3.Connection, account_id: str, trash: str | None) -> None:
    """Rebuild both sides of every thread and every Mailbox's unreadThreads for a new trash;
    the other counters do not depend on it. One pass over the account's unread Emails."""
    conn.execute("DELETE FROM mail_thread_unread WHERE account_id = ?", (account_id,))
    for side in (0, 1):
        conn.execute(
            "INSERT INTO mail_thread_unread (account_id, thread_id, trash, unread) "
            "SELECT e.account_id, e.thread_id, ?, COUNT(*) FROM mail_email e "
            "WHERE e.account_id = ? AND e.unread = 1 AND EXISTS (SELECT 1 FROM mail_mailbox m "
            f"WHERE m.email_rowid = e.rowid AND {_on_side(side, 'm.mailbox_id')}) "
            "GROUP BY e.thread_id",
            (side, account_id, trash),
        )
    conn.execute("UPDATE mail_counts SET unread_threads = 0 WHERE account_id = ?", (account_id,))
    conn.execute(
        "UPDATE mail_counts SET unread_threads = c.n FROM "
        "(SELECT mt.mailbox_id, COUNT(*) AS n FROM mail_mailbox_thread mt "
        "JOIN mail_thread_unread tu ON tu.account_id = mt.account_id "
        "AND tu.thread_id = mt.thread_id AND tu.trash = (mt.mailbox_id IS ?) "
        "WHERE mt.account_id = ? GROUP BY mt.mailbox_id) AS c "
        "WHERE mail_counts.account_id = ? AND mail_counts.mailbox_id = c.mailbox_id",
        (trash, account_id, account_id),
    )


class MailboxIndexer:
    """Keeps ``mail_trash`` naming the Mailbox whose role is trash. When the role moves (set
    on another Mailbox, removed, or the trash destroyed), every unreadThreads is recounted:
    the only full recount, and only then."""

    type_name = MAILBOX
    schema_sql = ""

    def write(
        self, conn: sqlite3.Connection, account_id: str, object_id: str, doc: Document | None
    ) -> None:
        trash = _trash_id(conn, account_id)
        is_trash = doc is not None and doc.get("role") == TRASH
        if is_trash and trash != object_id:
            conn.execute(
                "INSERT INTO mail_trash (account_id, mailbox_id) VALUES (?, ?) "
                "ON CONFLICT (account_id) DO UPDATE SET mailbox_id = excluded.mailbox_id",
                (account_id, object_id),
            )
            _recount_unread_threads(conn, account_id, object_id)
        elif not is_trash and trash == object_id:
            conn.execute("DELETE FROM mail_trash WHERE account_id = ?", (account_id,))
            _recount_unread_threads(conn, account_id, None)

    def drop_account(self, conn: sqlite3.Connection, account_id: str) -> None:
        conn.execute("DELETE FROM mail_trash WHERE account_id = ?", (account_id,))


def _in_list(values: list[str]) -> str:
    return ",".join("?" * len(values))


class SqliteMailIndex:
    """``MailIndex`` answered from the side tables, on the store's reader connections; text
    conditions by FTS5 in the same statement, or by ``search`` when one is given."""

    def __init__(self, store: SqliteDataStore, search: SearchIndex | None = None) -> None:
        self._store = store
        self.search = search

    async def query(
        self, account_id: str, query: EmailQuery, offset: int = 0, limit: int | None = None
    ) -> tuple[int, list[str]]:
        sql, params = compile_query(
            account_id, query, hits=await search_hits(self.search, account_id, query.filter)
        )
        sql += " LIMIT ? OFFSET ?"
        params += [-1 if limit is None else limit, offset]

        def run(conn: sqlite3.Connection) -> tuple[int, list[str]]:
            row = conn.execute(
                "SELECT modseq FROM type_state WHERE account_id = ? AND type = ?",
                (account_id, EMAIL),
            ).fetchone()
            return (row[0] if row else 0), [r[0] for r in conn.execute(sql, params)]

        return await self._store.read(run)

    async def count(self, account_id: str, query: EmailQuery) -> int:
        hits = await search_hits(self.search, account_id, query.filter)
        sql, params = compile_query(account_id, query, ordered=False, hits=hits)
        return await self._store.read(
            lambda c: c.execute(f"SELECT COUNT(*) FROM ({sql})", params).fetchone()[0]
        )

    async def mailbox_counters(self, account_id: str) -> dict[str, dict[str, int]]:
        rows = await self._store.read(
            lambda c: c.execute(
                "SELECT mailbox_id, total, unread, threads, unread_threads FROM mail_counts "
                "WHERE account_id = ?",
                (account_id,),
            ).fetchall()
        )
        return {r[0]: dict(zip(COUNTERS, r[1:], strict=True)) for r in rows}

    async def emails_in_mailbox(self, account_id: str, mailbox_id: str) -> list[str]:
        rows = await self._store.read(
            lambda c: c.execute(
                "SELECT e.id FROM mail_mailbox m JOIN mail_email e ON e.rowid = m.email_rowid "
                "WHERE m.account_id = ? AND m.mailbox_id = ?",
                (account_id, mailbox_id),
            ).fetchall()
        )
        return [r[0] for r in rows]

    async def thread_for(
        self, account_id: str, message_ids: list[str], base_subject: str
    ) -> str | None:
        if not message_ids:
            return None
        row = await self._store.read(
            lambda c: c.execute(
                "SELECT thread_id FROM mail_msgid WHERE account_id = ? AND base_subject = ? "
                f"AND msgid IN ({_in_list(message_ids)}) ORDER BY email_rowid LIMIT 1",
                (account_id, base_subject, *message_ids),
            ).fetchone()
        )
        return row[0] if row else None

    async def thread_mates(self, account_id: str, email_ids: list[str]) -> set[str]:
        mates: set[str] = set()
        for start in range(0, len(email_ids), 500):
            chunk = email_ids[start : start + 500]
            rows = await self._store.read(
                lambda c, chunk=chunk: c.execute(
                    "SELECT m.id FROM mail_email m WHERE m.account_id = ? AND m.thread_id IN "
                    "(SELECT e.thread_id FROM mail_email e WHERE e.account_id = ? "
                    f"AND e.id IN ({_in_list(chunk)}))",
                    (account_id, account_id, *chunk),
                ).fetchall()
            )
            mates.update(r[0] for r in rows)
        return mates

    async def emails_with_blobs(self, account_id: str, blob_ids: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(blob_ids), 500):
            chunk = blob_ids[start : start + 500]
            rows = await self._store.read(
                lambda c, chunk=chunk: c.execute(
                    "SELECT blob_id, id FROM mail_email WHERE account_id = ? "
                    f"AND blob_id IN ({_in_list(chunk)})",
                    (account_id, *chunk),
                ).fetchall()
            )
            found.update(dict(rows))
        return found

    async def snippets(
        self, account_id: str, filter_: dict[str, Any] | None, email_ids: list[str]
    ) -> dict[str, Snippet]:
        if self.search is not None:
            return await self.search.snippets(account_id, snippet_leaves(filter_), email_ids)
        return await self._store.read(lambda c: read_snippets(c, account_id, filter_, email_ids))


class SqliteMailStore(SqliteDataStore):
    """The SQLite data role with the mail index role on the same database."""

    def __init__(self, path: Path, readers: int = 4, search: SearchIndex | None = None) -> None:
        indexers = [EmailIndexer(feed=search is not None), MailboxIndexer()]
        super().__init__(path, readers, indexers=indexers)
        self.mail = SqliteMailIndex(self, search)
        #: the search engine fed from the ``search`` queue (None: FTS5 in the database)
        self.search = search

    async def close(self) -> None:
        await super().close()
        if self.search is not None:
            await self.search.close()
