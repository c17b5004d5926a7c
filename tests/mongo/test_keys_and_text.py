"""The MongoDB backend's boundaries: user-chosen keys never become field names, and its
search tokens are the embedded backend's (FTS5 ``unicode61 remove_diacritics 2``)."""

from __future__ import annotations

import asyncio
import sqlite3

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jmap.store.fts import TOKENIZE
from jmap.store.mongo_keys import escape, unescape
from jmap.store.mongo_mail import MongoMailStore
from jmap.store.mongo_text import tokens

keys = st.text(alphabet=st.sampled_from("ab$.%\x00é2F"), max_size=8)
values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=10,
)


def field_names(value) -> list[str]:
    if isinstance(value, dict):
        return [k for k in value] + [n for v in value.values() for n in field_names(v)]
    if isinstance(value, list):
        return [n for v in value for n in field_names(v)]
    return []


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(keys, values, max_size=5))
def test_escaping_round_trips_and_leaves_no_operator_or_path(doc):
    stored = escape(doc)
    assert unescape(stored) == doc
    for name in field_names(stored):
        assert not ({"$", ".", "\x00"} & set(name)), name


def test_keywords_are_stored_escaped_and_read_back_as_given(mongo_nx27017_url, tmp_path):
    url = mongo_nx27017_url.replace("/?", "/keys" + str(abs(hash(str(tmp_path))))[:10] + "?")
    keywords = {"$seen": True, "a.b": True, "%24seen": True, "$x.$y": True}

    async def main():
        store = MongoMailStore(url)
        await store.open()
        try:
            account = (await store.create_principal("k@example.com", "h", "k")).id
            async with store.transaction(account) as tx:
                await tx.create("Thing", {"id": "t", "keywords": keywords})
            raw = await store.db.objects.find_one({"account_id": account, "id": "t"})
            return raw["data"], (await store.get(account, "Thing", ["t"]))[1]
        finally:
            await store.close()

    raw, docs = asyncio.run(main())
    assert docs == [{"id": "t", "keywords": keywords}]
    assert sorted(raw["keywords"]) == ["%24seen", "%24x%2E%24y", "%2524seen", "a%2Eb"]


def fts5_tokens(text: str) -> list[str]:
    """The words SQLite's FTS5 makes of a text, in order."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(f"CREATE VIRTUAL TABLE t USING fts5(x, tokenize = '{TOKENIZE}')")
        conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
        conn.execute("INSERT INTO t (rowid, x) VALUES (1, ?)", (text,))
        return [r[0] for r in conn.execute("SELECT term FROM v ORDER BY offset")]
    finally:
        conn.close()


TEXT = st.text(alphabet=st.sampled_from("aZ09 -_.,'@\n\tÉéèçÅøßḱ日本😀\u0301"), max_size=40)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXT)
def test_tokens_are_the_embedded_backends(text):
    assert tokens(text) == fts5_tokens(text)


def test_tokens_fold_case_and_accents():
    assert tokens("Élodie's CAFÉ-crème, e\u0301t\u00e9") == ["elodie", "s", "cafe", "creme", "ete"]
