"""The jobs the SMTP gateway puts in the data role's queue, and their payloads.

``outbound``: one EmailSubmission to send, enqueued in the transaction that creates it::

    {"accountId", "submissionId", "blobId", "mailFrom", "rcptTo": [address, ...],
     "pending": [address, ...], "firstAttempt": float | None, "delayedSent": bool}

``inbound``: a message for local mailboxes, consumed by inbound delivery (smtpin)::

    {"blobId", "mailFrom", "recipients": [{"address", "accountId"}], "receivedAt": float,
     "folder": "inbox", "heldBy": account id (optional)}

The queued blob is held by the blob ref ``inbound:<job id>`` (``HOLD_PREFIX``) in the
first recipient's account, or in the ``heldBy`` account when the job names one (the
outbound side's local copies: the sender's account holds them); delivery drops it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jmap.store.base import NotFoundError

if TYPE_CHECKING:
    from jmap.services import Services
    from jmap.store.jobs import Job

OUTBOUND = "outbound"
INBOUND = "inbound"
#: the blob ref holding a queued inbound job's message
HOLD_PREFIX = "inbound:"
HELD_BY = "heldBy"


def outbound_job_id(account_id: str, submission_id: str) -> str:
    return f"{account_id}/{submission_id}"


def send_ref(submission_id: str) -> str:
    """The blob reference that keeps the message to send until its job is done: the
    Email and the EmailSubmission may both be destroyed before that (RFC 8621 §7.5)."""
    return f"send:{submission_id}"


def outbound_payload(
    account_id: str, submission_id: str, blob_id: str, mail_from: str, rcpt_to: list[str]
) -> dict[str, Any]:
    return {
        "accountId": account_id,
        "submissionId": submission_id,
        "blobId": blob_id,
        "mailFrom": mail_from,
        "rcptTo": rcpt_to,
        "pending": list(rcpt_to),
        "firstAttempt": None,
        "delayedSent": False,
    }


def inbound_payload(
    blob_id: str, mail_from: str, recipients: list[tuple[str, str]], received_at: float
) -> dict[str, Any]:
    return {
        "blobId": blob_id,
        "mailFrom": mail_from,
        "recipients": [{"address": a, "accountId": acc} for a, acc in recipients],
        "receivedAt": received_at,
        "folder": "inbox",
    }


async def release_hold(services: Services, job: Job) -> None:
    """After delivery: drop a ``heldBy`` account's hold on the job's blob (the first
    recipient's is dropped as its copy is filed)."""
    holder = job.payload.get(HELD_BY)
    if holder:
        try:
            async with services.write(holder) as tx:
                await tx.remove_blob_refs(HOLD_PREFIX + job.id)
        except NotFoundError:  # the account is gone, and its refs with it
            pass
