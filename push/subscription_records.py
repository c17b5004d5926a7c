"""The stored form of a PushSubscription, as push delivery and the methods both read it.

A PushSubscription belongs to the principal, not to an account: it is stored as a
``PushSubscription`` document in the principal's personal account (so it is sharded, backed up
and removed with the principal like everything else) and never shown through any account.
Besides the JMAP properties the document keeps ``_principal``, ``_credential`` (which
credentials made it: ``jmap.auth.Credentials.id``), ``_code`` (the verification code the
server sent) and ``_created``. A subscription is active once the client has set
``verificationCode`` to ``_code``, until ``expires``.
"""

from __future__ import annotations

from datetime import datetime

from jmap.store.base import Document

TYPE = "PushSubscription"


def parse_date(value: str | None) -> float | None:
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def is_verified(doc: Document) -> bool:
    """Has the client set ``verificationCode`` to the code the server sent?"""
    return doc.get("verificationCode") == doc.get("_code")


def is_active(doc: Document, now: float) -> bool:
    """Verified and not expired: the only state in which pushes are sent."""
    return is_verified(doc) and not is_expired(doc, now)


def is_expired(doc: Document, now: float) -> bool:
    expires = parse_date(doc.get("expires"))
    return expires is not None and expires <= now
