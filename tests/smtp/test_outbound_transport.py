"""How messages travel: STARTTLS whenever offered, the source address, 8BITMIME and
SMTPUTF8 only when needed and offered; the message survives its Email and submission."""

from __future__ import annotations

import ssl

from jmap.housekeeping import sweep_orphan_blobs
from tests.e2e.test_jmapc_client import self_signed_certificate
from tests.smtp.outkit import Fulmar, Sink, run

ALICE = "alice@example.com"


def test_starttls_when_offered_from_the_source_address(tmp_path):
    cert, key = self_signed_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with Sink(tls_context=context) as tls_sink, Sink() as plain_sink:

        async def body(f: Fulmar):
            draft = await f.draft(ALICE, to=["x@tls.example", "y@plain.example"])
            created = (await f.submit(ALICE, draft["id"]))["created"]["s"]
            await f.worker().run_once()
            return await f.submission(ALICE, created["id"])

        sub = run(
            tmp_path / "f",
            body,
            smtp_routes=(("tls.example", tls_sink.address), ("plain.example", plain_sink.address)),
            smtp_source_address="127.0.0.1",
        )
    assert all(s["delivered"] == "yes" for s in sub["deliveryStatus"].values())
    (secured,) = tls_sink.received
    (plain,) = plain_sink.received
    assert secured.tls is True and plain.tls is False
    assert secured.peer == "127.0.0.1"


RAW_8BIT = (
    "From: alice@example.com\r\nTo: x@example.net\r\nSubject: caf\u00e9\r\n"
    "Date: Tue, 1 Dec 2026 10:00:00 +0000\r\nMessage-ID: <8bit@example.com>\r\n"
    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n\r\nCaf\u00e9 cr\u00e8me.\r\n"
).encode()


def test_8bitmime_and_smtputf8_only_when_needed_and_offered(tmp_path):
    with Sink(enable_SMTPUTF8=False) as plain, Sink(enable_SMTPUTF8=True) as utf8:

        async def body(f: Fulmar):
            eight = await f.import_raw(ALICE, RAW_8BIT)
            ascii_draft = await f.draft(ALICE, to=["y@plain.example"])
            out = []
            for email_id, rcpt in (
                (eight["id"], "x@plain.example"),
                (ascii_draft["id"], "y@plain.example"),
                (ascii_draft["id"], "jos\u00e9@utf8.example"),
                (ascii_draft["id"], "jos\u00e9@plain.example"),
            ):
                envelope = {"mailFrom": {"email": ALICE}, "rcptTo": [{"email": rcpt}]}
                created = (await f.submit(ALICE, email_id, envelope))["created"]["s"]
                out.append((rcpt, created["id"]))
            await f.worker().run_once()
            dsns = [await f.services.blobs.get(j["blobId"]) for j in await f.inbound_jobs()]
            return {r: (await f.submission(ALICE, s))["deliveryStatus"][r] for r, s in out}, dsns

        status, dsns = run(
            tmp_path,
            body,
            smtp_routes=(("plain.example", plain.address), ("utf8.example", utf8.address)),
        )
    by_rcpt = {r.rcpts[0]: r for r in plain.received + utf8.received}
    assert "BODY=8BITMIME" in by_rcpt["x@plain.example"].mail_options
    assert by_rcpt["y@plain.example"].mail_options == []
    assert "SMTPUTF8" in by_rcpt["jos\u00e9@utf8.example"].mail_options
    assert status["jos\u00e9@utf8.example"]["delivered"] == "yes"
    # no SMTPUTF8 on offer: the address cannot be sent there (RFC 6531 §3.2)
    assert status["jos\u00e9@plain.example"]["delivered"] == "no"
    assert status["jos\u00e9@plain.example"]["smtpReply"].startswith("553 5.6.7")
    (dsn,) = dsns  # RFC 6533 §3: an internationalised address in utf-8-addr-xtext
    assert b"Final-Recipient: utf-8; jos\\x{E9}@plain.example" in dsn


def test_delivery_survives_destroying_the_email_and_the_submission(tmp_path):
    with Sink() as sink:

        async def body(f: Fulmar):
            draft = await f.draft(ALICE, to=["x@example.net"], bcc=["y@example.net"])
            identity = await f.identity(ALICE)
            responses = await f.request(
                ALICE,
                [
                    [
                        "EmailSubmission/set",
                        {
                            "accountId": f.accounts[ALICE],
                            "create": {"s": {"identityId": identity, "emailId": draft["id"]}},
                            "onSuccessDestroyEmail": ["#s"],
                        },
                        "c",
                    ]
                ],
            )
            sub_id = responses[0][1]["created"]["s"]["id"]
            destroyed = await f.call(ALICE, "EmailSubmission/set", {"destroy": [sub_id]})
            # the orphan sweep runs: the message to send is still held by its job
            await sweep_orphan_blobs(f.data, f.services.blobs, f.clock() + 3600)
            await f.worker().run_once()
            return responses[1][1], destroyed, await f.outbound_due()

        email_set, destroyed, due = run(
            tmp_path, body, smtp_routes=(("example.net", sink.address),)
        )
    assert email_set["destroyed"] and destroyed["destroyed"]
    (got,) = sink.received
    assert sorted(got.rcpts) == ["x@example.net", "y@example.net"]
    assert b"Bcc:" not in got.data and due is None
