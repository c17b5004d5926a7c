"""The mail index role: what Email/query, Mailbox counters, threading and snippets ask of
storage, as one small async interface.

Email and Thread objects stay documents in the data role; a backend keeps its own
indexes in step with them (SQLite: side tables and FTS5 written in the committing
transaction, see ``sqlite_mail``) and answers these questions from the indexes, never by
scanning documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from .base import DataStore, StoreError

COUNTERS = ("totalEmails", "unreadEmails", "totalThreads", "unreadThreads")

#: sort properties every backend supports (RFC 8621 §4.4.2 MUST and SHOULD)
SORT_PROPERTIES = (
    "receivedAt",
    "sentAt",
    "size",
    "from",
    "to",
    "subject",
    "hasKeyword",
    "allInThreadHaveKeyword",
    "someInThreadHaveKeyword",
)
KEYWORD_SORTS = frozenset(("hasKeyword", "allInThreadHaveKeyword", "someInThreadHaveKeyword"))
#: text sorts: their keys are kept case- and accent-folded, so only the default collation
#: (RFC 8620 §5.5) can be applied to them; the other sorts compare numbers or booleans
TEXT_SORTS = frozenset(("from", "to", "subject"))
TEXT_SORT_COLLATIONS = frozenset(("i;unicode-casemap",))


@dataclass(frozen=True)
class EmailQuery:
    """An Email/query: a validated JMAP filter tree, comparators, thread collapsing."""

    filter: dict[str, Any] | None
    sort: list[dict[str, Any]] = field(default_factory=list)
    collapse_threads: bool = False


#: where a match starts and ends in a Snippet's text
MARK_START, MARK_END = "\x01", "\x02"


@dataclass(frozen=True)
class Snippet:
    """Highlighted subject and body text; ``MARK_START``/``MARK_END`` around each match."""

    subject: str | None
    preview: str | None


class MailIndex(Protocol):
    async def query(
        self, account_id: str, query: EmailQuery, offset: int = 0, limit: int | None = None
    ) -> tuple[int, list[str]]:
        """The Email state (modseq) and the matching ids in order, from ``offset``."""

    async def count(self, account_id: str, query: EmailQuery) -> int: ...

    async def mailbox_counters(self, account_id: str) -> dict[str, dict[str, int]]:
        """The four counters (``COUNTERS``) of every Mailbox that ever held an Email."""

    async def emails_in_mailbox(self, account_id: str, mailbox_id: str) -> list[str]: ...

    async def thread_for(
        self, account_id: str, message_ids: list[str], base_subject: str
    ) -> str | None:
        """The thread of an Email sharing a message id and the base subject, if any."""

    async def thread_mates(self, account_id: str, email_ids: list[str]) -> set[str]:
        """Every Email of the threads of these Emails (themselves included)."""

    async def emails_with_blobs(self, account_id: str, blob_ids: list[str]) -> dict[str, str]:
        """blob id -> id of an Email whose message is that blob."""

    async def snippets(
        self, account_id: str, filter_: dict[str, Any] | None, email_ids: list[str]
    ) -> dict[str, Snippet]:
        """Highlights of the filter's text conditions in the given Emails."""


class MailStore(DataStore, Protocol):
    """A data store that also answers the mail index role."""

    mail: MailIndex


def mail_index(data: DataStore) -> MailIndex:
    """The mail index of a data store (a store built without one cannot serve mail)."""
    index = getattr(data, "mail", None)
    if index is None:
        raise StoreError("this data store has no mail index")
    return index
