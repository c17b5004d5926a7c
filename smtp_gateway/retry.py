"""When an undelivered recipient is tried again (RFC 5321 §4.5.4.1: retry at least 30
minutes apart after the first tries, give up after 4-5 days).

The schedule after each failed attempt: 5, 10, 20, 40 minutes, 1 hour, 2 hours, then every
4 hours; the last attempt falls at the give-up time itself. With the defaults that is 14
attempts in the first day and a "delayed" DSN after the attempt at 4 h 15 min.
"""

from __future__ import annotations

BACKOFF_SECONDS = (300.0, 600.0, 1200.0, 2400.0, 3600.0, 7200.0)
LATER_SECONDS = 14400.0


def backoff(failed_attempts: int) -> float:
    """The wait after the ``failed_attempts``-th failure (1 for the first)."""
    index = failed_attempts - 1
    return BACKOFF_SECONDS[index] if 0 <= index < len(BACKOFF_SECONDS) else LATER_SECONDS


def next_attempt(first_attempt: float, failed_attempts: int, now: float, give_up: float) -> float:
    """When to try again: the backoff from now, but never past the give-up time."""
    return min(now + backoff(failed_attempts), first_attempt + give_up)
