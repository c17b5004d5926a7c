"""The search role: which Emails match a text condition, and where (snippets).

The mail index answers Email/query; its text conditions (``text``, ``from``, ``to``, ``cc``,
``bcc``, ``subject``, ``body``) are leaves a ``SearchIndex`` can answer as sets of Email
ids, which the mail index combines with the rest of the filter. The embedded default needs
none: SQLite's FTS5 answers them inside the query's one SQL statement (``fts``). With a
search engine configured (``meili``), the engine is fed asynchronously from the durable job
queue (queue ``search``, see ``jmap.search_feed``), so delivery never waits for it.

A leaf matching more than ``max_hits`` Emails raises ``SearchTooBroad``: the id set would
be too large to carry into the query, and a cut set would be a wrong answer (under NOT, or
AND with other conditions). An engine that cannot be reached raises ``SearchUnavailable``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from .base import StoreError
from .mail import Snippet

#: the parts of an Email's search document (``jmap.message.search.search_fields``)
PARTS = ("from", "to", "cc", "bcc", "subject", "body", "attachments")

#: the parts each Email/query text condition searches (as ``fts.FIELD_COLUMNS``)
FIELD_PARTS: dict[str, tuple[str, ...]] = {
    "text": PARTS,
    "from": ("from",),
    "to": ("to",),
    "cc": ("cc",),
    "bcc": ("bcc",),
    "subject": ("subject",),
    "body": ("body", "attachments"),
}

#: the Emails one text condition may match at most with a search engine
MAX_TEXT_HITS = 10_000

#: the job queue that feeds a search engine
SEARCH_QUEUE = "search"


class SearchUnavailable(StoreError):
    """The search engine cannot be reached or failed; the request may be retried."""


class SearchTooBroad(StoreError):
    """A text condition matches more Emails than the search role hands back."""

    def __init__(self, field: str, text: str, limit: int) -> None:
        super().__init__(f"{field!r} {text!r} matches more than {limit} Emails")
        self.field, self.text, self.limit = field, text, limit


@dataclass(frozen=True, slots=True)
class TextLeaf:
    """One text condition of a filter: the property and its search text."""

    field: str
    text: str


@dataclass(frozen=True, slots=True)
class SearchDocument:
    """What the engine indexes of one Email: its text parts (``PARTS``)."""

    account_id: str
    email_id: str
    parts: dict[str, str]


class SearchIndex(Protocol):
    """A search engine holding every account's Emails, each query confined to one account."""

    #: the most ids ``matching`` returns for one leaf
    max_hits: int

    async def matching(self, account_id: str, leaf: TextLeaf) -> set[str] | None:
        """Ids of the account's Emails whose parts match every word (as a prefix) and every
        quoted phrase of the leaf; None when the text has nothing to search. Raises
        ``SearchTooBroad`` past ``max_hits`` and ``SearchUnavailable``."""

    async def snippets(
        self, account_id: str, leaves: list[TextLeaf], email_ids: list[str]
    ) -> dict[str, Snippet]:
        """Highlights of the leaves in these Emails' subjects and bodies (as the embedded
        index makes them); Emails that match no leaf are left out."""

    async def put(self, documents: list[SearchDocument]) -> None:
        """Index (or index again) these Emails; searchable when this returns."""

    async def delete(self, emails: list[tuple[str, str]]) -> None:
        """Forget these (account id, Email id); done when this returns."""

    async def drop_account(self, account_id: str) -> None:
        """Forget every Email of an account."""

    async def close(self) -> None: ...


def _leaves(filter_: dict[str, Any] | None, under_not: bool) -> Iterator[TextLeaf]:
    pending = [filter_] if filter_ else []
    while pending:
        node = pending.pop()
        if "operator" in node:
            if under_not or node["operator"] != "NOT":
                pending.extend(reversed(node["conditions"]))
            continue
        for field in FIELD_PARTS:
            if isinstance(node.get(field), str):
                yield TextLeaf(field, node[field])


def text_leaves(filter_: dict[str, Any] | None) -> list[TextLeaf]:
    """Every distinct text condition of a filter, NOT operators included (for queries)."""
    return list(dict.fromkeys(_leaves(filter_, True)))


#: a search engine's answer for each text leaf of a query (None: nothing to search there)
Hits = dict[TextLeaf, set[str] | None]


async def search_hits(
    search: SearchIndex | None, account_id: str, filter_: dict[str, Any] | None
) -> Hits | None:
    """The engine's id set for each text leaf of ``filter_``; None without an engine (the
    data role's own text index answers in the query)."""
    if search is None:
        return None
    return {leaf: await search.matching(account_id, leaf) for leaf in text_leaves(filter_)}


def snippet_leaves(filter_: dict[str, Any] | None) -> list[TextLeaf]:
    """The text conditions outside NOT operators (what a snippet highlights)."""
    return list(dict.fromkeys(_leaves(filter_, False)))


def feed_payload(
    account_id: str, email_ids: list[str], parts: dict[str, dict[str, str]] | None = None
) -> dict[str, Any]:
    """A job for the search feeder: bring these Emails of the account in step with the
    data role (index those that exist, forget the others). ``parts`` carries the text of
    new Emails; Emails without it are read from their message."""
    payload: dict[str, Any] = {"account": account_id, "emails": email_ids}
    if parts:
        payload["parts"] = parts
    return payload


def drop_payload(account_id: str) -> dict[str, Any]:
    """A job for the search feeder: forget the whole account."""
    return {"account": account_id, "drop": True}
