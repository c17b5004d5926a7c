"""Sending rate per account: messages per hour, counted in the submitting transaction.

The count is a sliding window estimated from two fixed hours (this one, and the last one
weighted by how much of it the window still covers), so one small document per account
is enough and a burst at the turn of the hour cannot double the limit. It is written in
the transaction that creates the submission, so a refused or failed call charges nothing.
"""

from __future__ import annotations

from jmap.store.base import Transaction

HOUR = 3600.0
RATE_TYPE, RATE_ID = "_SendRate", "hourly"


class RateLimited(Exception):
    """The account sent its allowance; ``retry_after`` seconds until the next one fits."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"sending rate limit reached; try again in {retry_after:.0f} s")
        self.retry_after = retry_after


def _window(doc: dict | None, now: float) -> tuple[int, int, int]:
    """(this hour's number, its count, the previous hour's count) at ``now``."""
    hour = int(now // HOUR)
    if doc is None or doc["hour"] < hour - 1:
        return hour, 0, 0
    if doc["hour"] == hour - 1:
        return hour, 0, doc["count"]
    return hour, doc["count"], doc["previous"]


def estimate(doc: dict | None, now: float) -> float:
    hour, count, previous = _window(doc, now)
    return count + previous * (1.0 - (now - hour * HOUR) / HOUR)


async def charge(tx: Transaction, now: float, limit: int, messages: int = 1) -> None:
    """Count ``messages`` more for the transaction's account, or raise ``RateLimited``.
    A limit of 0 means no limit."""
    if limit <= 0:
        return
    doc = (await tx.get(RATE_TYPE, [RATE_ID])).get(RATE_ID)
    if estimate(doc, now) + messages > limit:
        raise RateLimited(_retry_after(doc, now, limit, messages))
    hour, count, previous = _window(doc, now)
    new = {"id": RATE_ID, "hour": hour, "count": count + messages, "previous": previous}
    if doc is None:
        await tx.create(RATE_TYPE, new)
    else:
        await tx.update(RATE_TYPE, new)


def _retry_after(doc: dict | None, now: float, limit: int, messages: int) -> float:
    """Seconds until the estimate has room for ``messages`` (at most two hours)."""
    step = 60.0
    waited = step
    while waited < 2 * HOUR and estimate(doc, now + waited) + messages > limit:
        waited += step
    return waited
