"""SearchSnippet (RFC 8621 §5): where an Email/query filter's text matched, highlighted
with ``<mark>`` in HTML-escaped subject and body text."""

from __future__ import annotations

from typing import Any

from jmap.api import Invocation, MethodRegistry
from jmap.errors import MethodError
from jmap.schema import type_schema
from jmap.store.mail import mail_index

from .email_filter import check_filter_size
from .snippet_html import highlight

PREVIEW_OCTETS = 255


async def search_snippet_get(inv: Invocation, args: dict[str, Any]) -> dict[str, Any]:
    account = inv.account(args.get("accountId"))
    type_schema("SearchSnippet").validate_arguments("get", args)
    filter_ = args.get("filter")
    check_filter_size(filter_)
    type_schema("Email").validate_arguments("query", {"accountId": account.id, "filter": filter_})
    email_ids = list(dict.fromkeys(args["emailIds"]))
    limit = inv.services.config.limits.max_objects_in_get
    if len(email_ids) > limit:
        raise MethodError("requestTooLarge", f"At most {limit} emailIds.")
    data = inv.services.data
    _, docs = await data.get(account.id, "Email", email_ids)
    found = [d["id"] for d in docs]
    snippets = await mail_index(data).snippets(account.id, filter_, found)
    listed = []
    for email_id in found:
        snippet = snippets.get(email_id)
        listed.append(
            {
                "emailId": email_id,
                "subject": highlight(snippet.subject) if snippet else None,
                "preview": highlight(snippet.preview, PREVIEW_OCTETS) if snippet else None,
            }
        )
    missing = [i for i in email_ids if i not in set(found)]
    return {"accountId": account.id, "list": listed, "notFound": missing or None}


def register(registry: MethodRegistry) -> None:
    registry.add("SearchSnippet/get", type_schema("SearchSnippet").capability, search_snippet_get)
