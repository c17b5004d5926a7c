"""Snippets of long texts, in time linear in the text.

FTS5's ``snippet()`` scores every match against every other, so a megabyte of one matching
word costs minutes. A long text is instead cut into overlapping pieces of a few thousand
characters, cut at spaces, and the pieces are indexed one at a time in a private in-memory
FTS5 table (same tokenizer) until one matches; ``snippet()`` then runs on that piece only.
A phrase longer than the overlap that straddles two pieces is not found (the text is then
reported as not matching: no snippet, never a wrong one).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

from . import fts
from .fts import TOKENIZE
from .mail import MARK_END, MARK_START, Snippet

PIECE_CHARS = 8192
OVERLAP_CHARS = 1024


def pieces(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of overlapping pieces covering ``text``, cut after a space when there
    is one near the cut so that no word is split."""
    step = PIECE_CHARS - OVERLAP_CHARS
    for start in range(0, len(text), step):
        end = min(len(text), start + PIECE_CHARS)
        if start > 0:
            space = text.find(" ", start, start + OVERLAP_CHARS // 2)
            start = space + 1 if space >= 0 else start
        if end < len(text):
            space = text.rfind(" ", end - OVERLAP_CHARS // 2, end)
            end = space if space > start else end
        yield start, end
        if end == len(text):
            return


def long_snippet(text: str, expression: str, ellipsis: str, tokens: int) -> str | None:
    """The marked snippet of the first piece of ``text`` matching ``expression`` (an FTS5
    query for a table of one column), or None when no piece matches."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(f"CREATE VIRTUAL TABLE piece USING fts5(t, tokenize = '{TOKENIZE}')")
        query = (
            f"SELECT snippet(piece, 0, '{MARK_START}', '{MARK_END}', ?, ?) FROM piece "
            "WHERE piece MATCH ?"
        )
        for start, end in pieces(text):
            conn.execute("REPLACE INTO piece (rowid, t) VALUES (1, ?)", (text[start:end],))
            row = conn.execute(query, (ellipsis, tokens, expression)).fetchone()
            if row and MARK_START in row[0]:
                snippet = row[0]
                if start > 0 and not snippet.startswith(ellipsis):
                    snippet = ellipsis + snippet
                if end < len(text) and not snippet.endswith(ellipsis):
                    snippet += ellipsis
                return snippet
        return None
    finally:
        conn.close()


def _marked(snippet: str | None, whole: str | None, terms: str | None, *args: Any) -> str | None:
    if whole is not None and terms is not None:
        snippet = long_snippet(whole, terms, *args)
    return snippet if snippet and MARK_START in snippet else None


def read_snippets(
    conn: sqlite3.Connection, account_id: str, filter_: dict[str, Any] | None, email_ids: list[str]
) -> dict[str, Snippet]:
    """Snippets of the filter's text conditions in these Emails, from ``mail_fts`` on
    ``conn``; Emails that match none of the conditions are left out."""
    expression = fts.snippet_expression(filter_)
    if expression is None or not email_ids:
        return {}
    sql = fts.SNIPPET_SQL.format(marks=",".join("?" * len(email_ids)))
    subject_terms = fts.column_terms_expression(filter_, "subject")
    body_terms = fts.column_terms_expression(filter_, "body")
    # one row at a time: a long text is only held while its snippet is made
    return {
        email_id: Snippet(
            _marked(subject, whole_subject, subject_terms, "", 64),
            _marked(body, whole_body, body_terms, "…", 24),
        )
        for email_id, subject, whole_subject, body, whole_body in conn.execute(
            sql, (expression, account_id, *email_ids)
        )
    }


def local_snippets(
    account_id: str, documents: dict[str, dict[str, str]], filter_: dict[str, Any] | None
) -> dict[str, Snippet]:
    """``read_snippets`` over search documents held elsewhere (Email id -> text parts, as
    ``search_fields`` makes them): the same FTS5 tables in memory, so the same snippets."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(
            fts.SCHEMA_SQL
            + "CREATE TABLE mail_email (rowid INTEGER PRIMARY KEY, account_id TEXT, id TEXT);"
        )
        for rowid, (email_id, parts) in enumerate(documents.items(), 1):
            conn.execute(
                "INSERT INTO mail_email (rowid, account_id, id) VALUES (?, ?, ?)",
                (rowid, account_id, email_id),
            )
            fts.write(conn, rowid, parts)
        return read_snippets(conn, account_id, filter_, list(documents))
    finally:
        conn.close()
