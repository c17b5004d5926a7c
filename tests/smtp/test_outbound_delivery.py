"""Delivery to a real SMTP server (an aiosmtpd sink on 127.0.0.1) through smtp_routes:
per-recipient replies recorded on the submission, Bcc removed, each change published."""

from __future__ import annotations

import email
from email.policy import default

from smtp_gateway.bounces import parse_bounce_address, verp_secret
from tests.smtp.outkit import Fulmar, Sink, run

ALICE = "alice@example.com"


def test_delivered_yes_with_the_sinks_reply_and_no_bcc(tmp_path):
    with Sink() as sink:

        async def body(f: Fulmar):
            draft = await f.draft(
                ALICE, to=["rcpt@example.net"], cc=["Copy@example.net"], bcc=["hidden@example.net"]
            )
            created = (await f.submit(ALICE, draft["id"]))["created"]["s"]
            assert created["undoStatus"] == "pending"
            before = len(f.bus.events)
            state = (await f.call(ALICE, "EmailSubmission/get", {"ids": []}))["state"]
            assert await f.worker().run_once() == 1
            changes = await f.call(ALICE, "EmailSubmission/changes", {"sinceState": state})
            assert changes["updated"] == [created["id"]] and changes["created"] == []
            ids = (f.accounts[ALICE], created["id"])
            secret = await verp_secret(f.data)
            return ids, secret, await f.submission(ALICE, created["id"]), f.bus.events[before:]

        ids, secret, sub, events = run(tmp_path, body, smtp_routes=(("example.net", sink.address),))
    (got,) = sink.received  # one transaction for the three recipients of one domain
    # the envelope sender is alice's address with the submission's bounce token
    assert got.mail_from.startswith("alice+b=") and got.mail_from.endswith("@example.com")
    assert parse_bounce_address(secret, got.mail_from) == ids
    assert sorted(got.rcpts) == ["Copy@example.net", "hidden@example.net", "rcpt@example.net"]
    message = email.message_from_bytes(got.data, policy=default)
    assert message["Bcc"] is None and b"hidden@example.net" not in got.data.split(b"\r\n\r\n")[0]
    assert message["To"] == "rcpt@example.net"
    assert sub["undoStatus"] == "final"
    for rcpt in ("rcpt@example.net", "Copy@example.net", "hidden@example.net"):
        status = sub["deliveryStatus"][rcpt]
        assert status["delivered"] == "yes", status
        assert status["smtpReply"] == "250 2.0.0 Ok: queued as SINK1"
        assert status["displayed"] == "unknown"
    # undoStatus final, then the delivery status: each a published EmailSubmission change
    changes = [c for _, c in events if "EmailSubmission" in c]
    assert len(changes) == 2 and changes[0]["EmailSubmission"] != changes[1]["EmailSubmission"]


def test_permanent_failure_gives_no_and_a_dsn_in_the_senders_inbox(tmp_path):
    with Sink() as sink:
        sink.handler.rcpt_replies["nobody@example.net"] = "550 5.1.1 No such user here"

        async def body(f: Fulmar):
            draft = await f.draft(ALICE, to=["nobody@example.net", "rcpt@example.net"])
            created = (await f.submit(ALICE, draft["id"]))["created"]["s"]
            await f.worker().run_once()
            sub = await f.submission(ALICE, created["id"])
            jobs = await f.inbound_jobs()
            dsns = [await f.services.blobs.get(j["blobId"]) for j in jobs]
            return f.accounts[ALICE], sub, jobs, dsns, await f.outbound_due()

        account, sub, jobs, dsns, due = run(
            tmp_path, body, smtp_routes=(("example.net", sink.address),)
        )
    assert sub["deliveryStatus"]["rcpt@example.net"]["delivered"] == "yes"
    failed = sub["deliveryStatus"]["nobody@example.net"]
    assert failed == {
        "delivered": "no",
        "smtpReply": "550 5.1.1 No such user here",
        "displayed": "unknown",
    }
    assert due is None  # nothing left to retry
    (job,) = jobs
    assert job["mailFrom"] == "" and job["folder"] == "inbox"
    assert job["recipients"] == [{"address": ALICE, "accountId": account}]
    assert isinstance(job["receivedAt"], float)
    assert sub["dsnBlobIds"] == [job["blobId"]]
    report = email.message_from_bytes(dsns[0], policy=default)
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    _human, status, headers = report.iter_parts()
    assert status.get_content_type() == "message/delivery-status"
    per_message, per_rcpt = status.get_payload()
    assert per_message["Reporting-MTA"] == "dns; out.example.com"
    assert per_rcpt["Final-Recipient"] == "rfc822; nobody@example.net"
    assert per_rcpt["Action"] == "failed" and per_rcpt["Status"] == "5.1.1"
    assert per_rcpt["Diagnostic-Code"] == "smtp; 550 5.1.1 No such user here"
    assert headers.get_content_type() == "text/rfc822-headers"
    assert "Subject: Hello" in headers.get_content()
    assert report["To"] == ALICE and report["Auto-Submitted"] == "auto-replied"
