"""The rules of an Email's mutable properties (RFC 8621 §4.1.1): mailboxIds and keywords."""

from __future__ import annotations

import re
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


def check_email_size(inv: Invocation, size: int) -> None:
    """A message over ``limits.max_size_email`` is refused with ``tooLarge``."""
    limit = inv.services.config.limits.max_size_email
    if size > limit:
        raise SetError("tooLarge", f"The message is larger than {limit} octets.", maxSize=limit)
