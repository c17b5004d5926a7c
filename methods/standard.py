"""The standard methods of RFC 8620 §5, written once for every data type.

A data type is a ``DataType`` subclass: its schema (from ``schemas/``) validates the
arguments and properties, and a few hooks add what is particular to it (computed
properties, referential rules, filters). /get, /changes, /set, /copy, /query and
/queryChanges below do the rest.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property, cmp_to_key
from typing import Any, Protocol

from jmap.api import Invocation, MethodRegistry, Response
from jmap.errors import MethodError, SetError, invalid_properties
from jmap.ids import decode_state, encode_state, is_id
from jmap.schema import TypeSchema, type_schema
from jmap.store.base import Account, CannotCalculateChanges, Changes, Document, Transaction

from .patch import apply_patch

COLLATIONS = ("i;unicode-casemap", "i;ascii-casemap", "i;octet", "i;ascii-numeric")
DEFAULT_COLLATION = "i;unicode-casemap"


@dataclass
class SetContext:
    """What one /set call knows while it applies its operations."""

    args: dict[str, Any]
    destroying: set[str] = field(default_factory=set)
    #: what a data type loads once per call and keeps in step (e.g. the Mailbox tree)
    cache: dict[str, Any] = field(default_factory=dict)


class DataType:
    """A JMAP data type as the standard methods see it. Subclasses override the hooks."""

    name: str = ""
    id_prefix: str = "x"
    #: properties added by ``present`` and never stored
    computed: frozenset[str] = frozenset()
    #: properties holding ids of this account's objects, which may be ``#creationId``
    references: frozenset[str] = frozenset()

    @cached_property
    def schema(self) -> TypeSchema:
        return type_schema(self.name)

    # -- hooks --
    async def present(
        self, inv: Invocation, account: Account, docs: list[Document]
    ) -> list[dict[str, Any]]:
        """Stored documents as JMAP objects (adds computed properties)."""
        return docs

    async def before_create(
        self, inv: Invocation, tx: Transaction, obj: dict[str, Any], ctx: SetContext
    ) -> None:
        """Check a new object (defaults filled in, id assigned); raise SetError to refuse."""

    async def before_update(
        self,
        inv: Invocation,
        tx: Transaction,
        current: Document,
        new: dict[str, Any],
        changed: set[str],
        ctx: SetContext,
    ) -> None:
        """Check an update; raise SetError to refuse."""

    async def before_destroy(
        self, inv: Invocation, tx: Transaction, current: Document, ctx: SetContext
    ) -> None:
        """Check (and do the side effects of) a destroy; raise SetError to refuse."""

    async def destroy_order(
        self, inv: Invocation, tx: Transaction, ids: list[str], ctx: SetContext
    ) -> list[str]:
        """The order to try the destroys in (``ids`` are the resolved ids, all known)."""
        return ids

    def matches(self, condition: dict[str, Any], obj: dict[str, Any]) -> bool:
        """Does ``obj`` satisfy one FilterCondition? (all given properties must match)"""
        raise MethodError("unsupportedFilter")

    def order(
        self, objs: list[dict[str, Any]], all_objs: list[dict[str, Any]], args: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Final say on /query results after the generic filter and sort."""
        return objs

    def filter_objects(
        self, objs: list[dict[str, Any]], filter_: dict[str, Any] | None
    ) -> list[dict[str, Any]]:
        if not filter_:
            return objs
        return [o for o in objs if self._evaluate(filter_, o)]

    def _evaluate(self, filter_: dict[str, Any], obj: dict[str, Any]) -> bool:
        operator = filter_.get("operator")
        if operator is None:
            return self.matches(filter_, obj)
        results = (self._evaluate(c, obj) for c in filter_["conditions"])
        if operator == "AND":
            return all(results)
        if operator == "OR":
            return any(results)
        return not any(results)

    def register(self, registry: MethodRegistry) -> None:
        capability = self.schema.capability
        for method in self.schema.methods:
            handler = getattr(self, f"method_{method}")
            registry.add(f"{self.name}/{method}", capability, handler)

    # -- /get --
    async def method_get(self, inv: Invocation, args: dict[str, Any]) -> dict[str, Any]:
        account = inv.account(args.get("accountId"))
        args = {**args, "ids": _resolve_ids(inv, args.get("ids"))}
        self.schema.validate_arguments("get", args)
        limit = inv.services.config.limits.max_objects_in_get
        ids = args["ids"]
        if ids is not None:
            ids = list(dict.fromkeys(ids))
            if len(ids) > limit:
                raise MethodError("requestTooLarge", f"At most {limit} ids per /get.")
        modseq, docs = await inv.services.data.get(account.id, self.name, ids)
        if ids is None and len(docs) > limit:
            raise MethodError("requestTooLarge", f"More than {limit} objects; ask by ids.")
        objs = await self.present(inv, account, docs)
        properties = args.get("properties")
        if properties is not None:
            wanted = {"id", *properties}
            objs = [{k: v for k, v in o.items() if k in wanted} for o in objs]
        found = {o["id"] for o in objs}
        return {
            "accountId": account.id,
            "state": encode_state(modseq),
            "list": objs,
            "notFound": [i for i in ids if i not in found] if ids is not None else [],
        }

    # -- /changes --
    async def method_changes(self, inv: Invocation, args: dict[str, Any]) -> dict[str, Any]:
        account = inv.account(args.get("accountId"))
        self.schema.validate_arguments("changes", args)
        changes = await changes_since(inv, account, self.name, args)
        return {
            "accountId": account.id,
            "oldState": args["sinceState"],
            "newState": encode_state(changes.new_modseq),
            "hasMoreChanges": changes.has_more,
            "created": changes.created,
            "updated": changes.updated,
            "destroyed": changes.destroyed,
            **self.changes_extra(changes),
        }

    def changes_extra(self, changes: Changes) -> dict[str, Any]:
        """Type-specific response arguments of /changes."""
        return {}

    # -- /set --
    async def method_set(self, inv: Invocation, args: dict[str, Any]) -> dict[str, Any]:
        account = inv.account(args.get("accountId"), write=True)
        self.schema.validate_arguments("set", args)
        create, update, destroy = set_operations(inv, args)
        result = SetResult()
        ctx = SetContext(args=args)
        async with inv.services.write(account.id) as tx:
            old = await tx.modseq(self.name)
            check_state(args.get("ifInState"), old)
            ctx.destroying = {i for i in (inv.resolve_creation_id(d) for d in destroy) if i}
            await self._creates(inv, account, tx, create, ctx, result)
            await self._updates(inv, account, tx, update, ctx, result)
            await self._destroys(inv, tx, destroy, ctx, result)
        new = tx.changed_types.get(self.name, old)
        return {
            "accountId": account.id,
            "oldState": encode_state(old),
            "newState": encode_state(new),
            **result.as_response(),
        }

    def _resolve_references(self, inv: Invocation, obj: dict[str, Any]) -> dict[str, Any]:
        bad = []
        out = dict(obj)
        for prop in self.references & obj.keys():
            value = obj[prop]
            if isinstance(value, str) and value.startswith("#"):
                real = inv.resolve_creation_id(value)
                if real is None:
                    bad.append(prop)
                out[prop] = real
        if bad:
            raise invalid_properties(bad, "Unknown creation id reference.")
        return out

    async def _creates(
        self,
        inv: Invocation,
        account: Account,
        tx: Transaction,
        create: dict[str, dict[str, Any]],
        ctx: SetContext,
        result: SetResult,
    ) -> None:
        for creation_id in self._creation_order(create):
            try:
                obj = self._checked_create(inv, create[creation_id])
                obj = self.schema.with_defaults(obj)
                (obj["id"],) = await tx.new_ids(self.id_prefix, 1)
                await self.before_create(inv, tx, obj, ctx)
                await tx.create(self.name, obj)
            except SetError as exc:
                result.not_created[creation_id] = exc.as_dict()
                continue
            inv.created_ids[creation_id] = obj["id"]
            (shown,) = await self.present(inv, account, [obj])
            sent = create[creation_id]
            # what the client did not send, or what the server set other than as sent
            result.created[creation_id] = {
                k: v for k, v in shown.items() if k not in sent or sent[k] != v
            }

    def _checked_create(self, inv: Invocation, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` with creation ids resolved; every invalid property is named at once
        (RFC 8620 §5.3): server-set, missing, unknown reference, wrong type or value."""
        bad = set(self.schema.read_only & obj.keys()) | (self.schema.required - obj.keys())
        try:
            obj = self._resolve_references(inv, obj)
        except SetError as exc:
            bad.update(exc.extra["properties"])
        bad.update(self.schema.invalid_properties(obj))
        if bad:
            raise invalid_properties(sorted(bad))
        return obj

    def _creation_order(self, create: dict[str, dict[str, Any]]) -> list[str]:
        """Creation ids ordered so that one referenced by another is created first."""
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(creation_id: str) -> None:
            if state.get(creation_id) is not None:
                return
            state[creation_id] = 0
            for prop in self.references & create[creation_id].keys():
                value = create[creation_id][prop]
                if isinstance(value, str) and value.startswith("#"):
                    target = value[1:]
                    if target in create and state.get(target) is None:
                        visit(target)
            state[creation_id] = 1
            order.append(creation_id)

        for creation_id in create:
            visit(creation_id)
        return order

    async def _updates(
        self,
        inv: Invocation,
        account: Account,
        tx: Transaction,
        update: dict[str, dict[str, Any]],
        ctx: SetContext,
        result: SetResult,
    ) -> None:
        for key, patch in update.items():
            object_id = inv.resolve_creation_id(key)
            try:
                if object_id is None or not is_id(object_id):
                    raise SetError("notFound")
                if object_id in ctx.destroying:
                    raise SetError("willDestroy")
                current = (await tx.get(self.name, [object_id])).get(object_id)
                if current is None:
                    raise SetError("notFound")
                (shown,) = await self.present(inv, account, [current])
                patched, touched = apply_patch(shown, patch)
                for prop in touched:
                    if patched.get(prop) is None and self.schema.defaults.get(prop) is not None:
                        patched[prop] = self.schema.defaults[prop]
                changed = {p for p in touched if patched.get(p) != shown.get(p)}
                server_set = sorted(changed & self.schema.read_only)
                unknown = sorted(touched - self.schema.properties.keys())
                if server_set or unknown:
                    raise invalid_properties(server_set + unknown, "Cannot change these.")
                patched = self._resolve_references(inv, patched)
                bad = self.schema.invalid_properties({p: patched[p] for p in touched})
                if bad:
                    raise invalid_properties(bad)
                # Start from the stored document, so properties it keeps out of view survive.
                new = {**current, **{p: patched[p] for p in touched - self.computed}}
                await self.before_update(inv, tx, current, new, changed, ctx)
                if changed:
                    await tx.update(self.name, new, changed)
            except SetError as exc:
                result.not_updated[key] = exc.as_dict()
                continue
            (final,) = await self.present(inv, account, [new])
            altered = {p: final[p] for p in touched if p in final and final[p] != patched.get(p)}
            result.updated[object_id] = altered or None

    async def _destroys(
        self,
        inv: Invocation,
        tx: Transaction,
        destroy: list[str],
        ctx: SetContext,
        result: SetResult,
    ) -> None:
        keys: dict[str, str] = {}
        for key in destroy:
            object_id = inv.resolve_creation_id(key)
            if object_id is None or not is_id(object_id) or keys.get(object_id, key) != key:
                result.not_destroyed[key] = SetError("notFound").as_dict()
            else:
                keys[object_id] = key
        for object_id in await self.destroy_order(inv, tx, list(keys), ctx):
            key = keys[object_id]
            try:
                current = (await tx.get(self.name, [object_id])).get(object_id)
                if current is None:
                    raise SetError("notFound")
                await self.before_destroy(inv, tx, current, ctx)
                await tx.destroy(self.name, object_id)
            except SetError as exc:
                result.not_destroyed[key] = exc.as_dict()
                continue
            result.destroyed.append(object_id)

    # -- /query --
    async def method_query(self, inv: Invocation, args: dict[str, Any]) -> dict[str, Any]:
        account = inv.account(args.get("accountId"))
        self.schema.validate_arguments("query", args)
        modseq, ids = await self._run_query(inv, account, args)
        response = {
            "accountId": account.id,
            "queryState": encode_state(modseq),
            "canCalculateChanges": True,
            **window(ids, args),
        }
        if args.get("calculateTotal"):
            response["total"] = len(ids)
        return response

    async def _run_query(
        self, inv: Invocation, account: Account, args: dict[str, Any]
    ) -> tuple[int, list[str]]:
        comparators = self._comparators(args.get("sort"))
        modseq, docs = await inv.services.data.get(account.id, self.name, None)
        objs = await self.present(inv, account, docs)
        matched = self.filter_objects(objs, args.get("filter"))
        matched.sort(key=cmp_to_key(_comparison(comparators)))
        return modseq, [o["id"] for o in self.order(matched, objs, args)]

    def _comparators(self, sort: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
        for comparator in sort or []:
            if comparator["property"] not in self.schema.sort_properties:
                raise MethodError("unsupportedSort", f"Cannot sort by {comparator['property']!r}.")
            if comparator.get("collation", DEFAULT_COLLATION) not in COLLATIONS:
                raise MethodError(
                    "unsupportedSort", f"Unknown collation {comparator['collation']!r}."
                )
        return list(sort or self.default_sort())

    def default_sort(self) -> Iterable[dict[str, Any]]:
        return ()

    # -- /queryChanges --
    async def method_queryChanges(self, inv: Invocation, args: dict[str, Any]) -> dict[str, Any]:
        account = inv.account(args.get("accountId"))
        self.schema.validate_arguments("queryChanges", args)
        since = decode_state(args["sinceQueryState"])
        if since is None:
            raise MethodError("cannotCalculateChanges", "Unknown query state.")
        try:
            changed = await inv.services.data.changed_ids_since(account.id, self.name, since)
        except CannotCalculateChanges:
            raise MethodError("cannotCalculateChanges", "That state is too old.") from None
        modseq, ids = await self._run_query(inv, account, args)
        return query_changes_response(account, args, modseq, ids, changed)


def query_changes_response(
    account: Account, args: dict[str, Any], modseq: int, ids: list[str], changed: set[str]
) -> dict[str, Any]:
    """Every changed id is removed, and re-added where it stands now (RFC 8620 §5.6).

    That is exact whatever the filter and sort look at, at the cost of some extra ids.
    """
    up_to = args.get("upToId")
    last = ids.index(up_to) if up_to in ids else len(ids) - 1
    added = [{"id": i, "index": n} for n, i in enumerate(ids[: last + 1]) if i in changed]
    removed = sorted(changed)
    max_changes = args.get("maxChanges")
    if max_changes is not None and len(added) + len(removed) > max_changes:
        raise MethodError("tooManyChanges", f"More than {max_changes} changes.")
    response = {
        "accountId": account.id,
        "oldQueryState": args["sinceQueryState"],
        "newQueryState": encode_state(modseq),
        "removed": removed,
        "added": added,
    }
    if args.get("calculateTotal"):
        response["total"] = len(ids)
    return response


async def changes_since(
    inv: Invocation, account: Account, type_name: str, args: dict[str, Any]
) -> Changes:
    since = decode_state(args["sinceState"])
    if since is None:
        raise MethodError("cannotCalculateChanges", "Unknown state.")
    try:
        return await inv.services.data.changes(account.id, type_name, since, args.get("maxChanges"))
    except CannotCalculateChanges:
        raise MethodError("cannotCalculateChanges", "That state is too old.") from None


def set_operations(
    inv: Invocation, args: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """The create, update and destroy of a (validated) /set, within maxObjectsInSet."""
    create = args.get("create") or {}
    update = args.get("update") or {}
    destroy = args.get("destroy") or []
    limit = inv.services.config.limits.max_objects_in_set
    if len(create) + len(update) + len(destroy) > limit:
        raise MethodError("requestTooLarge", f"At most {limit} operations per /set.")
    return create, update, destroy


async def create_each(
    inv: Invocation,
    items: dict[str, Any],
    create_one: Callable[[Any], Awaitable[dict[str, Any]]],
    result: SetResult,
) -> None:
    """Create each item on its own: a SetError refuses that item only (RFC 8620 §5.3).

    ``create_one`` returns what the response says of the new object, ``id`` included.
    """
    for creation_id, item in items.items():
        try:
            created = await create_one(item)
        except SetError as exc:
            result.not_created[creation_id] = exc.as_dict()
            continue
        result.created[creation_id] = created
        inv.created_ids[creation_id] = created["id"]


def check_state(if_in_state: str | None, modseq: int) -> None:
    if if_in_state is not None and decode_state(if_in_state) != modseq:
        raise MethodError("stateMismatch", "ifInState does not match the current state.")


def _resolve_ids(inv: Invocation, ids: Any) -> Any:
    if not isinstance(ids, list):
        return ids
    return [inv.resolve_creation_id(i) or i for i in ids]


@dataclass
class SetResult:
    created: dict[str, Any] = field(default_factory=dict)
    updated: dict[str, Any] = field(default_factory=dict)
    destroyed: list[str] = field(default_factory=list)
    not_created: dict[str, Any] = field(default_factory=dict)
    not_updated: dict[str, Any] = field(default_factory=dict)
    not_destroyed: dict[str, Any] = field(default_factory=dict)

    def as_response(self) -> dict[str, Any]:
        return {
            "created": self.created or None,
            "updated": self.updated or None,
            "destroyed": self.destroyed or None,
            "notCreated": self.not_created or None,
            "notUpdated": self.not_updated or None,
            "notDestroyed": self.not_destroyed or None,
        }


def window(ids: list[str], args: dict[str, Any]) -> dict[str, Any]:
    """Apply position / anchor / anchorOffset / limit to the full result list."""
    anchor = args.get("anchor")
    if anchor is not None:
        if anchor not in ids:
            raise MethodError("anchorNotFound")
        position = max(0, ids.index(anchor) + args.get("anchorOffset", 0))
    else:
        position = args.get("position", 0)
        if position < 0:
            position = max(0, len(ids) + position)
    limit = args.get("limit")
    end = len(ids) if limit is None else position + limit
    return {"position": position, "ids": ids[position:end]}


def collation_key(value: Any, collation: str) -> Any:
    """The key a string sorts by under an RFC 4790 collation."""
    if not isinstance(value, str):
        return value
    if collation == "i;octet":
        return value.encode()
    if collation == "i;ascii-casemap":
        return value.encode().lower()
    if collation == "i;ascii-numeric":
        digits = ""
        for char in value:
            if not char.isascii() or not char.isdigit():
                break
            digits += char
        return int(digits) if digits else float("inf")
    return unicodedata.normalize("NFKD", value).casefold()


def _comparison(comparators: list[dict[str, Any]]):
    def compare(a: dict[str, Any], b: dict[str, Any]) -> int:
        for comparator in comparators:
            prop = comparator["property"]
            collation = comparator.get("collation", DEFAULT_COLLATION)
            ka = collation_key(a.get(prop), collation)
            kb = collation_key(b.get(prop), collation)
            if ka == kb:
                continue
            if ka is None or kb is None:
                result = -1 if ka is None else 1
            else:
                result = -1 if ka < kb else 1
            return result if comparator.get("isAscending", True) else -result
        return (a["id"] > b["id"]) - (a["id"] < b["id"])

    return compare


class Copier(Protocol):
    """Makes the copies of one /copy call inside its transaction (RFC 8620 §5.4)."""

    async def copy(self, source: Document, overrides: dict[str, Any]) -> Document:
        """Create the copy of ``source`` with the given properties; SetError to refuse."""

    async def finish(self) -> None:
        """Called once after the last copy, before the transaction commits."""


SetMethod = Callable[[Invocation, dict[str, Any]], Awaitable[dict[str, Any]]]


async def standard_copy(
    inv: Invocation,
    args: dict[str, Any],
    type_name: str,
    make_copier: Callable[[Invocation, Transaction], Copier],
    set_method: SetMethod,
    created_properties: tuple[str, ...] = ("id",),
) -> list[Response]:
    """Foo/copy for any type: accounts, states, per-record atomicity, and the implicit
    Foo/set that destroys the originals when ``onSuccessDestroyOriginal`` is set."""
    from_id = args.get("fromAccountId")
    if not isinstance(from_id, str):  # RFC 8620 §3.6.2: a missing argument is invalid
        raise MethodError("invalidArguments", "fromAccountId must be given, as a string.")
    if from_id == args.get("accountId"):
        raise MethodError("invalidArguments", "fromAccountId and accountId must differ.")
    from_account = inv.accounts.get(from_id)
    if from_account is None:
        raise MethodError("fromAccountNotFound")
    account = inv.account(args.get("accountId"), write=True)
    create = args["create"]
    limit = inv.services.config.limits.max_objects_in_set
    if len(create) > limit:
        raise MethodError("requestTooLarge", f"At most {limit} copies per /copy.")
    from_modseq, sources = await inv.services.data.get(
        from_account.id, type_name, [o.get("id") for o in create.values()]
    )
    check_state(args.get("ifFromInState"), from_modseq)
    by_id = {d["id"]: d for d in sources}
    result = SetResult()
    async with inv.services.write(account.id) as tx:
        old = await tx.modseq(type_name)
        check_state(args.get("ifInState"), old)
        copier = make_copier(inv, tx)

        async def copy_one(obj: dict[str, Any]) -> dict[str, Any]:
            source = by_id.get(obj.get("id"))
            if source is None:
                raise SetError("notFound", "No such record in the source account.")
            doc = await copier.copy(source, {k: v for k, v in obj.items() if k != "id"})
            return {k: doc[k] for k in created_properties}

        await create_each(inv, create, copy_one, result)
        await copier.finish()
    new = tx.changed_types.get(type_name, old)
    responses: list[Response] = [
        (
            inv.name,
            {
                "fromAccountId": from_account.id,
                "accountId": account.id,
                "oldState": encode_state(old),
                "newState": encode_state(new),
                "created": result.created or None,
                "notCreated": result.not_created or None,
            },
        )
    ]
    if args.get("onSuccessDestroyOriginal") and result.created:
        set_args = {
            "accountId": from_account.id,
            "destroy": [create[c]["id"] for c in result.created],
            "ifInState": args.get("destroyFromIfInState"),
        }
        try:
            responses.append((f"{type_name}/set", await set_method(inv, set_args)))
        except MethodError as exc:
            responses.append(("error", exc.arguments()))
    return responses
