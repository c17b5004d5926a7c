"""The SearchSnippet/get statement (RFC 8621 §5.1) runs its MATCH once, not once per id.

With the ids driving the join, SQLite evaluated the whole MATCH expression again for each
requested id: 500 ids and an OR of 255 prefixes cost 8 s, 255 two-letter prefixes 19 s.
"""

from __future__ import annotations

import sqlite3

from jmap.store import fts
from jmap.store.fts_snippet import (
    PREVIEW_CHARS,
    REQUEST_BUDGET_CHARS,
    Budget,
    long_snippet,
    window,
)
from jmap.store.sqlite_mail import SCHEMA_SQL


def database() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.executescript(SCHEMA_SQL + fts.SCHEMA_SQL)
    return conn


def test_the_match_drives_the_join():
    conn = database()
    sql = fts.SNIPPET_SQL.format(marks=",".join("?" * 500))
    plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, ("x", "a", *["i"] * 500))]
    assert plan[0].startswith("SCAN mail_fts VIRTUAL TABLE"), plan
    assert any(p.startswith("SEARCH e USING INTEGER PRIMARY KEY") for p in plan), plan


def test_many_matches_are_highlighted_in_one_pass():
    """FTS5's snippet() compares every match with every other (0.8 s for one body of 8,000
    matches); highlight() and a window keep the text around the first match."""
    conn = database()
    conn.execute(
        "INSERT INTO mail_email (rowid, account_id, id, thread_id, blob_id, received_at, size,"
        " has_attachment, unread, from_key, to_key, subject_key)"
        " VALUES (1, 'a', 'e1', 't', 'b', 0, 1, 0, 0, '', '', '')"
    )
    fts.write(conn, 1, {"subject": "a subject", "body": "a " * 2000})
    expression = fts.snippet_expression({"text": "a"})
    rows = conn.execute(fts.SNIPPET_SQL.format(marks="?"), (expression, "a", "e1")).fetchall()
    ((email_id, subject, long_subject, body, long_body),) = rows
    assert (email_id, long_subject, long_body) == ("e1", None, None)
    assert window(subject, "", 64) == "\x01a\x02 subject"
    preview = window(body, "…", PREVIEW_CHARS)
    assert preview.startswith("\x01a\x02 \x01a\x02") and preview.endswith("…")


def test_repeated_conditions_are_one_phrase():
    repeated = {"operator": "OR", "conditions": [{"text": "ab"}] * 200}
    assert fts.snippet_expression(repeated) == fts.snippet_expression({"text": "ab"})


def test_a_request_highlights_a_bounded_number_of_characters():
    """500 bodies of 1 MB matched only at their end cost a minute to highlight piece by
    piece; a request's highlighting stops at its budget and the rest has no snippet."""
    body = "word " * 200_000 + "needle"
    expression = fts.column_terms_expression({"text": "needle"}, "body")
    assert long_snippet(body, expression, "…", PREVIEW_CHARS) is not None
    budget = Budget(REQUEST_BUDGET_CHARS)
    found = [long_snippet(body, expression, "…", PREVIEW_CHARS, budget) for _ in range(3)]
    assert found[0] is not None and found[1:] == [None, None]
    assert 0 <= budget.chars < len(body)
    assert not Budget(10).spend(11) and Budget(10).spend(10)
