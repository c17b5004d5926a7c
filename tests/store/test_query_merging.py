"""Email/query filters compiled to SQL (``sqlite_mail_query``): OR of ``header`` or
``hasKeyword`` conditions and AND of ``notKeyword`` ones are merged into one lookup each
(255 of them cost 255 lookups per Email: 8 s on 10,000 messages), repeats are dropped; the
merged SQL must select what RFC 8621 §4.4.1 says, checked against a direct evaluation."""

from __future__ import annotations

import sqlite3
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from jmap.store import fts
from jmap.store.mail import EmailQuery
from jmap.store.sqlite_mail import SCHEMA_SQL
from jmap.store.sqlite_mail_query import compile_query

EMAILS = {  # id: (keywords, {header name: [folded values]})
    "e1": ({"$seen"}, {"x-tag": ["red"], "subject": ["hello"]}),
    "e2": ({"$seen", "$flagged"}, {"x-tag": ["blue", "green"]}),
    "e3": (set(), {"subject": ["hello world"]}),
    "e4": ({"k1"}, {}),
}


def database() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.executescript(SCHEMA_SQL + fts.SCHEMA_SQL)
    for rowid, (email_id, (keywords, headers)) in enumerate(EMAILS.items(), 1):
        conn.execute(
            "INSERT INTO mail_email (rowid, account_id, id, thread_id, blob_id, received_at,"
            " size, has_attachment, unread, from_key, to_key, subject_key)"
            " VALUES (?, 'a', ?, ?, 'b', ?, 1, 0, 0, '', '', '')",
            (rowid, email_id, email_id, rowid),
        )
        for keyword in keywords:
            conn.execute(
                "INSERT INTO mail_keyword (email_rowid, keyword, account_id) VALUES (?, ?, 'a')",
                (rowid, keyword),
            )
        for name, values in headers.items():
            for value in values:
                conn.execute(
                    "INSERT INTO mail_header (email_rowid, account_id, name, value)"
                    " VALUES (?, 'a', ?, ?)",
                    (rowid, name, value),
                )
    return conn


CONN = database()

keywords = st.sampled_from(["$seen", "$flagged", "k1", "$SEEN", "none"])
conditions = st.one_of(
    st.builds(lambda k: {"hasKeyword": k}, keywords),
    st.builds(lambda k: {"notKeyword": k}, keywords),
    st.builds(
        lambda h: {"header": h},
        st.sampled_from(
            [
                ["X-Tag"],
                ["x-tag", "re"],
                ["X-TAG", "GREEN"],
                ["Subject", "world"],
                ["Subject"],
                ["Nope"],
                ["X-Tag", ""],
            ]
        ),
    ),
    st.builds(lambda k, h: {"hasKeyword": k, "header": h}, keywords, st.just(["X-Tag"])),
)
filters = st.recursive(
    conditions,
    lambda inner: st.builds(
        lambda op, kids: {"operator": op, "conditions": kids},
        st.sampled_from(["AND", "OR", "NOT"]),
        st.lists(inner, max_size=6),
    ),
    max_leaves=30,
)


def holds(node: dict[str, Any], email: tuple[set[str], dict[str, list[str]]]) -> bool:
    have, headers = email
    if "operator" in node:
        results = [holds(c, email) for c in node["conditions"]]
        return {"AND": all, "OR": any, "NOT": lambda r: not any(r)}[node["operator"]](results)
    ok = True
    for prop, value in node.items():
        if prop == "hasKeyword":
            ok &= value.lower() in have
        elif prop == "notKeyword":
            ok &= value.lower() not in have
        else:
            found = headers.get(value[0].lower())
            ok &= bool(found) and (len(value) == 1 or any(value[1].lower() in v for v in found))
    return ok


@settings(max_examples=400, deadline=None)
@given(filters)
def test_merged_filters_select_what_the_filter_says(filter_):
    sql, params = compile_query("a", EmailQuery(filter=filter_), ordered=False)
    got = {row[0] for row in CONN.execute(sql, params)}
    assert got == {i for i, email in EMAILS.items() if holds(filter_, email)}


def test_many_keyword_conditions_are_one_lookup():
    wide = {"operator": "OR", "conditions": [{"hasKeyword": f"k{n}"} for n in range(255)]}
    sql, params = compile_query("a", EmailQuery(filter=wide), ordered=False)
    assert sql.count("mail_keyword") == 1 and len(params) == 2
    narrow = {"operator": "AND", "conditions": [{"notKeyword": "k1"}] * 255}
    sql, params = compile_query("a", EmailQuery(filter=narrow), ordered=False)
    assert sql.count("mail_keyword") == 1 and len(params) == 2
