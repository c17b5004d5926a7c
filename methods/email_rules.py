"""The rules of an Email's mutable properties (RFC 8621 §4.1.1): mailboxIds and keywords."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from jmap.api import Invocation
from jmap.errors import SetError, invalid_properties
from jmap.ids import normal_date
from jmap.schema import type_schema
from jmap.store.base import Transaction

MAX_KEYWORDS = 128
_KEYWORD = re.compile(r"[\x21-\x7e]{1,255}")
_KEYWORD_FORBIDDEN = frozenset('(){]%*"\\')


def is_keyword(value: Any) -> bool:
    return (
        isinstance(value, str)
        and _KEYWORD.fullmatch(value) is not None
        and not _KEYWORD_FORBIDDEN.intersection(value)
    )


def check_keywords(value: Any) -> dict[str, bool]:
    """Keywords lower-cased (they are case-insensitive); invalidProperties if malformed."""
    if not isinstance(value, dict) or not all(
        is_keyword(k) and v is True for k, v in value.items()
    ):
        raise invalid_properties(["keywords"], "Keywords map valid keyword names to true.")
    if len(value) > MAX_KEYWORDS:
        raise SetError("tooManyKeywords", f"At most {MAX_KEYWORDS} keywords.")
    return {k.lower(): True for k in value}


async def check_mailboxes(inv: Invocation, tx: Transaction, value: Any) -> dict[str, bool]:
    """mailboxIds with ``#creationId`` keys resolved; at least one, all existing."""
    if not isinstance(value, dict) or not value or not all(v is True for v in value.values()):
        raise invalid_properties(["mailboxIds"], "An Email needs at least one Mailbox.")
    ids = {inv.resolve_creation_id(k): True for k in value}
    if None in ids:
        raise invalid_properties(["mailboxIds"], "Unknown creation id.")
    limit = inv.services.config.limits.max_mailboxes_per_email
    if len(ids) > limit:
        raise SetError("tooManyMailboxes", f"At most {limit} Mailboxes per Email.")
    found = await tx.get("Mailbox", list(ids))
    if len(found) != len(ids):
        raise invalid_properties(["mailboxIds"], "No such Mailbox.")
    return ids


def check_received_at(value: Any) -> str | None:
    """A given receivedAt must be a UTCDate; kept in RFC 8620 §1.4's normalised form."""
    if value is None:
        return None
    if type_schema("Email").invalid_properties({"receivedAt": value}):
        raise invalid_properties(["receivedAt"], "receivedAt is a UTCDate.")
    return normal_date(value)


async def check_email_metadata(
    inv: Invocation,
    tx: Transaction,
    obj: dict[str, Any],
    invalid: Iterable[str] = (),
    description: str | None = None,
) -> tuple[dict[str, bool], dict[str, bool], str | None]:
    """mailboxIds, keywords and receivedAt of an Email create, import or copy.

    ``invalid`` are the properties the caller found invalid itself (``description`` says
    why); an invalidProperties
    SetError names them and every invalid one of these three at once (RFC 8620 §5.3).
    Other SetErrors (tooManyKeywords, tooManyMailboxes) are raised as they are found.
    """
    bad = set(invalid)
    why = [description] if description else []
    mailbox_ids: dict[str, bool] = {}
    keywords: dict[str, bool] = {}
    received_at = None
    try:
        mailbox_ids = await check_mailboxes(inv, tx, obj.get("mailboxIds"))
    except SetError as exc:
        _collect(exc, bad, why)
    try:
        keywords = check_keywords(obj.get("keywords", {}))
    except SetError as exc:
        _collect(exc, bad, why)
    try:
        received_at = check_received_at(obj.get("receivedAt"))
    except SetError as exc:
        _collect(exc, bad, why)
    if bad:
        raise invalid_properties(sorted(bad), " ".join(why) or None)
    return mailbox_ids, keywords, received_at


def _collect(exc: SetError, bad: set[str], why: list[str]) -> None:
    if exc.kind != "invalidProperties":
        raise exc
    bad.update(exc.extra["properties"])
    if exc.description:
        why.append(exc.description)


def check_email_size(inv: Invocation, size: int) -> None:
    """A message over ``limits.max_size_email`` is refused with ``tooLarge``."""
    limit = inv.services.config.limits.max_size_email
    if size > limit:
        raise SetError("tooLarge", f"The message is larger than {limit} octets.", maxSize=limit)
