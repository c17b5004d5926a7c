"""JMAP Id and date rules (RFC 8620 §1.2, §1.4)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
_STATE = re.compile(r"s([0-9]{1,19})")
#: RFC 3339 §5.6 ``date-time`` with the upper-case letters RFC 8620 §1.4 requires
_DATE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(Z|([+-])([0-9]{2}):([0-9]{2}))"
)
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def is_id(value: object) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def utc_date(timestamp: float) -> str:
    """A UTCDate: RFC 3339 with ``Z`` and no fractional seconds."""
    return datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _days_in_month(year: int, month: int) -> int:
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return 29 if month == 2 and leap else _MONTH_DAYS[month - 1]


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar (year 0 included)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def timestamp(value: object, *, utc: bool = False) -> float | None:
    """Seconds since the epoch of a JMAP Date (``utc``: a UTCDate), None if it is not one.

    Every RFC 3339 ``date-time`` with upper-case letters is a Date, with any number of
    fractional digits (JavaScript writes ``.960Z``), if it names a real instant: no
    February 30th, no hour 24, no offset beyond 23:59. A leap second (``:60``) is taken
    only at 23:59 UTC, where RFC 3339 §5.7 puts them, and counts as the next second.
    """
    match = _DATE.fullmatch(value) if isinstance(value, str) else None
    if match is None or (utc and match.group(8) != "Z"):
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    offset = 0
    if match.group(8) != "Z":
        offset_hours, offset_minutes = int(match.group(10)), int(match.group(11))
        if offset_hours > 23 or offset_minutes > 59:
            return None
        offset = (offset_hours * 60 + offset_minutes) * (1 if match.group(9) == "+" else -1)
    if not 1 <= month <= 12 or not 1 <= day <= _days_in_month(year, month):
        return None
    if hour > 23 or minute > 59 or second > 60:
        return None
    if second == 60 and (hour * 60 + minute - offset) % 1440 != 1439:
        return None
    seconds = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    fraction = match.group(7)
    return seconds - offset * 60 + (int(fraction[:9]) / 10 ** len(fraction[:9]) if fraction else 0)


def is_date(value: object) -> bool:
    return timestamp(value) is not None


def is_utc_date(value: object) -> bool:
    return timestamp(value, utc=True) is not None


def normal_date(value: str) -> str:
    """A valid Date in the normalised form of RFC 8620 §1.4: no fraction if it is zero.

    Other fractions keep their digits without trailing zeros (``.960`` becomes ``.96``).
    """
    head, dot, rest = value.partition(".")
    if not dot:
        return value
    split = len(rest) - len(rest.lstrip("0123456789"))
    digits, offset = rest[:split].rstrip("0"), rest[split:]
    return f"{head}.{digits}{offset}" if digits else head + offset


def encode_state(modseq: int) -> str:
    """States are opaque strings; ours carry the modseq they stand for."""
    return f"s{modseq}"


def decode_state(state: object) -> int | None:
    """The modseq of a state we handed out, or None if it is not one of ours."""
    match = _STATE.fullmatch(state) if isinstance(state, str) else None
    return int(match.group(1)) if match else None
