"""What every data backend's ``Transaction`` does alike: it buffers one method call's
writes, lets the call's reads see them, and numbers the changes for the change log when it
commits; and how change-log entries fold into a /changes answer. A backend subclasses
``WriteBuffer`` and supplies how committed documents are read (``_load``, ``_load_all``,
``modseq``) and how the buffer is written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import Changes, Document
from .jobs import new_job_id

CREATED, UPDATED, DESTROYED = 1, 2, 3


@dataclass(frozen=True, slots=True)
class Change:
    """One change-log entry: a created, updated or destroyed object at its modseq."""

    type_name: str
    object_id: str
    kind: int
    modseq: int
    #: for an update, the changed properties joined with "," (None: any may have changed)
    properties: str | None


def base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rem = divmod(number, 36)
        out = digits[rem] + out
        if number == 0:
            return out


class WriteBuffer:
    def __init__(self, account_id: str, start_modseq: int, next_id: int) -> None:
        self.account_id = account_id
        #: the account's modseq and id counter when the transaction began (checked at commit)
        self._start = (start_modseq, next_id)
        self._pending: dict[tuple[str, str], Document | None] = {}
        # (type, id) -> [first kind, last kind, property hint or None for "any"]
        self._changes: dict[tuple[str, str], list[Any]] = {}
        self._blob_refs: list[tuple[str, str]] = []
        self._removed_refs: list[str] = []
        self._jobs: list[tuple[str, str, Document, float]] = []
        self._next_id = next_id
        #: after commit: type name -> its new modseq, for state-change events
        self.changed_types: dict[str, int] = {}

    def has_writes(self) -> bool:
        return bool(
            self._pending
            or self._blob_refs
            or self._removed_refs
            or self._jobs
            or self._next_id != self._start[1]
        )

    def numbered_changes(self) -> tuple[list[Change], dict[str, int], int]:
        """The change-log entries (one modseq each, from the starting modseq on), each
        type's new modseq, and the account's. An object created and destroyed in the same
        transaction leaves no trace."""
        modseq = self._start[0]
        entries: list[Change] = []
        type_modseqs: dict[str, int] = {}
        for (type_name, object_id), (first, last, props) in self._changes.items():
            if first == CREATED and last == DESTROYED:
                continue
            kind = CREATED if first == CREATED else last
            modseq += 1
            type_modseqs[type_name] = modseq
            hint = ",".join(sorted(props)) if kind == UPDATED and props is not None else None
            entries.append(Change(type_name, object_id, kind, modseq, hint))
        return entries, type_modseqs, modseq

    # -- reads: committed documents (the backend's) under the pending writes --
    async def _load(self, type_name: str, ids: list[str]) -> list[Document]:
        raise NotImplementedError

    async def _load_all(self, type_name: str) -> list[Document]:
        raise NotImplementedError

    async def get(self, type_name: str, ids: list[str]) -> dict[str, Document]:
        found: dict[str, Document] = {}
        missing = []
        for object_id in ids:
            key = (type_name, object_id)
            if key in self._pending:
                doc = self._pending[key]
                if doc is not None:
                    found[object_id] = doc
            else:
                missing.append(object_id)
        if missing:
            for doc in await self._load(type_name, missing):
                found[doc["id"]] = doc
        return found

    async def all(self, type_name: str) -> list[Document]:
        docs = {doc["id"]: doc for doc in await self._load_all(type_name)}
        for (pending_type, object_id), doc in self._pending.items():
            if pending_type != type_name:
                continue
            if doc is None:
                docs.pop(object_id, None)
            else:
                docs[object_id] = doc
        return list(docs.values())

    # -- writes --
    async def new_ids(self, prefix: str, count: int) -> list[str]:
        ids = [prefix + base36(self._next_id + i) for i in range(count)]
        self._next_id += count
        return ids

    def _record(self, type_name: str, object_id: str, kind: int, props: set[str] | None) -> None:
        key = (type_name, object_id)
        entry = self._changes.get(key)
        if entry is None:
            self._changes[key] = [kind, kind, props]
            return
        entry[1] = kind
        if kind == UPDATED:
            entry[2] = None if entry[2] is None or props is None else entry[2] | props

    async def create(self, type_name: str, doc: Document) -> None:
        self._pending[(type_name, doc["id"])] = doc
        self._record(type_name, doc["id"], CREATED, None)

    async def update(
        self, type_name: str, doc: Document, properties: set[str] | None = None
    ) -> None:
        self._pending[(type_name, doc["id"])] = doc
        self._record(type_name, doc["id"], UPDATED, properties)

    async def destroy(self, type_name: str, object_id: str) -> None:
        self._pending[(type_name, object_id)] = None
        self._record(type_name, object_id, DESTROYED, None)

    async def add_blob_refs(self, refs: list[tuple[str, str]]) -> None:
        self._blob_refs.extend(refs)

    async def remove_blob_refs(self, ref: str) -> None:
        # Removed refs are deleted before added ones are written: a ref added earlier in
        # this transaction is dropped here, or it would outlive its removal.
        self._blob_refs = [pair for pair in self._blob_refs if pair[1] != ref]
        self._removed_refs.append(ref)

    async def enqueue(
        self, queue: str, payload: Document, due: float, job_id: str | None = None
    ) -> str:
        job_id = job_id or new_job_id()
        self._jobs.append((queue, job_id, payload, due))
        return job_id


def collapse_changes(
    rows: list[tuple[int, str, int, str | None]], since: int, current: int, max_changes: int | None
) -> Changes:
    """Fold change-log rows (in modseq order) into created/updated/destroyed lists, stopping
    before the change that would make more than ``max_changes`` distinct ids."""
    first_kind: dict[str, int] = {}
    last_kind: dict[str, int] = {}
    props: set[str] | None = set()
    upto = since
    has_more = False
    for modseq, object_id, kind, prop_hint in rows:
        if object_id not in first_kind:
            if max_changes is not None and len(first_kind) >= max_changes:
                has_more = True
                break
            first_kind[object_id] = kind
        last_kind[object_id] = kind
        if kind == UPDATED and props is not None:
            props = props | set(prop_hint.split(",")) if prop_hint else None
        upto = modseq
    changes = Changes(old_modseq=since, new_modseq=upto if has_more else current, has_more=has_more)
    for object_id, first in first_kind.items():
        last = last_kind[object_id]
        if first == CREATED:
            if last != DESTROYED:
                changes.created.append(object_id)
        elif last == DESTROYED:
            changes.destroyed.append(object_id)
        else:
            changes.updated.append(object_id)
    changes.updated_properties = (
        props if changes.updated and not changes.created and not changes.destroyed else None
    )
    return changes
