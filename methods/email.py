"""Email (RFC 8621 §4): /get, /changes, /query, /queryChanges here; /set in ``email_set``;
/import, /parse and /copy in ``email_import``. Queries, counts and threading are answered
by the mail index role, never by scanning documents."""

from __future__ import annotations

from typing import Any

from jmap.api import Invocation, Response
from jmap.errors import MethodError
from jmap.ids import decode_state, encode_state
from jmap.store.base import Account, CannotCalculateChanges
from jmap.store.mail import (
    KEYWORD_SORTS,
    TEXT_SORT_COLLATIONS,
    TEXT_SORTS,
    EmailQuery,
    mail_index,
)
from jmap.workers import BudgetExceeded

from . import email_import, email_set
from .email_filter import check_filter_size, search_errors
from .email_get import (
    EMAIL_PROPERTIES,
    GET_DEFAULT,
    BodyOptions,
    body_values,
    check_properties,
    render_email,
    undecodable_values,
    wanted_values,
)
from .email_rules import is_keyword
from .email_write import CREATED_PROPERTIES
from .standard import (
    COLLATIONS,
    DEFAULT_COLLATION,
    DataType,
    query_changes_response,
    standard_copy,
    window,
)

THREAD = "Thread"
_THREAD_KEYWORD_CONDITIONS = (
    "allInThreadHaveKeyword",
    "someInThreadHaveKeyword",
    "noneInThreadHaveKeyword",
)


def _uses_threads(node: dict[str, Any] | None) -> bool:
    if not node:
        return False
    if "operator" in node:
        return any(_uses_threads(c) for c in node["conditions"])
    return any(k in node for k in _THREAD_KEYWORD_CONDITIONS)


async def _body_values(
    inv: Invocation, doc: dict[str, Any], options: BodyOptions
) -> dict[str, dict[str, Any]]:
    """An Email's ``bodyValues``, decoded in the worker pool; past the time budget each is
    empty and flagged (see ``undecodable_values``): one slow message must not fail the
    whole /get."""
    message = await inv.services.blobs.get(doc["blobId"])
    if message is None:
        return {}
    wanted = wanted_values(doc, options)
    try:
        return await inv.services.workers.run(
            inv.principal.id, body_values, message, wanted, options.max_bytes
        )
    except BudgetExceeded:
        return undecodable_values(doc, wanted)


class EmailType(DataType):
    name = "Email"
    id_prefix = "M"

    # -- /get --
    async def method_get(self, inv: Invocation, args: dict[str, Any]) -> dict[str, Any]:
        account = inv.account(args.get("accountId"))
        ids = args.get("ids")
        if isinstance(ids, list):
            ids = [inv.resolve_creation_id(i) or i for i in ids]
        properties = args.get("properties")
        self.schema.validate_arguments(
            "get", {k: v for k, v in {**args, "ids": ids}.items() if k != "properties"}
        )
        if properties is not None:
            if not isinstance(properties, list) or not all(isinstance(p, str) for p in properties):
                raise MethodError("invalidArguments", "properties must be a list of strings.")
            check_properties(properties, EMAIL_PROPERTIES, "property")
        wanted = list(dict.fromkeys(["id", *(GET_DEFAULT if properties is None else properties)]))
        options = BodyOptions.from_args(args)
        limit = inv.services.config.limits.max_objects_in_get
        data = inv.services.data
        if ids is None:
            _, ids = await mail_index(data).query(account.id, EmailQuery(None), 0, limit + 1)
            if len(ids) > limit:
                raise MethodError("requestTooLarge", f"More than {limit} Emails; ask by ids.")
        ids = list(dict.fromkeys(ids))
        if len(ids) > limit:
            raise MethodError("requestTooLarge", f"At most {limit} ids per /get.")
        modseq, docs = await data.get(account.id, self.name, ids)
        by_id = {d["id"]: d for d in docs}
        listed = []
        for email_id in ids:
            doc = by_id.get(email_id)
            if doc is None:
                continue
            values = None
            if options.needs_message(wanted):
                values = await _body_values(inv, doc, options)
            listed.append(render_email(doc, wanted, options, values))
        return {
            "accountId": account.id,
            "state": encode_state(modseq),
            "list": listed,
            "notFound": [i for i in ids if i not in by_id],
        }

    # -- /query --
    def _email_query(self, args: dict[str, Any]) -> EmailQuery:
        sort = args.get("sort") or [{"property": "receivedAt", "isAscending": False}]
        for comparator in sort:
            prop = comparator["property"]
            if prop not in self.schema.sort_properties:
                raise MethodError("unsupportedSort", f"Cannot sort by {prop!r}.")
            collation = comparator.get("collation", DEFAULT_COLLATION)
            if collation not in COLLATIONS:
                raise MethodError("unsupportedSort", f"Unknown collation {collation!r}.")
            if prop in TEXT_SORTS and collation not in TEXT_SORT_COLLATIONS:
                raise MethodError(
                    "unsupportedSort",
                    f"Email/query sorts {prop!r} only with {sorted(TEXT_SORT_COLLATIONS)}.",
                )
            if prop in KEYWORD_SORTS and not is_keyword(comparator.get("keyword")):
                raise MethodError("unsupportedSort", f"Sorting by {prop} needs a valid keyword.")
        return EmailQuery(args.get("filter"), sort, bool(args.get("collapseThreads")))

    async def _total(self, inv: Invocation, account: Account, query: EmailQuery) -> int:
        """The number of results; a lone inMailbox filter reads the Mailbox counters."""
        mail = mail_index(inv.services.data)
        filter_ = query.filter or {}
        if list(filter_) == ["inMailbox"]:
            counters = (await mail.mailbox_counters(account.id)).get(filter_["inMailbox"])
            if counters is None:
                return 0
            return counters["totalThreads" if query.collapse_threads else "totalEmails"]
        return await mail.count(account.id, query)

    @search_errors
    async def method_query(self, inv: Invocation, args: dict[str, Any]) -> dict[str, Any]:
        account = inv.account(args.get("accountId"))
        check_filter_size(args.get("filter"), inv.services.config.limits.max_header_conditions)
        self.schema.validate_arguments("query", args)
        query = self._email_query(args)
        mail = mail_index(inv.services.data)
        total: int | None = None
        if args.get("anchor") is not None:
            modseq, ids = await mail.query(account.id, query)
            total = len(ids)
            result = window(ids, args)
        else:
            position = args.get("position", 0)
            if position < 0 or args.get("calculateTotal"):
                total = await self._total(inv, account, query)
            if position < 0:
                position = max(0, total + position)
            modseq, ids = await mail.query(account.id, query, position, args.get("limit"))
            result = {"position": position, "ids": ids}
        response = {
            "accountId": account.id,
            "queryState": encode_state(modseq),
            "canCalculateChanges": True,
            **result,
        }
        if args.get("calculateTotal"):
            response["total"] = total
        return response

    @search_errors
    async def method_queryChanges(self, inv: Invocation, args: dict[str, Any]) -> dict[str, Any]:
        account = inv.account(args.get("accountId"))
        check_filter_size(args.get("filter"), inv.services.config.limits.max_header_conditions)
        self.schema.validate_arguments("queryChanges", args)
        query = self._email_query(args)
        since = decode_state(args["sinceQueryState"])
        if since is None:
            raise MethodError("cannotCalculateChanges", "Unknown query state.")
        data, mail = inv.services.data, mail_index(inv.services.data)
        try:
            changed = await data.changed_ids_since(account.id, self.name, since)
            changed_threads = await data.changed_ids_since(account.id, THREAD, since)
        except CannotCalculateChanges:
            raise MethodError("cannotCalculateChanges", "That state is too old.") from None
        if (
            query.collapse_threads
            or _uses_threads(query.filter)
            or any(c["property"] in KEYWORD_SORTS - {"hasKeyword"} for c in query.sort)
        ):
            # A change to one Email can move its thread-mates in or out of the results.
            changed |= await mail.thread_mates(account.id, sorted(changed))
            _, threads = await data.get(account.id, THREAD, sorted(changed_threads))
            changed.update(e for t in threads for e in t["emailIds"])
        modseq, ids = await mail.query(account.id, query)
        return query_changes_response(account, args, modseq, ids, changed)

    # -- /set, /import, /parse, /copy --
    async def method_set(self, inv: Invocation, args: dict[str, Any]) -> dict[str, Any]:
        self.schema.validate_arguments("set", args)
        return await email_set.email_set(inv, args)

    async def method_import(self, inv: Invocation, args: dict[str, Any]) -> dict[str, Any]:
        self.schema.validate_arguments("import", args)
        return await email_import.email_import(inv, args)

    async def method_parse(self, inv: Invocation, args: dict[str, Any]) -> dict[str, Any]:
        self.schema.validate_arguments("parse", args)
        return await email_import.email_parse(inv, args)

    async def method_copy(self, inv: Invocation, args: dict[str, Any]) -> list[Response]:
        self.schema.validate_arguments("copy", args)
        return await standard_copy(
            inv, args, self.name, email_import.EmailCopier, self.method_set, CREATED_PROPERTIES
        )
