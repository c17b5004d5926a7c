"""Feedback reports (ARF, RFC 5965) about our own mail: matched to the submission by the
bounce token or the Message-ID, recorded, the recipient suppressed, not filed as mail."""

from __future__ import annotations

import sqlite3

from jmap.store.jobs import new_job_id
from smtp_gateway.bounces import SUPPRESSION
from smtp_gateway.delivery import DeliveryWorker
from smtp_gateway.feedback import COMPLAINT
from smtp_gateway.mail_metrics import MAIL_METRICS
from smtp_gateway.queues import HOLD_PREFIX, INBOUND, inbound_payload
from tests.smtp.outkit import Fulmar, Sink, run

ALICE = "alice@example.com"


def arf(
    original: bytes,
    feedback_type: str = "abuse",
    mail_from: str | None = None,
    rcpts: tuple[str, ...] = (),
    headers_only: bool = False,
) -> bytes:
    """A feedback report as a mailbox provider's feedback loop sends one (RFC 5965 §2)."""
    fields = [f"Feedback-Type: {feedback_type}", "User-Agent: ISP-FBL/2.1", "Version: 1"]
    if mail_from:
        fields.append(f"Original-Mail-From: <{mail_from}>")
    fields += [f"Original-Rcpt-To: <{r}>" for r in rcpts]
    fields += ["Arrival-Date: Wed, 02 Dec 2026 10:00:00 +0000", "Source-IP: 127.0.0.1"]
    if headers_only:
        head = original.split(b"\r\n\r\n", 1)[0] + b"\r\n"
        third = b"Content-Type: text/rfc822-headers\r\n\r\n" + head
    else:
        third = b"Content-Type: message/rfc822\r\n\r\n" + original
    return (
        b"From: <fbl@isp.example>\r\nTo: <abuse-desk@example.com>\r\n"
        b"Subject: complaint about message from 127.0.0.1\r\n"
        b"Date: Wed, 02 Dec 2026 11:00:00 +0000\r\nMessage-ID: <"
        + new_job_id().encode()
        + b"@isp.example>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=feedback-report; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n"
        b"--b1\r\nContent-Type: message/feedback-report\r\n\r\n"
        + "\r\n".join(fields).encode()
        + b"\r\n\r\n--b1\r\n"
        + third
        + b"\r\n--b1--\r\n"
    )


async def deliver(f: Fulmar, raw: bytes, address: str, login: str = ALICE, times: int = 1):
    """Queue ``raw`` for ``address`` as the MX does (blob, hold, job), then run the
    delivery worker on it ``times`` times (a redo after a crash before ``complete``)."""
    blob_id = await f.services.blobs.put(raw)
    account = f.accounts[login]
    job_id = new_job_id()
    payload = inbound_payload(blob_id, "fbl@isp.example", [(address, account)], f.clock())
    async with f.data.transaction(account) as tx:
        await tx.add_blob_refs([(blob_id, HOLD_PREFIX + job_id)])
        await tx.enqueue(INBOUND, payload, f.clock(), job_id)
    worker = DeliveryWorker(f.services, 60, owner="test", clock=f.clock)
    (job,) = await f.data.jobs.claim(INBOUND, "test", f.clock(), 60)
    for _ in range(times):
        assert await worker.deliver(job)
    await f.data.jobs.complete(job)
    return blob_id


def blob_refs(tmp_path, blob_id: str) -> list[str]:
    uri = f"file:{tmp_path / 'fulmar.db'}?mode=ro"
    with sqlite3.connect(uri, uri=True) as conn:
        rows = conn.execute("SELECT ref FROM blob_refs WHERE blob_id = ?", (blob_id,))
        return sorted(r[0] for r in rows)


async def records(f: Fulmar, type_name: str, login: str = ALICE) -> list[dict]:
    _, docs = await f.data.get(f.accounts[login], type_name, None)
    return docs


async def emails(f: Fulmar, login: str = ALICE) -> int:
    _, docs = await f.data.get(f.accounts[login], "Email", None)
    return len(docs)


def complaints(domain: str) -> float:
    return MAIL_METRICS.complaints.labels(domain)._value.get()


def test_a_complaint_to_the_bounce_address_is_recorded_not_filed_and_suppresses(tmp_path):
    with Sink() as sink:

        async def body(f: Fulmar):
            draft = await f.draft(ALICE, to=["ann@isp.example", "ben@isp.example"])
            created = (await f.submit(ALICE, draft["id"]))["created"]["s"]
            await f.worker().run_once()
            (got,) = sink.received
            before = await emails(f)
            counted = complaints("example.com")
            report = arf(got.data, mail_from=got.mail_from, rcpts=("ben@isp.example",))
            blob = await deliver(f, report, got.mail_from, times=2)  # redone: recorded once
            state = {
                "filed": await emails(f) - before,
                "complaints": await records(f, COMPLAINT),
                "suppressed": await records(f, SUPPRESSION),
                "held": blob in await f.data.blobs_held([blob]),
                "counted": complaints("example.com") - counted,
            }
            state["refs"] = blob_refs(tmp_path, blob)
            again = await f.draft(ALICE, to=["ann@isp.example", "ben@isp.example"])
            await f.submit(ALICE, again["id"])
            f.clock.t += 1
            await f.worker().run_once()
            return created, got, state

        created, got, state = run(tmp_path, body, smtp_routes=(("isp.example", sink.address),))
        second = sink.received[1]
    assert got.mail_from.startswith("alice+b=")
    assert state["filed"] == 0  # matched: not ordinary mail
    (complaint,) = state["complaints"]
    assert complaint["submissionId"] == created["id"]
    assert complaint["feedbackType"] == "abuse" and complaint["domain"] == "example.com"
    assert complaint["recipients"] == ["ben@isp.example"]
    assert [(s["id"], s["kind"]) for s in state["suppressed"]] == [("ben@isp.example", "complaint")]
    assert state["held"] and state["counted"] == 1
    # the queue's hold is gone: the complaint alone keeps the report
    assert state["refs"] == [f"complaint:{complaint['id']}"]
    assert second.rcpts == ["ann@isp.example"]  # the complainer is not mailed again


def test_a_report_matched_by_message_id_alone(tmp_path):
    """Headers only, no Original-Mail-From, the Return-Path gone, no Original-Rcpt-To:
    the Message-ID finds the submission, and its one recipient is the complainer."""
    with Sink() as sink:

        async def body(f: Fulmar):
            draft = await f.draft(ALICE, to=["ann@isp.example"])
            created = (await f.submit(ALICE, draft["id"]))["created"]["s"]
            await f.worker().run_once()
            (got,) = sink.received
            report = arf(got.data, headers_only=True)
            await deliver(f, report, ALICE)
            shown = await f.submission(ALICE, created["id"])
            assert not [k for k in shown if k.startswith("_")], shown  # _messageIds hidden
            return created, await records(f, COMPLAINT), await records(f, SUPPRESSION)

        created, found, suppressed = run(
            tmp_path, body, smtp_routes=(("isp.example", sink.address),)
        )
    (complaint,) = found
    assert complaint["submissionId"] == created["id"]
    assert complaint["recipients"] == ["ann@isp.example"]
    assert [s["id"] for s in suppressed] == ["ann@isp.example"]


def test_reports_about_nothing_of_ours_land_as_mail_and_not_spam_suppresses_nothing(tmp_path):
    with Sink() as sink:

        async def body(f: Fulmar):
            draft = await f.draft(ALICE, to=["ann@isp.example", "ben@isp.example"])
            created = (await f.submit(ALICE, draft["id"]))["created"]["s"]
            await f.worker().run_once()
            (got,) = sink.received
            before = await emails(f)
            # a forged token, an unknown Message-ID: ordinary mail
            forged = got.data.replace(b"Message-ID: <", b"Message-ID: <x")
            await deliver(f, arf(forged, mail_from="alice+b=aaaa.bbbbbbbbbbbb@example.com"), ALICE)
            # not ARF at all, though it names the type in its body
            await deliver(f, b"Subject: hi\r\n\r\nfeedback-report\r\n", got.mail_from)
            landed = await emails(f) - before
            # a not-spam report is recorded but suppresses nothing
            await deliver(f, arf(got.data, "not-spam", rcpts=("ann@isp.example",)), ALICE)
            kept = await records(f, COMPLAINT)
            # once the submission is destroyed its Message-ID names nothing any more
            await f.call(ALICE, "EmailSubmission/set", {"destroy": [created["id"]]})
            await deliver(f, arf(got.data, headers_only=True), ALICE)
            after_destroy = await emails(f) - before
            return landed, kept, await records(f, SUPPRESSION), after_destroy

        landed, kept, suppressed, after_destroy = run(
            tmp_path, body, smtp_routes=(("isp.example", sink.address),)
        )
    assert landed == 2
    assert [c["feedbackType"] for c in kept] == ["not-spam"]
    assert suppressed == []
    assert after_destroy == 3


def test_a_report_about_a_removed_account_lands_as_mail(tmp_path):
    with Sink() as sink:

        async def body(f: Fulmar):
            draft = await f.draft(ALICE, to=["ann@isp.example"])
            await f.submit(ALICE, draft["id"])
            await f.worker().run_once()
            (got,) = sink.received
            await f.data.remove_principal(ALICE)
            report = arf(got.data, mail_from=got.mail_from, rcpts=("ann@isp.example",))
            await deliver(f, report, "bob@example.com", login="bob@example.com")
            return await emails(f, "bob@example.com")

        assert run(tmp_path, body, smtp_routes=(("isp.example", sink.address),)) == 1
