"""The size limits of an Email/query filter (also SearchSnippet/get's), checked before
anything else looks at it.

A filter this server cannot evaluate is answered ``unsupportedFilter`` (RFC 8620 §5.5:
"the filter is syntactically valid, but the server cannot process it"), never a storage
failure that a client would retry. The walk is iterative and stops at the first limit
passed, so a hostile filter costs no more than the limit to look at.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from jmap.errors import MethodError
from jmap.message.search import split_terms
from jmap.store.search import SearchTooBroad, SearchUnavailable

T = TypeVar("T")
log = logging.getLogger("fulmar.search")

#: nesting levels of FilterOperators (a lone FilterCondition is level 1)
MAX_FILTER_DEPTH = 10
#: FilterOperators and FilterConditions in one filter
MAX_FILTER_CONDITIONS = 256
#: characters of one full-text condition's value
MAX_SEARCH_TEXT_CHARS = 2048
#: words and quoted phrases over all the full-text conditions of one filter
MAX_SEARCH_TERMS = 256

TEXT_PROPERTIES = ("text", "from", "to", "cc", "bcc", "subject", "body")


def _unsupported(description: str) -> MethodError:
    return MethodError("unsupportedFilter", description)


def check_filter_size(filter_: Any, max_header_conditions: int) -> None:
    """Raise unsupportedFilter when a filter passes one of the limits above, or has more
    than ``max_header_conditions`` ``header`` conditions (each reads every header field of
    its name in the account: ``Limits.max_header_conditions``).

    Parts that are not of the FilterOperator/FilterCondition shape are left to the schema.
    """
    if not isinstance(filter_, dict):
        return
    pending: list[tuple[dict[str, Any], int]] = [(filter_, 1)]
    nodes, terms, headers = 1, 0, 0
    while pending:
        node, depth = pending.pop()
        if depth > MAX_FILTER_DEPTH:
            raise _unsupported(f"Filters nest at most {MAX_FILTER_DEPTH} levels deep.")
        children = node.get("conditions") if "operator" in node else None
        if isinstance(children, list):
            nodes += len(children)
            if nodes > MAX_FILTER_CONDITIONS:
                raise _unsupported(f"At most {MAX_FILTER_CONDITIONS} conditions in a filter.")
            pending.extend((c, depth + 1) for c in children if isinstance(c, dict))
            continue
        if "header" in node:
            headers += 1
            if headers > max_header_conditions:
                raise _unsupported(f"At most {max_header_conditions} header conditions.")
        for prop in TEXT_PROPERTIES:
            value = node.get(prop)
            if not isinstance(value, str):
                continue
            if len(value) > MAX_SEARCH_TEXT_CHARS:
                raise _unsupported(f"At most {MAX_SEARCH_TEXT_CHARS} characters in {prop!r}.")
            terms += len(split_terms(value))
            if terms > MAX_SEARCH_TERMS:
                raise _unsupported(f"At most {MAX_SEARCH_TERMS} search words in a filter.")


def search_errors(method: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """The search engine's answers that are not storage failures: a text condition matching
    more Emails than it hands back is ``unsupportedFilter`` (RFC 8620 §5.5: a filter the
    server cannot process; the client can narrow it); an engine that is down is
    ``serverUnavailable`` (RFC 8620 §3.6.2: try again later), logged in one line."""

    @functools.wraps(method)
    async def answered(*args: Any, **kwargs: Any) -> T:
        try:
            return await method(*args, **kwargs)
        except SearchTooBroad as exc:
            raise _unsupported(
                f"The search {exc.text!r} matches more than {exc.limit} Emails; add words."
            ) from None
        except SearchUnavailable as exc:
            log.warning("search unavailable: %s", exc)
            raise MethodError(
                "serverUnavailable", "Search is unavailable; try again later."
            ) from None

    return answered
