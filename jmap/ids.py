"""JMAP Id and date rules (RFC 8620 §1.2, §1.4)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
_STATE = re.compile(r"s([0-9]{1,19})")


def is_id(value: object) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def utc_date(timestamp: float) -> str:
    """A UTCDate: RFC 3339 with ``Z`` and no fractional seconds."""
    return datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode_state(modseq: int) -> str:
    """States are opaque strings; ours carry the modseq they stand for."""
    return f"s{modseq}"


def decode_state(state: object) -> int | None:
    """The modseq of a state we handed out, or None if it is not one of ours."""
    match = _STATE.fullmatch(state) if isinstance(state, str) else None
    return int(match.group(1)) if match else None
