"""The storage roles as small async interfaces.

Nothing above these interfaces knows which engine it talks to. The data role stores
one document per object, keyed by ``(account_id, type, id)``, so a MongoDB backend can
hold each object as one document in a collection sharded by ``account_id``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .jobs import JobQueue

Document = dict[str, Any]

#: A document handed to a transaction may carry input for the backend's indexes under this
#: key (e.g. full text); backends index it and never store it in the document.
INDEX_ONLY = "_index"

#: The account of server-wide records (local domains, aliases, DKIM keys): ordinary objects
#: of a reserved account that every backend creates on open and no principal can access.
SERVER_ACCOUNT = "_server"


class StoreError(Exception):
    """A storage engine failed; the request answers serverFail or serverUnavailable."""


class NotFoundError(StoreError):
    """A principal, account or token named by an operator does not exist."""


class ConflictError(StoreError):
    """A unique name (login address) is taken already."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Someone who logs in: the login name is an email address."""

    id: str
    login: str
    password_hash: str


@dataclass(frozen=True, slots=True)
class Account:
    """A JMAP account: the unit of data, state and sharding."""

    id: str
    name: str
    owner_id: str
    is_personal: bool = True
    is_read_only: bool = False


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What an operator may see of a Bearer token (never the token itself)."""

    hash: str
    login: str
    label: str
    created: float
    expires: float | None
    last_used: float | None


@dataclass(slots=True)
class Changes:
    """What changed for one type between two modseqs of an account."""

    old_modseq: int
    new_modseq: int
    has_more: bool
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    destroyed: list[str] = field(default_factory=list)
    #: union of the property hints of the updates, or None if any update changed anything
    updated_properties: set[str] | None = None


class CannotCalculateChanges(StoreError):
    """The state is older than the change log keeps, or was never handed out."""


class WriteConflict(StoreError):
    """Another writer (another process or node) changed the account while a transaction
    ran; the transaction wrote nothing and the method can run again from the start."""


class Transaction(Protocol):
    """All writes of one method call, applied atomically with one modseq per change.

    Reads see committed state plus the transaction's own pending writes. Transactions of
    one account run one at a time in a process, each seeing the last; different accounts'
    transactions never wait on each other except to flush. Commit raises ``WriteConflict``
    when a writer elsewhere changed the account meanwhile.
    """

    account_id: str
    #: after commit: each type the transaction changed, with its new modseq
    changed_types: dict[str, int]

    async def get(self, type_name: str, ids: list[str]) -> dict[str, Document]: ...

    async def all(self, type_name: str) -> list[Document]: ...

    async def modseq(self, type_name: str) -> int: ...

    async def new_ids(self, prefix: str, count: int) -> list[str]: ...

    async def create(self, type_name: str, doc: Document) -> None: ...

    async def update(
        self, type_name: str, doc: Document, properties: set[str] | None = None
    ) -> None:
        """Replace a document; ``properties`` hints which properties changed (None: any)."""

    async def destroy(self, type_name: str, object_id: str) -> None: ...

    async def add_blob_refs(self, refs: list[tuple[str, str]]) -> None:
        """Record that this account's object ``ref`` holds ``blob_id``: [(blob_id, ref)]."""

    async def remove_blob_refs(self, ref: str) -> None: ...

    async def enqueue(
        self, queue: str, payload: Document, due: float, job_id: str | None = None
    ) -> str:
        """Add a job (see ``jobs.JobQueue``) that commits with this transaction, or not at all."""


class DataStore(Protocol):
    """The data role: principals, accounts, objects, change log, blob ownership, and the
    job queue (``jobs``, see ``jobs.JobQueue``)."""

    jobs: JobQueue

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    # -- principals, accounts, tokens (operators' side) --
    async def create_principal(self, login: str, password_hash: str, account_name: str) -> Account:
        """Create a principal with its personal account, atomically."""

    async def principal_by_login(self, login: str) -> Principal | None: ...

    async def principal(self, principal_id: str) -> Principal | None: ...

    async def principals(self) -> list[Principal]: ...

    async def set_password(self, login: str, password_hash: str) -> None: ...

    async def remove_principal(self, login: str) -> tuple[list[str], list[str]]:
        """Remove a principal and its personal accounts.

        Returns the removed account ids and the blob ids nothing references any more.
        """

    async def accounts_for(self, principal_id: str) -> list[Account]:
        """Every account the principal may access, its own first."""

    async def grant(self, account_id: str, principal_id: str, read_only: bool) -> None: ...

    async def add_token(
        self, token_hash: str, principal_id: str, label: str, expires: float | None
    ) -> None: ...

    async def principal_for_token(self, token_hash: str, now: float) -> Principal | None: ...

    async def remove_token(self, token_hash: str) -> bool:
        """Revoke a token; False if there was no such token."""

    async def tokens(self) -> list[TokenInfo]:
        """Every token, by login then creation time."""

    async def token_used(self, token_hash: str, when: float) -> None:
        """Record that the token was used at ``when``."""

    # -- objects and state, per account --
    def transaction(self, account_id: str) -> AbstractAsyncContextManager[Transaction]: ...

    async def get(
        self, account_id: str, type_name: str, ids: list[str] | None
    ) -> tuple[int, list[Document]]:
        """The type's modseq and the documents (all of them when ``ids`` is None)."""

    async def modseq(self, account_id: str, type_name: str) -> int: ...

    async def changes(
        self, account_id: str, type_name: str, since: int, max_changes: int | None
    ) -> Changes: ...

    async def changed_ids_since(self, account_id: str, type_name: str, since: int) -> set[str]:
        """Ids of objects of the type created, updated or destroyed after ``since``."""

    async def account_modseq(self, account_id: str) -> int: ...

    async def account_modseqs(self, account_ids: list[str]) -> dict[str, int]:
        """The current modseq of each of these accounts (unknown ids are left out)."""

    async def type_states(self, account_id: str) -> dict[str, int]:
        """Every type that ever changed in the account, with its current modseq."""

    async def prune_changes(self, older_than: float) -> int:
        """Forget change-log entries older than a time; later /changes answer
        cannotCalculateChanges for states before them. Returns rows removed."""

    # -- blob ownership --
    async def add_upload(
        self, account_id: str, blob_id: str, size: int, expires: float
    ) -> None: ...

    async def blob_visible(self, account_id: str, blob_id: str, now: float) -> bool: ...

    async def blobs_held(self, blob_ids: list[str]) -> set[str]:
        """Which of these blobs some account still holds (by an upload or an object)."""

    async def expired_uploads(self, now: float) -> list[str]:
        """Drop expired upload records; return blob ids that no record references any more."""

    # -- the blob write journal (the orphan sweep looks only at blobs written recently) --
    async def record_blob_writes(self, blob_ids: list[str], when: float) -> None:
        """Note that these blobs were written at ``when`` (an entry keeps the latest time)."""

    async def blob_writes_before(self, when: float, limit: int) -> list[str]:
        """Up to ``limit`` journalled blobs last written before ``when``, oldest first."""

    async def forget_blob_writes(self, blob_ids: list[str], before: float) -> None:
        """Drop these entries, except those written again at ``before`` or later."""


class BlobStore(Protocol):
    """The blob role: immutable, content-addressed bytes."""

    async def put(self, data: bytes) -> str:
        """Store bytes, return their blob id (idempotent)."""

    async def put_stream(self, chunks: AsyncIterator[bytes], max_size: int) -> tuple[str, int]:
        """Store a stream without holding it in memory; raise BlobTooLarge past max_size."""

    async def get(self, blob_id: str) -> bytes | None: ...

    async def open_stream(self, blob_id: str) -> BlobStream | None:
        """A blob's bytes read a chunk at a time (downloads), or None if there is no such blob."""

    def written_before(self, when: float, batch: int = 1000) -> AsyncIterator[list[str]]:
        """Every blob last written before ``when``, in batches (for the orphan sweep)."""

    async def size(self, blob_id: str) -> int | None: ...

    async def delete(self, blob_id: str, written_before: float | None = None) -> None:
        """Remove a blob, unless it was written (or written again) at ``written_before`` or later.

        Orphans are found in the data role before their bytes are deleted here; a client may
        upload the same bytes in between. Deleting only blobs last written before the search
        began keeps such an upload's bytes.
        """

    async def close(self) -> None: ...


class BlobStream(Protocol):
    """Reads one blob without holding it in memory; the reader must ``close`` it."""

    #: the blob's length in octets
    size: int

    async def read(self, max_octets: int) -> bytes:
        """Up to ``max_octets`` more octets; b"" at the end."""

    async def close(self) -> None: ...


class BlobTooLarge(StoreError):
    """An upload went past the size limit."""


def is_blob_id(value: str) -> bool:
    """Blob ids are ``G`` followed by the 64 hex digits of the content's sha256."""
    return len(value) == 65 and value[0] == "G" and all(c in "0123456789abcdef" for c in value[1:])
