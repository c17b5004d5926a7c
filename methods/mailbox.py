"""Mailbox (RFC 8621 §2): a named, tree-shaped set of Emails with a role and counters."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any

from jmap.api import Invocation
from jmap.errors import SetError, invalid_properties
from jmap.store.base import Account, Changes, Document, Transaction
from jmap.store.mail import COUNTERS, mail_index

from .email_write import EmailWriter
from .mailbox_tree import MailboxTree
from .standard import DataType, SetContext

#: IANA "IMAP Mailbox Name Attributes" registry (RFC 8457), lower-cased, as JMAP roles.
ROLES = frozenset(
    {
        "all",
        "archive",
        "drafts",
        "flagged",
        "important",
        "inbox",
        "junk",
        "sent",
        "subscribed",
        "trash",
        "snoozed",
        "scheduled",
        "memos",
    }
)

#: The mailboxes a new account starts with: (role, name, sortOrder).
DEFAULT_MAILBOXES = (
    ("inbox", "Inbox", 1),
    ("drafts", "Drafts", 2),
    ("sent", "Sent", 3),
    ("archive", "Archive", 4),
    ("junk", "Junk", 5),
    ("trash", "Trash", 6),
)

OWNER_RIGHTS = dict.fromkeys(
    (
        "mayReadItems",
        "mayAddItems",
        "mayRemoveItems",
        "maySetSeen",
        "maySetKeywords",
        "mayCreateChild",
        "mayRename",
        "mayDelete",
        "maySubmit",
    ),
    True,
)
READ_ONLY_RIGHTS = {name: name == "mayReadItems" for name in OWNER_RIGHTS}

EMAIL = "Email"
TRASH = "trash"
#: stored, never shown: who else (principal id -> flag) subscribed to a shared Mailbox
SUBSCRIBERS = "subscribers"


def _is_subscribed(doc: Document, account: Account, viewer: str) -> bool:
    """The owner's flag is on the Mailbox; other users' flags default to false (RFC 8621 §2)."""
    if account.owner_id == viewer:
        return doc.get("isSubscribed", True)
    return doc.get(SUBSCRIBERS, {}).get(viewer, False)


def normalise_name(name: str) -> str:
    return unicodedata.normalize("NFC", name)


def _is_net_unicode(name: str) -> bool:
    """RFC 5198: no control characters (C0, DEL, C1), no line or paragraph separators."""
    return not any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in name)


class MailboxType(DataType):
    name = "Mailbox"
    id_prefix = "m"
    computed = frozenset({*COUNTERS, "myRights"})
    references = frozenset({"parentId"})

    def default_sort(self) -> Iterable[dict[str, Any]]:
        return ({"property": "sortOrder"}, {"property": "name"})

    async def present(
        self, inv: Invocation, account: Account, docs: list[Document]
    ) -> list[dict[str, Any]]:
        if not docs:
            return []
        counts = await mail_index(inv.services.data).mailbox_counters(account.id)
        rights = READ_ONLY_RIGHTS if account.is_read_only else OWNER_RIGHTS
        zero = dict.fromkeys(COUNTERS, 0)
        viewer = inv.principal.id
        return [
            {
                **{k: v for k, v in doc.items() if k != SUBSCRIBERS},
                **counts.get(doc["id"], zero),
                "myRights": dict(rights),
                "isSubscribed": _is_subscribed(doc, account, viewer),
            }
            for doc in docs
        ]

    # -- /set rules --
    async def _tree(self, tx: Transaction, ctx: SetContext) -> MailboxTree:
        """The account's Mailboxes, read once per /set call and kept in step by the hooks."""
        tree = ctx.cache.get(self.name)
        if tree is None:
            tree = ctx.cache[self.name] = MailboxTree(await tx.all(self.name))
        return tree

    async def _check(
        self, inv: Invocation, tx: Transaction, obj: dict[str, Any], ctx: SetContext
    ) -> None:
        """Every invalid property at once (RFC 8620 §5.3), then a taken sibling name."""
        limits = inv.services.config.limits
        tree = await self._tree(tx, ctx)
        bad, reasons = [], []
        name = obj["name"] = normalise_name(obj["name"])
        if len(name.encode()) > limits.max_size_mailbox_name or not _is_net_unicode(name):
            bad.append("name")
            reasons.append("The name is too long or not Net-Unicode.")
        role = obj.get("role")
        if role is not None and role not in ROLES:
            bad.append("role")
            reasons.append("Unknown role.")
        elif role is not None and tree.with_role(role) not in (None, obj["id"]):
            bad.append("role")
            reasons.append("Another Mailbox has that role.")
        parent_id = obj.get("parentId")
        if parent_id is not None:
            reason = self._parent_problem(tree, obj["id"], parent_id, ctx, limits.max_mailbox_depth)
            if reason:
                bad.append("parentId")
                reasons.append(reason)
        if bad:
            raise invalid_properties(bad, " ".join(reasons) or None)
        existing = tree.sibling_named(parent_id, name)
        if existing not in (None, obj["id"]):
            # RFC 8620 §5.3 alreadyExists: clients use existingId to find the Mailbox
            raise SetError("alreadyExists", "A sibling Mailbox has that name.", existingId=existing)

    @staticmethod
    def _parent_problem(
        tree: MailboxTree, mailbox_id: str, parent_id: str, ctx: SetContext, max_depth: int
    ) -> str | None:
        if parent_id not in tree or parent_id in ctx.destroying:
            return "No such parent Mailbox."
        depth, seen, cursor = 1, {mailbox_id}, tree.get(parent_id)
        while cursor is not None:
            if cursor["id"] in seen:
                return "That would make a loop."
            seen.add(cursor["id"])
            depth += 1
            cursor = tree.get(cursor.get("parentId"))
        return "Mailboxes are nested too deep." if depth > max_depth else None

    async def before_create(
        self, inv: Invocation, tx: Transaction, obj: dict[str, Any], ctx: SetContext
    ) -> None:
        tree = await self._tree(tx, ctx)
        limit = inv.services.config.limits.max_mailboxes_per_account
        if len(tree) >= limit:
            # RFC 8620 §5.3 overQuota: a server limit on the number of objects of the type
            raise SetError("overQuota", f"At most {limit} Mailboxes per account.")
        await self._check(inv, tx, obj, ctx)
        tree.put(obj)

    async def before_update(
        self,
        inv: Invocation,
        tx: Transaction,
        current: Document,
        new: dict[str, Any],
        changed: set[str],
        ctx: SetContext,
    ) -> None:
        if changed & {"name", "parentId", "role"}:
            await self._check(inv, tx, new, ctx)
        if "role" in changed and TRASH in (current.get("role"), new.get("role")):
            await self._all_counters_changed(tx, await self._tree(tx, ctx), current["id"])
        viewer = inv.principal.id
        if "isSubscribed" in changed and inv.accounts[tx.account_id].owner_id != viewer:
            # Others' subscriptions to a shared Mailbox are theirs alone (RFC 8621 §2).
            new[SUBSCRIBERS] = {**current.get(SUBSCRIBERS, {}), viewer: new["isSubscribed"]}
            new["isSubscribed"] = current["isSubscribed"]
        (await self._tree(tx, ctx)).put(new)

    async def destroy_order(
        self, inv: Invocation, tx: Transaction, ids: list[str], ctx: SetContext
    ) -> list[str]:
        """Children before their parents: a parent whose child stays (its destroy failed)
        is refused with mailboxHasChild (RFC 8621 §2.5), never left dangling."""
        tree = await self._tree(tx, ctx)
        return sorted(ids, key=tree.depth, reverse=True)

    async def before_destroy(
        self, inv: Invocation, tx: Transaction, current: Document, ctx: SetContext
    ) -> None:
        mailbox_id = current["id"]
        if current.get("role") == "inbox":
            raise SetError("forbidden", "The inbox cannot be destroyed.")
        tree = await self._tree(tx, ctx)
        if tree.children(mailbox_id):
            raise SetError("mailboxHasChild", "The Mailbox has child Mailboxes.")
        mail = mail_index(inv.services.data)
        candidates = await mail.emails_in_mailbox(tx.account_id, mailbox_id)
        emails = [
            e for e in (await tx.get(EMAIL, candidates)).values() if mailbox_id in e["mailboxIds"]
        ]
        if emails and not ctx.args.get("onDestroyRemoveEmails"):
            raise SetError("mailboxHasEmail", "The Mailbox has Emails.")
        tree.remove(mailbox_id)
        if current.get("role") == TRASH:
            await self._all_counters_changed(tx, tree, mailbox_id)
        if not emails:
            return
        writer = EmailWriter(tx, mail)
        for email in emails:
            others = {k: v for k, v in email["mailboxIds"].items() if k != mailbox_id}
            if others:
                await writer.update(email, {**email, "mailboxIds": others}, {"mailboxIds"})
            else:
                await writer.destroy(email)
        await writer.finish()

    async def _all_counters_changed(
        self, tx: Transaction, tree: MailboxTree, except_id: str
    ) -> None:
        """The trash role moves: unreadThreads treats the trash apart (RFC 8621 §2), so any
        Mailbox's count may change; the index recounts them all when it commits."""
        for doc in tree:
            if doc["id"] != except_id:
                await tx.update(self.name, doc, set(COUNTERS))

    # -- /query --
    def matches(self, condition: dict[str, Any], obj: dict[str, Any]) -> bool:
        for prop, wanted in condition.items():
            if prop == "name":
                if normalise_name(wanted).casefold() not in obj["name"].casefold():
                    return False
            elif prop == "hasAnyRole":
                if (obj.get("role") is not None) != wanted:
                    return False
            elif obj.get(prop) != wanted:
                return False
        return True

    def order(
        self, objs: list[dict[str, Any]], all_objs: list[dict[str, Any]], args: dict[str, Any]
    ) -> list[dict[str, Any]]:
        if args.get("filterAsTree"):
            parents = {o["id"]: o.get("parentId") for o in all_objs}
            matched = {o["id"] for o in objs}

            def ancestors_match(mailbox_id: str) -> bool:
                parent = parents.get(mailbox_id)
                while parent is not None:
                    if parent not in matched:
                        return False
                    parent = parents.get(parent)
                return True

            objs = [o for o in objs if ancestors_match(o["id"])]
        if args.get("sortAsTree"):
            present = {o["id"] for o in objs}
            children: dict[str | None, list[dict[str, Any]]] = {}
            for obj in objs:
                parent = obj.get("parentId")
                children.setdefault(parent if parent in present else None, []).append(obj)
            ordered: list[dict[str, Any]] = []

            def walk(parent: str | None) -> None:
                for child in children.get(parent, []):
                    ordered.append(child)
                    walk(child["id"])

            walk(None)
            objs = ordered
        return objs

    def changes_extra(self, changes: Changes) -> dict[str, Any]:
        """``updatedProperties``: the counters, when nothing but counters changed."""
        only_counts = (
            changes.updated
            and changes.updated_properties is not None
            and changes.updated_properties <= set(COUNTERS)
        )
        return {"updatedProperties": list(COUNTERS) if only_counts else None}


async def create_default_mailboxes(tx: Transaction) -> None:
    """Give a new account the standard mailboxes with their roles."""
    ids = await tx.new_ids(MailboxType.id_prefix, len(DEFAULT_MAILBOXES))
    for mailbox_id, (role, name, sort_order) in zip(ids, DEFAULT_MAILBOXES, strict=True):
        await tx.create(
            MailboxType.name,
            {
                "id": mailbox_id,
                "name": name,
                "parentId": None,
                "role": role,
                "sortOrder": sort_order,
                "isSubscribed": True,
            },
        )
