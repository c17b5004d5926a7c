"""Email/query filter trees and comparators compiled to MongoDB queries over ``mail_email``
(one index document per Email, see ``mongo_mail``).

Every condition is a match on an indexed field (``account_id`` first): mailboxes and
keywords are multikey arrays, the thread's keywords are kept on each Email
(``thread_some``: some Email of the thread has it, ``thread_all``: every one has), text is
``mongo_text``. Plain sorts are ``find().sort()`` on indexed fields; keyword sorts and
collapseThreads need an aggregation (``$addFields``/``$group``): the match is served by an
index, the keyword-sort keys and the per-thread grouping are computed on the matched
documents, with only ids and sort keys carried through.
"""

from __future__ import annotations

import re
from typing import Any

from jmap.ids import timestamp
from jmap.message.search import fold

from . import mongo_text
from .mail import EmailQuery
from .search import Hits, TextLeaf

SORT_FIELDS = {
    "receivedAt": "received_at",
    "sentAt": "sent_at",
    "size": "size",
    "from": "from_key",
    "to": "to_key",
    "subject": "subject_key",
}
#: keyword sorts: the array whose membership of the keyword is the key
KEYWORD_SORT_FIELDS = {
    "hasKeyword": "keywords",
    "someInThreadHaveKeyword": "thread_some",
    "allInThreadHaveKeyword": "thread_all",
}
ALWAYS: dict[str, Any] = {}


def _and(parts: list[dict[str, Any]]) -> dict[str, Any]:
    parts = [p for p in parts if p]
    if not parts:
        return ALWAYS
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _condition(condition: dict[str, Any], hits: Hits | None) -> dict[str, Any]:
    """One FilterCondition: all its properties must hold (empty: true)."""
    parts: list[dict[str, Any]] = []
    for prop, value in condition.items():
        if prop == "inMailbox":
            parts.append({"mailboxes": value})
        elif prop == "inMailboxOtherThan":
            if value:  # (an empty list: any Mailbox, and every Email is in one)
                parts.append({"mailboxes": {"$elemMatch": {"$nin": list(value)}}})
        elif prop == "before":
            parts.append({"received_at": {"$lt": timestamp(value)}})
        elif prop == "after":
            parts.append({"received_at": {"$gte": timestamp(value)}})
        elif prop == "minSize":
            parts.append({"size": {"$gte": value}})
        elif prop == "maxSize":
            parts.append({"size": {"$lt": value}})
        elif prop == "hasAttachment":
            parts.append({"has_attachment": bool(value)})
        elif prop == "hasKeyword":
            parts.append({"keywords": value.lower()})
        elif prop == "notKeyword":
            parts.append({"$nor": [{"keywords": value.lower()}]})
        elif prop == "someInThreadHaveKeyword":
            parts.append({"thread_some": value.lower()})
        elif prop == "noneInThreadHaveKeyword":
            parts.append({"$nor": [{"thread_some": value.lower()}]})
        elif prop == "allInThreadHaveKeyword":
            parts.append({"thread_all": value.lower()})
        elif prop in mongo_text.FIELD_TAGS and hits is not None:
            ids = hits[TextLeaf(prop, value)]
            if ids is not None:  # (an empty $in matches everything on some emulators)
                parts.append({"id": {"$in": sorted(ids)}} if ids else mongo_text.NOTHING)
        elif prop in mongo_text.FIELD_TAGS:
            text = mongo_text.match(prop, value)
            if text is not None:
                parts.append(text)
        elif prop == "header":
            # each field's folded Text form (RFC 2047 decoded), as the SQLite index keeps it
            header: dict[str, Any] = {"n": value[0].lower()}
            if len(value) > 1:
                header["v"] = {"$regex": re.escape(fold(value[1]))}
            parts.append({"headers": {"$elemMatch": header}})
        else:
            raise ValueError(f"unknown filter property {prop!r}")
    return _and(parts)


def compile_filter(node: dict[str, Any] | None, hits: Hits | None = None) -> dict[str, Any]:
    """A JMAP filter tree as a MongoDB query (without the account)."""
    if not node:
        return ALWAYS
    operator = node.get("operator")
    if operator is None:
        return _condition(node, hits)
    parts = [compile_filter(child, hits) for child in node["conditions"]]
    if operator == "AND":
        return _and(parts)
    if operator == "OR":
        if not parts:
            return mongo_text.NOTHING
        if any(not p for p in parts):
            return ALWAYS
        return parts[0] if len(parts) == 1 else {"$or": parts}
    if not parts:  # NOT of nothing
        return ALWAYS
    if any(not p for p in parts):
        return mongo_text.NOTHING
    return {"$nor": parts}


#: inMailboxOtherThan lists longer than this are cut to the account's Mailboxes first
LONG_MAILBOX_LIST = 64


def long_mailbox_lists(node: dict[str, Any] | None) -> bool:
    """Does the filter hold an inMailboxOtherThan list worth cutting down?"""
    if not node:
        return False
    if "operator" in node:
        return any(long_mailbox_lists(child) for child in node["conditions"])
    return len(node.get("inMailboxOtherThan") or ()) > LONG_MAILBOX_LIST


def known_mailboxes_only(node: dict[str, Any] | None, known: set[str]) -> dict[str, Any] | None:
    """The filter with each inMailboxOtherThan list cut to Mailboxes the account has: an id
    no Email can be in changes nothing, and the query stays small whatever the client sent."""
    if not node:
        return node
    if "operator" in node:
        children = [known_mailboxes_only(child, known) for child in node["conditions"]]
        return {**node, "conditions": children}
    if "inMailboxOtherThan" not in node:
        return node
    return {**node, "inMailboxOtherThan": [m for m in node["inMailboxOtherThan"] if m in known]}


def account_filter(account_id: str, query: EmailQuery, hits: Hits | None = None) -> dict[str, Any]:
    return _and([{"account_id": account_id}, compile_filter(query.filter, hits)])


def sort_keys(query: EmailQuery) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    """(sort spec, computed keyword-sort keys for ``$addFields``), ending with the stable
    tie-break on ``seq`` (creation order) in the direction of the last comparator."""
    spec: list[tuple[str, int]] = []
    computed: dict[str, Any] = {}
    for n, comparator in enumerate(query.sort):
        direction = 1 if comparator.get("isAscending", True) else -1
        prop = comparator["property"]
        if prop in KEYWORD_SORT_FIELDS:
            key = f"_k{n}"
            computed[key] = {
                "$in": [
                    {"$literal": comparator["keyword"].lower()},
                    f"${KEYWORD_SORT_FIELDS[prop]}",
                ]
            }
            spec.append((key, direction))
        else:
            spec.append((SORT_FIELDS[prop], direction))
    spec.append(("seq", spec[-1][1] if spec else 1))
    return spec, computed


def pipeline(
    account_id: str, query: EmailQuery, offset: int, limit: int | None, hits: Hits | None = None
) -> list[dict[str, Any]]:
    """The aggregation for keyword sorts and collapseThreads: ids in query order."""
    spec, computed = sort_keys(query)
    order = dict(spec)
    stages: list[dict[str, Any]] = [{"$match": account_filter(account_id, query, hits)}]
    keep = {field: 1 for field, _ in spec if field not in computed}
    stages.append({"$project": {"id": 1, "thread_id": 1, **keep, **computed}})
    stages.append({"$sort": order})
    if query.collapse_threads:
        firsts = {field: {"$first": f"${field}"} for field, _ in spec}
        stages.append({"$group": {"_id": "$thread_id", "id": {"$first": "$id"}, **firsts}})
        stages.append({"$sort": order})
    if offset:
        stages.append({"$skip": offset})
    if limit is not None:
        stages.append({"$limit": limit})
    stages.append({"$project": {"_id": 0, "id": 1}})
    return stages


def needs_pipeline(query: EmailQuery) -> bool:
    return query.collapse_threads or any(c["property"] in KEYWORD_SORT_FIELDS for c in query.sort)
