"""The Mailboxes of one account as one Mailbox/set call sees them: loaded once, then kept
in step with the call's creates, updates and destroys, with the lookups the /set rules
need (siblings by name, holder of a role, children) in constant time."""

from __future__ import annotations

from collections.abc import Iterator

from jmap.store.base import Document


class MailboxTree:
    def __init__(self, docs: list[Document]) -> None:
        self._docs: dict[str, Document] = {}
        self._by_name: dict[tuple[str | None, str], str] = {}
        self._by_role: dict[str, str] = {}
        self._children: dict[str | None, set[str]] = {}
        for doc in docs:
            self.put(doc)

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, mailbox_id: object) -> bool:
        return mailbox_id in self._docs

    def __iter__(self) -> Iterator[Document]:
        return iter(list(self._docs.values()))

    def get(self, mailbox_id: str | None) -> Document | None:
        return self._docs.get(mailbox_id) if mailbox_id is not None else None

    def sibling_named(self, parent_id: str | None, name: str) -> str | None:
        return self._by_name.get((parent_id, name))

    def with_role(self, role: str) -> str | None:
        return self._by_role.get(role)

    def children(self, mailbox_id: str) -> set[str]:
        return set(self._children.get(mailbox_id, ()))

    def depth(self, mailbox_id: str) -> int:
        """1 for a top-level Mailbox; bounded by the tree's size if a parent is missing."""
        depth, cursor = 0, self.get(mailbox_id)
        while cursor is not None and depth <= len(self._docs):
            depth += 1
            cursor = self.get(cursor.get("parentId"))
        return depth

    def put(self, doc: Document) -> None:
        """Add a Mailbox, or replace it by its new version."""
        self.remove(doc["id"])
        self._docs[doc["id"]] = doc
        parent = doc.get("parentId")
        self._by_name.setdefault((parent, doc["name"]), doc["id"])
        if doc.get("role") is not None:
            self._by_role.setdefault(doc["role"], doc["id"])
        self._children.setdefault(parent, set()).add(doc["id"])

    def remove(self, mailbox_id: str) -> None:
        doc = self._docs.pop(mailbox_id, None)
        if doc is None:
            return
        parent = doc.get("parentId")
        if self._by_name.get((parent, doc["name"])) == mailbox_id:
            del self._by_name[(parent, doc["name"])]
        if doc.get("role") is not None and self._by_role.get(doc["role"]) == mailbox_id:
            del self._by_role[doc["role"]]
        self._children.get(parent, set()).discard(mailbox_id)
