"""SearchSnippet (RFC 8621 §5): where an Email/query filter's text matched, highlighted
with ``<mark>`` in HTML-escaped subject and body text."""

from __future__ import annotations

from typing import Any

from jmap.api import Invocation, MethodRegistry
from jmap.errors import MethodError
from jmap.schema import type_schema
from jmap.store.mail import mail_index
from jmap.workers import BudgetExceeded

from .email_filter import check_filter_size, search_errors
from .snippet_html import highlight

PREVIEW_OCTETS = 255


def highlight_snippets(
    snippets: list[tuple[str, str | None, str | None]],
) -> list[tuple[str, str | None, str | None]]:
    """Subject and preview HTML of (emailId, subject, preview) triples (in the worker pool)."""
    return [(i, highlight(s), highlight(p, PREVIEW_OCTETS)) for i, s, p in snippets]


@search_errors
async def search_snippet_get(inv: Invocation, args: dict[str, Any]) -> dict[str, Any]:
    account = inv.account(args.get("accountId"))
    type_schema("SearchSnippet").validate_arguments("get", args)
    filter_ = args.get("filter")
    check_filter_size(filter_, inv.services.config.limits.max_header_conditions)
    type_schema("Email").validate_arguments("query", {"accountId": account.id, "filter": filter_})
    email_ids = list(dict.fromkeys(args["emailIds"]))
    limit = inv.services.config.limits.max_objects_in_get
    if len(email_ids) > limit:
        raise MethodError("requestTooLarge", f"At most {limit} emailIds.")
    data = inv.services.data
    _, docs = await data.get(account.id, "Email", email_ids)
    found = [d["id"] for d in docs]
    snippets = await mail_index(data).snippets(account.id, filter_, found)
    marked = [(i, s.subject, s.preview) for i, s in snippets.items()]
    highlighted = {}
    if marked:
        try:
            done = await inv.services.workers.run(inv.principal.id, highlight_snippets, marked)
        except BudgetExceeded:
            done = []  # RFC 8621 §5.1: null subject and preview when there is nothing to show
        highlighted = {i: (s, p) for i, s, p in done}
    listed = []
    for email_id in found:
        subject, preview = highlighted.get(email_id, (None, None))
        listed.append({"emailId": email_id, "subject": subject, "preview": preview})
    seen = set(found)
    missing = [i for i in email_ids if i not in seen]
    return {"accountId": account.id, "list": listed, "notFound": missing or None}


def register(registry: MethodRegistry) -> None:
    registry.add("SearchSnippet/get", type_schema("SearchSnippet").capability, search_snippet_get)
