"""Vacation auto-replies after delivery (RFC 8621 §8, RFC 3834), sent through the outbound
queue with a null envelope sender (RFC 3834 §3.3), at most once per sender per 7 days.

Whom an account answered, and when, is a server record of that account
(``_VacationReply``, never pushed). The reply's outbound job names no EmailSubmission: the
outbound worker records nothing on one and sends no DSN for a null sender.
"""

from __future__ import annotations

import asyncio
import logging

from jmap.services import Services

from .autoreply import build_reply, is_active, refusal, reply_key
from .queues import OUTBOUND, outbound_job_id, outbound_payload, send_ref

log = logging.getLogger("fulmar.smtp.vacation")

VACATION, SINGLETON = "VacationResponse", "singleton"
REPLIED = "_VacationReply"


def base_address(address: str) -> str:
    """``user+tag@domain`` -> ``user@domain``, lower-cased."""
    local, _, domain = address.lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


async def reply_if_away(
    services: Services, account_id: str, recipient: str, raw: bytes, mail_from: str, now: float
) -> bool:
    """Queue the account's vacation reply to ``mail_from`` if RFC 3834 allows one; True if
    one was queued."""
    data = services.data
    _, docs = await data.get(account_id, VACATION, [SINGLETON])
    vacation = docs[0] if docs else None
    if not is_active(vacation, now):
        return False
    assert vacation is not None
    sender = mail_from.strip().strip("<>")
    # once per sender: a sub-address (VERP bounce tokens: user+b=…@) is the same sender
    key = reply_key(account_id, base_address(sender))
    _, replied = await data.get(account_id, REPLIED, [key])
    last = replied[0]["at"] if replied else None
    me = base_address(recipient)
    reason = refusal(raw, mail_from, {recipient.lower(), me}, vacation, now, last)
    if reason is not None:
        log.debug("no vacation reply from %s to %r: %s", account_id, sender, reason)
        return False
    reply = await asyncio.to_thread(build_reply, raw, vacation, me, sender, now)
    blob_id = await services.blobs.put(reply)
    reply_id = f"vacation-{key}-{int(now)}"
    async with services.write(account_id) as tx:
        record = {"id": key, "at": now}
        if (await tx.get(REPLIED, [key])).get(key) is None:
            await tx.create(REPLIED, record)
        else:
            await tx.update(REPLIED, record)
        payload = outbound_payload(account_id, reply_id, blob_id, "", [sender])
        payload["signDomain"] = me.rpartition("@")[2]
        await tx.add_blob_refs([(blob_id, send_ref(reply_id))])
        await tx.enqueue(OUTBOUND, payload, now, outbound_job_id(account_id, reply_id))
    return True
