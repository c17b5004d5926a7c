"""Feedback reports (ARF, RFC 5965) about our own mail: matched to the submission they
answer, recorded, and turned into suppressions.

Inbound delivery hands every message to ``consume_feedback`` before filing it. A message
that is an ARF report (``arf.parse_arf``) is matched to one of our submissions by

1. a genuine bounce token (``bounces.parse_bounce_address``: an HMAC under the server's
   key) in the address the report was sent to, its ``Original-Mail-From``, or the
   reported message's ``Return-Path``: the envelope sender we sent it with; else
2. the reported message's ``Message-ID``, looked up in the accounts the report was
   addressed to and the account of its ``From`` address: each EmailSubmission leaves a
   ``_SentMessage`` record per Message-ID of its Email (made in the transaction that
   creates it, gone with it).

A matched report is recorded in the sending account as a ``_Complaint`` (id: the
inbound job's, so a job redone after a crash records nothing twice) holding the report's
blob, and it is **not filed as mail** anywhere: it is the server's business, not the
recipient's (RFC 6449 §4.1: feedback addresses are read by software). For the complaint
types (abuse, fraud, virus) each complained-about recipient goes on the sending account's
suppression list like a hard bounce (``kind: complaint``) and the complaint is counted
in ``fulmar_complaints_total``. The recipients are the report's ``Original-Rcpt-To``
fields that were recipients of that submission; without such a field, the submission's
only recipient. A report that matches nothing is ordinary mail and lands in the Inbox.

The report's fields are never believed beyond that (RFC 5965 §8): the token or the
Message-ID only says which submission to look at, and only that submission's own
recipients can be suppressed. Someone who saw the message (a recipient: the token and the
Message-ID are in it) can at worst have another recipient of the same message suppressed
for that sender.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from email.utils import getaddresses
from typing import Any

from jmap.services import Services
from jmap.store.base import NotFoundError, Transaction
from jmap.store.jobs import Job

from .arf import MAX_REPORT_OCTETS, FeedbackReport, parse_arf
from .bounces import parse_bounce_address, suppress, verp_secret
from .local import LocalDirectory
from .mail_metrics import MAIL_METRICS, sending_domain
from .queues import HOLD_PREFIX, release_hold

log = logging.getLogger("fulmar.smtp.feedback")

COMPLAINT = "_Complaint"
SENT = "_SentMessage"
SUBMISSION = "EmailSubmission"
#: feedback types that are complaints about the message (RFC 5965 §7.3); others
#: (not-spam, auth-failure, ...) are recorded but suppress nothing
COMPLAINT_TYPES = frozenset({"abuse", "fraud", "virus"})
#: the blob reference of a complaint's report
REPORT_REF = "complaint:"


@dataclass(frozen=True)
class Match:
    account_id: str
    submission_id: str
    #: the submission's document, when it still exists (SMTP submissions have none)
    submission: dict[str, Any] | None


def sent_id(message_id: str) -> str:
    """The ``_SentMessage`` id of a Message-ID (``<…>`` or bare, any case)."""
    key = message_id.strip().strip("<>").strip().lower()
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:32]


async def remember_sent(tx: Transaction, message_ids: list[str], submission_id: str) -> None:
    """Record which submission sent these Message-IDs (in its creating transaction)."""
    for message_id in message_ids:
        doc = {"id": sent_id(message_id), "submissionId": submission_id}
        if (await tx.get(SENT, [doc["id"]])).get(doc["id"]) is None:
            await tx.create(SENT, doc)
        else:
            await tx.update(SENT, doc)


async def forget_sent(tx: Transaction, message_ids: list[str], submission_id: str) -> None:
    """The submission is destroyed: its Message-IDs no longer name it."""
    ids = [sent_id(m) for m in message_ids]
    for doc in (await tx.get(SENT, ids)).values():
        if doc["submissionId"] == submission_id:
            await tx.destroy(SENT, doc["id"])


def _original(report: FeedbackReport) -> Message:
    return HeaderParser(policy=compat32).parsestr(report.original_headers or "")


def _bare(value: str | None) -> str:
    return (value or "").strip().strip("<>").strip().lower()


async def match_report(services: Services, job: Job, report: FeedbackReport) -> Match | None:
    """The submission a report answers, or None."""
    recipients = job.payload.get("recipients") or []
    original = _original(report)
    secret = await verp_secret(services.data)
    tokens = [
        *(r["address"] for r in recipients),
        _bare(report.original_mail_from),
        _bare(original.get("Return-Path")),
    ]
    for address in tokens:
        ids = parse_bounce_address(secret, address) if address else None
        if ids is not None:
            account_id, submission_id = ids
            try:
                _, docs = await services.data.get(account_id, SUBMISSION, [submission_id])
            except NotFoundError:  # the sending account is gone
                return None
            return Match(account_id, submission_id, docs[0] if docs else None)
    message_id = original.get("Message-ID")
    if not message_id:
        return None
    accounts = [r["accountId"] for r in recipients]
    directory = LocalDirectory(services.data)
    for _, address in getaddresses([str(v) for v in original.get_all("From") or []])[:4]:
        account = await directory.account_for(address) if "@" in address else None
        if account is not None:
            accounts.append(account)
    for account_id in dict.fromkeys(accounts):
        _, sent = await services.data.get(account_id, SENT, [sent_id(str(message_id))])
        if not sent:
            continue
        submission_id = sent[0]["submissionId"]
        _, docs = await services.data.get(account_id, SUBMISSION, [submission_id])
        if docs:
            return Match(account_id, submission_id, docs[0])
    return None


def complained_about(report: FeedbackReport, submission: dict[str, Any] | None) -> list[str]:
    """The recipients a report complains about, limited to the submission's own."""
    claimed = [_bare(r) for r in report.original_rcpt_to if _bare(r)]
    if submission is None:  # an SMTP submission: the genuine token is all there is
        return list(dict.fromkeys(claimed))
    sent = [r["email"] for r in submission.get("envelope", {}).get("rcptTo", [])]
    if not claimed:
        return sent if len(sent) == 1 else []
    lower = {s.lower(): s for s in sent}
    return [lower[c] for c in dict.fromkeys(claimed) if c in lower]


async def consume_feedback(services: Services, job: Job, octets: bytes, now: float) -> bool:
    """If the job's message is a feedback report about our mail, record it and return True
    (the message is not to be filed); False for any other message."""
    if b"feedback-report" not in octets[:MAX_REPORT_OCTETS].lower():
        return False  # the cheap test: no ARF without its report-type
    report = await asyncio.to_thread(parse_arf, octets)
    if report is None:
        return False
    match = await match_report(services, job, report)
    if match is None:
        log.info("inbound job %s: a feedback report about no message of ours", job.id)
        return False
    mail_from = (match.submission or {}).get("envelope", {}).get("mailFrom", {}).get("email")
    domain = sending_domain(mail_from or "")
    recipients = complained_about(report, match.submission)
    try:
        created = await _record(services, job, report, match, recipients, domain, now)
    except NotFoundError:  # the sending account is gone: the report is ordinary mail
        return False
    await _release(services, job)
    await release_hold(services, job)
    if created and report.feedback_type in COMPLAINT_TYPES:
        MAIL_METRICS.complaints.labels(domain).inc()
    log.info(
        "inbound job %s: %s report about submission %s of %s recorded",
        job.id,
        report.feedback_type,
        match.submission_id,
        match.account_id,
    )
    return True


async def _record(
    services: Services,
    job: Job,
    report: FeedbackReport,
    match: Match,
    recipients: list[str],
    domain: str,
    now: float,
) -> bool:
    """The ``_Complaint`` and its suppressions, in one transaction; False if the job's
    complaint was recorded before (a redone job)."""
    async with services.write(match.account_id) as tx:
        if (await tx.get(COMPLAINT, [job.id])).get(job.id):
            return False
        await tx.create(
            COMPLAINT,
            {
                "id": job.id,
                "submissionId": match.submission_id,
                "feedbackType": report.feedback_type,
                "domain": domain,
                "recipients": recipients,
                "userAgent": report.user_agent,
                "sourceIp": report.source_ip,
                "arrivalDate": report.arrival_date,
                "at": now,
                "blobId": job.payload["blobId"],
            },
        )
        await tx.add_blob_refs([(job.payload["blobId"], REPORT_REF + job.id)])
        complaint = report.feedback_type in COMPLAINT_TYPES
        if complaint and services.config.smtp_suppress_days:
            for rcpt in recipients:
                reason = f"complaint: {report.feedback_type}"
                await suppress(tx, rcpt, reason, now, kind="complaint")
    return True


async def _release(services: Services, job: Job) -> None:
    """Drop the queue's hold on the report's blob (the complaint holds it now)."""
    recipients = job.payload.get("recipients") or []
    if recipients:
        try:
            async with services.write(recipients[0]["accountId"]) as tx:
                await tx.remove_blob_refs(HOLD_PREFIX + job.id)
        except NotFoundError:  # the account is gone, and its refs with it
            pass
