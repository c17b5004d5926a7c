"""The contract of ``jmap.store.meili.MeiliSearchIndex``, run against the Meilisearch
STAND-IN (``test_meili_standin.py``) and, when ``FULMAR_TEST_MEILISEARCH_URL`` is set,
against a real Meilisearch (``test_meili_live.py``).

A module imports these tests and provides the fixture ``meili``: a factory
``meili(max_hits=...) -> MeiliSearchIndex`` on a fresh index. Each test runs its own event
loop (``asyncio.run``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from jmap.store.mail import MARK_END, MARK_START
from jmap.store.meili import MeiliSearchIndex, document_id
from jmap.store.search import SearchDocument, SearchTooBroad, TextLeaf

HOSTILE_ACCOUNT = 'b" OR account_id != "x'
HOSTILE_TEXT = ['" OR account_id = "b', 'hello" OR account_id != "', "\\", '*"\\" hello']


def doc(account: str, email: str, **parts: str) -> SearchDocument:
    return SearchDocument(account, email, parts)


MAIL = [
    doc(
        "a",
        "M1",
        subject="Quarterly smartchoice report",
        body="The numbers are in. Café au lait for everyone.",
        **{"from": "Alice Martin alice@example.com", "to": "bob@example.org"},
    ),
    doc(
        "a",
        "M2",
        subject="Lunch",
        body="quarterly lunch plans, see the attached menu",
        attachments="menu-invoice.pdf",
        **{"from": "carol@example.net"},
    ),
    doc("a", "M3", subject="hello world", body="nothing about reports here"),
    doc("b", "M1", subject="Quarterly smartchoice report", body="bob's own hello copy"),
    doc(HOSTILE_ACCOUNT, "M9", subject="hello from a hostile account", body="hello"),
]


def run(
    meili: Callable[..., MeiliSearchIndex],
    work: Callable[[MeiliSearchIndex], Awaitable[Any]],
    **options: Any,
) -> Any:
    async def main() -> Any:
        index = meili(**options)
        try:
            await index.put(MAIL)
            return await work(index)
        finally:
            await index.close()

    return asyncio.run(main())


def matching(meili, account: str, field: str, text: str, **options: Any) -> set[str] | None:
    return run(meili, lambda i: i.matching(account, TextLeaf(field, text)), **options)


@pytest.mark.parametrize(
    ("field", "text", "expected"),
    [
        ("text", "smartc", {"M1"}),  # a word matches as a prefix
        ("text", "quart rep", {"M1"}),  # every word, each a prefix, in any part
        ("text", "quarterly", {"M1", "M2"}),
        ("text", '"numbers are in"', {"M1"}),  # a phrase
        ("text", '"are numbers"', set()),  # a phrase keeps its order
        ("text", "cafe", {"M1"}),  # accents and case never matter
        ("from", "alice@example.com", {"M1"}),  # an address
        ("from", "martin", {"M1"}),  # a display name
        ("to", "alice", set()),  # from is not to
        ("subject", "lunch", {"M2"}),
        ("body", "invoice", {"M2"}),  # body covers attachment names
        ("subject", "invoice", set()),
        ("text", "nosuchword", set()),
    ],
)
def test_matching_semantics(meili, field, text, expected):
    assert matching(meili, "a", field, text) == expected


def test_text_with_nothing_to_search_is_none(meili):
    assert matching(meili, "a", "text", ' " ... ') is None


@pytest.mark.parametrize("text", HOSTILE_TEXT)
def test_one_account_never_sees_another_s_hits(meili, text):
    """Hostile search text goes in ``q`` only; the account filter is built here."""
    for account in ("a", "b", HOSTILE_ACCOUNT, "nobody"):
        found = matching(meili, account, "text", text) or set()
        mine = {d.email_id for d in MAIL if d.account_id == account}
        assert found <= mine, (account, text, found)
    assert matching(meili, "b", "text", "hello") == {"M1"}
    assert matching(meili, HOSTILE_ACCOUNT, "text", "hello") == {"M9"}
    assert matching(meili, "nobody", "text", "hello") == set()


def test_snippets_stay_in_the_account(meili):
    async def work(index: MeiliSearchIndex) -> Any:
        leaves = [TextLeaf("text", "hello")]
        hostile_ids = ["M1", 'M1"] OR account_id = "b', "M9", "\\"]
        return (
            await index.snippets("a", leaves, hostile_ids),
            await index.snippets("b", leaves, ["M1", "M3"]),
        )

    mine, bobs = run(meili, work)
    assert mine == {}  # a's M1 has no hello; b's M1 and the hostile M9 are not a's
    assert set(bobs) == {"M1"}
    assert bobs["M1"].preview == f"bob's own {MARK_START}hello{MARK_END} copy"


def test_snippets_mark_the_matches(meili):
    async def work(index: MeiliSearchIndex) -> Any:
        leaves = [TextLeaf("subject", "quart"), TextLeaf("body", "lunch")]
        return await index.snippets("a", leaves, ["M1", "M2", "M3", "M404"])

    found = run(meili, work)
    assert set(found) == {"M1", "M2"}
    assert found["M1"].subject == f"{MARK_START}Quarterly{MARK_END} smartchoice report"
    assert found["M1"].preview is None
    assert found["M2"].preview.startswith(f"quarterly {MARK_START}lunch{MARK_END} plans")


def test_delete_and_drop_account(meili):
    async def work(index: MeiliSearchIndex) -> Any:
        await index.delete([("a", "M1"), ("a", "M404")])
        after_delete = await index.matching("a", TextLeaf("text", "quarterly"))
        await index.drop_account("a")
        return (
            after_delete,
            await index.matching("a", TextLeaf("text", "lunch")),
            await index.matching("b", TextLeaf("text", "quarterly")),
        )

    assert run(meili, work) == ({"M2"}, set(), {"M1"})


def test_put_again_replaces_the_text(meili):
    async def work(index: MeiliSearchIndex) -> Any:
        await index.put([doc("a", "M3", subject="renamed")])
        return (
            await index.matching("a", TextLeaf("text", "hello")),
            await index.matching("a", TextLeaf("text", "renamed")),
        )

    assert run(meili, work) == (set(), {"M3"})


def test_a_leaf_past_max_hits_is_too_broad(meili):
    many = [doc("a", f"N{n}", body=f"common word{n % 3}") for n in range(7)]

    async def work(index: MeiliSearchIndex) -> Any:
        await index.put(many)
        narrowed = await index.matching("a", TextLeaf("text", "common word1"))
        with pytest.raises(SearchTooBroad):
            await index.matching("a", TextLeaf("text", "common"))
        return narrowed

    # "common" alone matches 7 > 4; "word1" matches N1 and N4, which narrows it
    assert run(meili, work, max_hits=4) == {"N1", "N4"}


@pytest.mark.parametrize(
    ("account", "email"),
    [
        ("a", "M1"),
        ('a"b', "x\\y"),
        ("a-b", "c"),
        ("a", "b-c"),
        ("ünï", "çødé"),
        ("a" * 300, "b" * 300),
    ],
)
def test_any_ids_round_trip(meili, account, email):
    async def work(index: MeiliSearchIndex) -> Any:
        await index.put([doc(account, email, subject="roundtrip")])
        found = await index.matching(account, TextLeaf("subject", "roundtrip"))
        snippets = await index.snippets(account, [TextLeaf("subject", "round")], [email])
        await index.delete([(account, email)])
        return found, set(snippets), await index.matching(account, TextLeaf("subject", "round"))

    assert run(meili, work) == ({email}, {email}, set())


def test_document_ids_are_distinct_and_legal():
    pairs = [("a-b", "c"), ("a", "b-c"), ("a_2d", "b"), ("a", "_2db"), ("a" * 300, "b" * 300)]
    ids = [document_id(a, e) for a, e in pairs]
    assert len(set(ids)) == len(ids)
    for value in ids:
        assert len(value.encode()) <= 511
        assert all(c.isascii() and (c.isalnum() or c in "-_") for c in value)
