"""The embedded search role: SQLite FTS5 over Email headers, bodies and attachment names.

One FTS5 row per Email (rowid = the Email's row in ``mail_email``), written in the same
transaction as the metadata. Searching is Gmail-like: every word must match, each word
matches as a prefix (``smartc`` finds ``smartchoice``), quoted text matches as a phrase,
and case and accents never matter (``unicode61 remove_diacritics 2``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

from jmap.message.search import split_terms

from .mail import MARK_END, MARK_START

COLUMNS = ("from_", "to_", "cc", "bcc", "subject", "body", "attachments")
SUBJECT_COLUMN = COLUMNS.index("subject")
BODY_COLUMN = COLUMNS.index("body")

#: the columns each Email/query text condition searches
FIELD_COLUMNS = {
    "text": COLUMNS,
    "from": ("from_",),
    "to": ("to_",),
    "cc": ("cc",),
    "bcc": ("bcc",),
    "subject": ("subject",),
    "body": ("body", "attachments"),
}

TOKENIZE = "unicode61 remove_diacritics 2"
SCHEMA_SQL = f"""
CREATE VIRTUAL TABLE IF NOT EXISTS mail_fts USING fts5(
    {", ".join(COLUMNS)}, tokenize = '{TOKENIZE}', prefix = '2 4'
);
"""


def write(conn: sqlite3.Connection, rowid: int, search: dict[str, str]) -> None:
    """Index one Email's search text (``parse_message``'s ``search`` fields)."""
    conn.execute(
        f"INSERT OR REPLACE INTO mail_fts (rowid, {', '.join(COLUMNS)}) "
        f"VALUES (?, {', '.join('?' * len(COLUMNS))})",
        (rowid, *(search.get(c.rstrip("_"), "") for c in COLUMNS)),
    )


def delete(conn: sqlite3.Connection, rowid: int) -> None:
    conn.execute("DELETE FROM mail_fts WHERE rowid = ?", (rowid,))


def _quoted(terms: list[tuple[str, bool]]) -> list[str]:
    return ['"' + term.replace('"', '""') + '"' + ("" if phrase else "*") for term, phrase in terms]


def match_expression(field: str, text: str) -> str | None:
    """The FTS5 query for one text condition; None when the text has nothing to search."""
    terms = split_terms(text)
    if not terms:
        return None
    return "{" + " ".join(FIELD_COLUMNS[field]) + "} : (" + " AND ".join(_quoted(terms)) + ")"


def _text_conditions(filter_: dict[str, Any] | None) -> Iterator[tuple[str, str]]:
    """(field, text) of every text condition of a filter outside NOT operators."""
    pending = [filter_] if filter_ else []
    while pending:
        node = pending.pop()
        if "operator" in node:
            if node["operator"] != "NOT":
                pending.extend(reversed(node["conditions"]))
            continue
        for field in FIELD_COLUMNS:
            if isinstance(node.get(field), str):
                yield field, node[field]


def snippet_expression(filter_: dict[str, Any] | None) -> str | None:
    """One FTS5 query matching any text condition of a filter (for highlighting)."""
    parts = [match_expression(field, text) for field, text in _text_conditions(filter_)]
    return " OR ".join(dict.fromkeys(f"({p})" for p in parts if p)) or None


def column_terms_expression(filter_: dict[str, Any] | None, column: str) -> str | None:
    """An FTS5 query, for a table of one column, matching any word or phrase of the filter's
    text conditions that search ``column``."""
    terms = [
        term
        for field, text in _text_conditions(filter_)
        if column in FIELD_COLUMNS[field]
        for term in split_terms(text)
    ]
    return " OR ".join(dict.fromkeys(_quoted(terms))) or None


#: longer texts are not highlighted by FTS5 in one go but piece by piece (``fts_snippet``)
SNIPPET_DIRECT_CHARS = 4096
#: FTS5's highlight() marks every match in one pass (its snippet() compares every match with
#: every other: 0.8 s for one body of 8,000 matches); ``fts_snippet.window`` then keeps the
#: text around the first match
SUBJECT_HIGHLIGHT = f"highlight(mail_fts, {SUBJECT_COLUMN}, '{MARK_START}', '{MARK_END}')"
BODY_HIGHLIGHT = f"highlight(mail_fts, {BODY_COLUMN}, '{MARK_START}', '{MARK_END}')"


def _short_or_whole(column: str, highlighted: str) -> str:
    """The highlighted short text, and the whole of a long one (in two result columns)."""
    return (
        f"CASE WHEN length({column}) <= {SNIPPET_DIRECT_CHARS} THEN {highlighted} END, "
        f"CASE WHEN length({column}) > {SNIPPET_DIRECT_CHARS} THEN {column} END"
    )


#: CROSS JOIN: the MATCH runs once over the index and the matching rows are looked up by
#: rowid; the other way round, SQLite evaluated the whole MATCH expression again for every
#: requested id (500 ids x 255 prefixes: 8 s)
SNIPPET_SQL = (
    f"SELECT e.id, {_short_or_whole('mail_fts.subject', SUBJECT_HIGHLIGHT)}, "
    f"{_short_or_whole('mail_fts.body', BODY_HIGHLIGHT)} "
    "FROM mail_fts CROSS JOIN mail_email e ON e.rowid = mail_fts.rowid "
    "WHERE mail_fts MATCH ? AND e.account_id = ? AND e.id IN ({marks})"
)
