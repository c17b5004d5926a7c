"""The embedded search role: SQLite FTS5 over Email headers, bodies and attachment names.

One FTS5 row per Email (rowid = the Email's row in ``mail_email``), written in the same
transaction as the metadata. Searching is Gmail-like: every word must match, each word
matches as a prefix (``smartc`` finds ``smartchoice``), quoted text matches as a phrase,
and case and accents never matter (``unicode61 remove_diacritics 2``).
"""

from __future__ import annotations

import sqlite3
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

SCHEMA_SQL = f"""
CREATE VIRTUAL TABLE IF NOT EXISTS mail_fts USING fts5(
    {", ".join(COLUMNS)}, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 4'
);
"""

# Where snippet() marks a match; escaped to ``<mark>`` by the caller after HTML escaping.


def write(conn: sqlite3.Connection, rowid: int, search: dict[str, str]) -> None:
    """Index one Email's search text (``parse_message``'s ``search`` fields)."""
    conn.execute(
        f"INSERT OR REPLACE INTO mail_fts (rowid, {', '.join(COLUMNS)}) "
        f"VALUES (?, {', '.join('?' * len(COLUMNS))})",
        (rowid, *(search.get(c.rstrip("_"), "") for c in COLUMNS)),
    )


def delete(conn: sqlite3.Connection, rowid: int) -> None:
    conn.execute("DELETE FROM mail_fts WHERE rowid = ?", (rowid,))


def match_expression(field: str, text: str) -> str | None:
    """The FTS5 query for one text condition; None when the text has nothing to search."""
    terms = split_terms(text)
    if not terms:
        return None
    quoted = [
        '"' + term.replace('"', '""') + '"' + ("" if phrase else "*") for term, phrase in terms
    ]
    return "{" + " ".join(FIELD_COLUMNS[field]) + "} : (" + " AND ".join(quoted) + ")"


def snippet_expression(filter_: dict[str, Any] | None) -> str | None:
    """One FTS5 query matching any text condition of a filter (for highlighting)."""
    parts: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        if "operator" in node:
            if node["operator"] != "NOT":
                for child in node["conditions"]:
                    walk(child)
            return
        for field in FIELD_COLUMNS:
            if isinstance(node.get(field), str):
                expression = match_expression(field, node[field])
                if expression:
                    parts.append(f"({expression})")

    if filter_:
        walk(filter_)
    return " OR ".join(parts) or None


SUBJECT_SNIPPET = f"snippet(mail_fts, {SUBJECT_COLUMN}, '{MARK_START}', '{MARK_END}', '', 64)"
BODY_SNIPPET = f"snippet(mail_fts, {BODY_COLUMN}, '{MARK_START}', '{MARK_END}', '…', 24)"
SNIPPET_SQL = (
    f"SELECT e.id, {SUBJECT_SNIPPET}, {BODY_SNIPPET} "
    "FROM mail_fts JOIN mail_email e ON e.rowid = mail_fts.rowid "
    "WHERE mail_fts MATCH ? AND e.account_id = ? AND e.id IN ({marks})"
)
