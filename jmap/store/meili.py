"""The search role on Meilisearch, through the async ``meilisearch-python-sdk``.

One index (``fulmar-emails``) holds every account's Emails, one document each: ``id`` (the
account and Email ids, made safe for Meilisearch's id characters), ``account_id``,
``email_id`` and one field per text part (``search.PARTS``). ``account_id`` is filterable
and every request this module sends is filtered by it: the filter is built here, with the
ids quoted and escaped, never from client text. Search text only ever goes in ``q``.

Matching follows the embedded FTS5 (``fts``): Meilisearch takes only the last word of a
query as a prefix, so each word or phrase of a text condition is its own query (one
multi-search request), each word the last of its query; the condition's Emails are those
every query found. Typo tolerance is off (FTS5 has none). A word no more than
``max_hits`` Emails match narrows the others: a word matching more is asked again only
among the Emails the narrower words found. Snippets are made from the stored parts with
the same FTS5 code as the embedded index (``fts_snippet.local_snippets``), off the loop.

Differences that remain: Meilisearch's tokenizer segments some scripts (CJK) differently
from FTS5's ``unicode61``; it considers at most ten words of one phrase, and indexes the
first 65 535 word positions of a field (FTS5: the whole body, up to a million characters).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx2
from meilisearch_python_sdk import AsyncClient
from meilisearch_python_sdk.errors import MeilisearchError
from meilisearch_python_sdk.models.search import SearchParams
from meilisearch_python_sdk.models.settings import (
    MeilisearchSettings,
    Pagination,
    TypoTolerance,
)

from jmap.message.search import split_terms

from .fts_snippet import local_snippets
from .mail import Snippet
from .search import (
    FIELD_PARTS,
    MAX_TEXT_HITS,
    PARTS,
    SearchDocument,
    SearchTooBroad,
    SearchUnavailable,
    TextLeaf,
)

T = TypeVar("T")

INDEX_UID = "fulmar-emails"
#: Meilisearch document ids: ASCII letters, digits, ``-`` and ``_``, at most 511 bytes
MAX_ID_BYTES = 511
#: ids per ``email_id IN [...]`` filter
IDS_PER_FILTER = 1000
#: documents fetched at a time for snippets (each may hold a megabyte of body)
SNIPPET_BATCH = 20
#: how long to wait for Meilisearch to apply a write before calling it failed
TASK_TIMEOUT_MS = 60_000
#: how often to ask whether it has (a write is searchable once it has)
TASK_POLL_MS = 10


def _escape_part(value: str) -> str:
    return "".join(
        c if c.isascii() and c.isalnum() else "".join(f"_{b:02x}" for b in c.encode())
        for c in value
    )


def document_id(account_id: str, email_id: str) -> str:
    """A Meilisearch id for an Email: each id's characters other than ASCII letters and
    digits written ``_xx`` (UTF-8 octets in hex), joined by ``-``, so distinct pairs never
    share an id; past 511 bytes, ``_z`` and the SHA-256 of the pair (``_z`` is no escape)."""
    joined = f"{_escape_part(account_id)}-{_escape_part(email_id)}"
    if len(joined) <= MAX_ID_BYTES:
        return joined
    digest = hashlib.sha256(f"{account_id}\x00{email_id}".encode()).hexdigest()
    return f"_z{digest}"


def quote(value: str) -> str:
    """A string literal of Meilisearch's filter syntax (backslash and quote escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def account_filter(account_id: str, email_ids: list[str] | None = None) -> str:
    """The filter every request carries: this account's documents (and these Emails)."""
    expression = f"account_id = {quote(account_id)}"
    if email_ids is not None:
        expression += f" AND email_id IN [{', '.join(quote(i) for i in email_ids)}]"
    return expression


def _query_text(term: str, phrase: bool) -> str:
    """``q`` for one word (matched as a prefix: it is the query's last word) or phrase."""
    if phrase:
        return '"' + term.replace('"', " ") + '"'
    return term.replace('"', " ")


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class MeiliSearchIndex:
    """``SearchIndex`` on one Meilisearch index."""

    def __init__(
        self,
        url: str,
        key: str | None = None,
        index_uid: str = INDEX_UID,
        max_hits: int = MAX_TEXT_HITS,
        timeout: int = 30,
    ) -> None:
        self.max_hits = max_hits
        logging.getLogger("httpx2").setLevel(logging.WARNING)  # not a line per request
        self._client = AsyncClient(url, key or None, timeout=timeout)
        self._index = self._client.index(index_uid)
        self._uid = index_uid
        self._ready = False
        self._setup_lock = asyncio.Lock()

    async def _call(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run one exchange with Meilisearch; any failure of it is ``SearchUnavailable``."""
        try:
            if not self._ready:
                await self._setup()
            return await work()
        except (MeilisearchError, httpx2.HTTPError, OSError) as exc:
            # the settings are applied again next time: the index may have been lost
            self._ready = False
            raise SearchUnavailable(f"Meilisearch: {exc}") from exc

    async def _setup(self) -> None:
        """Create the index with its settings (idempotent), once per process."""
        async with self._setup_lock:
            if self._ready:
                return
            settings = MeilisearchSettings(
                searchable_attributes=list(PARTS),
                filterable_attributes=["account_id", "email_id"],
                displayed_attributes=["email_id", *PARTS],
                typo_tolerance=TypoTolerance(enabled=False),
                pagination=Pagination(max_total_hits=self.max_hits + 1),
            )
            task = await self._index.update_settings(settings)
            await self._wait(task.task_uid)
            self._ready = True

    async def _wait(self, task_uid: int) -> None:
        result = await self._client.wait_for_task(
            task_uid, timeout_in_ms=TASK_TIMEOUT_MS, interval_in_ms=TASK_POLL_MS
        )
        if result.status != "succeeded":
            raise SearchUnavailable(f"Meilisearch task {task_uid} {result.status}: {result.error}")

    # -- queries --
    def _params(self, account_id: str, q: str, parts: tuple[str, ...], ids: list[str] | None):
        return SearchParams(
            index_uid=self._uid,
            query=q,
            filter=account_filter(account_id, ids),
            limit=self.max_hits + 1,
            attributes_to_retrieve=["email_id"],
            attributes_to_search_on=list(parts),
            matching_strategy="all",
        )

    async def _search(self, queries: list[SearchParams]) -> list[set[str]]:
        results = await self._call(lambda: self._client.multi_search(queries))
        return [{hit["email_id"] for hit in result.hits} for result in results]

    async def matching(self, account_id: str, leaf: TextLeaf) -> set[str] | None:
        terms = split_terms(leaf.text)
        if not terms:
            return None
        parts = FIELD_PARTS[leaf.field]
        texts = list(dict.fromkeys(_query_text(t, p) for t, p in terms))
        found = await self._search([self._params(account_id, q, parts, None) for q in texts])
        narrow = [s for s in found if len(s) <= self.max_hits]
        if not narrow:
            raise SearchTooBroad(leaf.field, leaf.text, self.max_hits)
        candidates = set.intersection(*narrow)
        for q, ids in zip(texts, found, strict=True):
            if len(ids) <= self.max_hits or not candidates:
                continue
            chunks = _chunks(sorted(candidates), IDS_PER_FILTER)
            within = await self._search([self._params(account_id, q, parts, c) for c in chunks])
            candidates = set().union(*within)
        return candidates

    async def snippets(
        self, account_id: str, leaves: list[TextLeaf], email_ids: list[str]
    ) -> dict[str, Snippet]:
        if not leaves or not email_ids:
            return {}
        filter_ = {"operator": "OR", "conditions": [{leaf.field: leaf.text} for leaf in leaves]}
        out: dict[str, Snippet] = {}
        for chunk in _chunks(list(dict.fromkeys(email_ids)), SNIPPET_BATCH):
            docs = await self._call(
                lambda chunk=chunk: self._index.get_documents(
                    filter=account_filter(account_id, chunk),
                    fields=["email_id", *PARTS],
                    limit=len(chunk),
                )
            )
            parts = {
                d["email_id"]: {p: d.get(p) or "" for p in PARTS}
                for d in docs.results
                if d.get("email_id") in chunk
            }
            if parts:
                out.update(await asyncio.to_thread(local_snippets, account_id, parts, filter_))
        return out

    # -- feeding --
    async def put(self, documents: list[SearchDocument]) -> None:
        if not documents:
            return
        body: list[dict[str, Any]] = [
            {
                "id": document_id(d.account_id, d.email_id),
                "account_id": d.account_id,
                "email_id": d.email_id,
                **{p: d.parts.get(p) or "" for p in PARTS},
            }
            for d in documents
        ]
        task = await self._call(lambda: self._index.add_documents(body, primary_key="id"))
        await self._call(lambda: self._wait(task.task_uid))

    async def delete(self, emails: list[tuple[str, str]]) -> None:
        if not emails:
            return
        ids = [document_id(a, e) for a, e in emails]
        task = await self._call(lambda: self._index.delete_documents(ids))
        await self._call(lambda: self._wait(task.task_uid))

    async def drop_account(self, account_id: str) -> None:
        task = await self._call(
            lambda: self._index.delete_documents_by_filter(account_filter(account_id))
        )
        await self._call(lambda: self._wait(task.task_uid))

    async def close(self) -> None:
        await self._client.aclose()
