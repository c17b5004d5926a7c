"""Snippets in time linear in the text: the text around the first match.

FTS5's ``snippet()`` scores every match against every other, so a text of many matches
costs seconds. Instead FTS5's ``highlight()`` marks every match (one pass) and ``window``
keeps the text from a little before the first match. A long text is cut into overlapping
pieces of a few thousand characters, cut at spaces, and the pieces are indexed one at a
time in a private in-memory FTS5 table (same tokenizer) until one matches. A phrase longer
than the overlap that straddles two pieces is not found (the text is then reported as not
matching: no snippet, never a wrong one).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

from . import fts
from .fts import TOKENIZE
from .mail import MARK_END, MARK_START, Snippet

PIECE_CHARS = 4096
OVERLAP_CHARS = 512
#: what one SearchSnippet/get may highlight in all (about 1 s at worst, see ``Budget``):
#: texts past it get no snippet (null, RFC 8621 §5.1)
REQUEST_BUDGET_CHARS = 2_000_000
#: characters kept before the first match (then cut after a space)
CONTEXT_CHARS = 40
#: characters of marked text kept from the first match: more than the 255 octets of a
#: preview (RFC 8621 §5.1) can show, and about FTS5's 64-token subject snippets
PREVIEW_CHARS = 320
SUBJECT_CHARS = 512


def window(marked: str | None, ellipsis: str, chars: int) -> str | None:
    """The marked text from shortly before its first match to ``chars`` characters after
    it, with ``ellipsis`` where it was cut; None when nothing is marked.

    A cut may fall inside a mark: the reader (``methods.snippet_html.unmark``) closes it.
    """
    first = marked.find(MARK_START) if marked else -1
    if marked is None or first < 0:
        return None
    start = 0
    if first > CONTEXT_CHARS:
        space = marked.find(" ", first - CONTEXT_CHARS, first)
        start = space + 1 if space >= 0 else first
    end = min(len(marked), first + chars)
    head = ellipsis if start > 0 else ""
    tail = ellipsis if end < len(marked) else ""
    return head + marked[start:end] + tail


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


class Budget:
    """Characters of text one request may still highlight: a matching text costs about
    0.4 µs a character (0.1 µs without matches), so 500 bodies of 1 MB cost a minute."""

    def __init__(self, chars: int) -> None:
        self.chars = chars

    def spend(self, chars: int) -> bool:
        """Take ``chars``; False (and nothing taken) when fewer are left."""
        if chars > self.chars:
            return False
        self.chars -= chars
        return True


def long_snippet(
    text: str, expression: str, ellipsis: str, chars: int, budget: Budget | None = None
) -> str | None:
    """The marked window (see ``window``) of the first piece of ``text`` matching
    ``expression`` (an FTS5 query for a table of one column), or None when none matches
    or the budget runs out first."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(f"CREATE VIRTUAL TABLE piece USING fts5(t, tokenize = '{TOKENIZE}')")
        query = (
            f"SELECT highlight(piece, 0, '{MARK_START}', '{MARK_END}') FROM piece "
            "WHERE piece MATCH ?"
        )
        for start, end in pieces(text):
            if budget is not None and not budget.spend(end - start):
                return None
            conn.execute("REPLACE INTO piece (rowid, t) VALUES (1, ?)", (text[start:end],))
            row = conn.execute(query, (expression,)).fetchone()
            snippet = window(row[0], ellipsis, chars) if row else None
            if snippet is not None:
                if start > 0 and not snippet.startswith(ellipsis):
                    snippet = ellipsis + snippet
                if end < len(text) and not snippet.endswith(ellipsis):
                    snippet += ellipsis
                return snippet
        return None
    finally:
        conn.close()


def read_snippets(
    conn: sqlite3.Connection, account_id: str, filter_: dict[str, Any] | None, email_ids: list[str]
) -> dict[str, Snippet]:
    """Snippets of the filter's text conditions in these Emails, from ``mail_fts`` on
    ``conn``; Emails that match none of the conditions are left out. One request highlights
    at most ``REQUEST_BUDGET_CHARS``: Emails past it get no snippet (null)."""
    expression = fts.snippet_expression(filter_)
    if expression is None or not email_ids:
        return {}
    sql = fts.SNIPPET_SQL.format(marks=",".join("?" * len(email_ids)))
    subject_terms = fts.column_terms_expression(filter_, "subject")
    body_terms = fts.column_terms_expression(filter_, "body")
    budget = Budget(REQUEST_BUDGET_CHARS)

    def marked(short: str | None, whole: str | None, terms: str | None, *args: Any):
        if whole is not None:
            return long_snippet(whole, terms, *args, budget) if terms is not None else None
        if short is None or not budget.spend(len(short)):
            return None
        return window(short, *args)

    # one row at a time: a long text is only held while its snippet is made, and once the
    # budget is spent no further row is highlighted
    found = {}
    for email_id, subject, whole_subject, body, whole_body in conn.execute(
        sql, (expression, account_id, *email_ids)
    ):
        found[email_id] = Snippet(
            marked(subject, whole_subject, subject_terms, "", SUBJECT_CHARS),
            marked(body, whole_body, body_terms, "…", PREVIEW_CHARS),
        )
        if budget.chars <= 0:
            break
    return found


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
