"""Bounces coming back: the signed token in the envelope sender names the submission a
later DSN answers; hard-bounced addresses are suppressed for the account."""

from __future__ import annotations

from smtp_gateway.bounces import (
    SUPPRESSION,
    bounce_address,
    parse_bounce_address,
    parse_dsn,
    record_bounce,
    verp_secret,
)
from smtp_gateway.dsn import RecipientReport, build_dsn
from tests.smtp.outkit import Fulmar, Sink, run

ALICE = "alice@example.com"
SECRET = b"k" * 32


def test_bounce_address_round_trip_and_forgeries():
    address = bounce_address(SECRET, "alice+news@example.com", "a1f00d", "S42")
    assert address.startswith("alice+b=") and address.endswith("@example.com")
    assert parse_bounce_address(SECRET, address) == ("a1f00d", "S42")
    assert parse_bounce_address(SECRET, address.upper()) == ("a1f00d", "S42")  # case-blind
    assert parse_bounce_address(b"x" * 32, address) is None  # another server's key
    local, _, domain = address.partition("@")
    forged = local[:-1] + ("0" if local[-1] != "0" else "1") + "@" + domain
    assert parse_bounce_address(SECRET, forged) is None
    assert parse_bounce_address(SECRET, "alice@example.com") is None
    assert parse_bounce_address(SECRET, "alice+b=zzzz.@example.com") is None
    # a local part that would pass 64 octets keeps the plain address
    long = "a" * 40 + "@example.com"
    assert bounce_address(SECRET, long, "a1f00d", "S42") == long


def test_parse_dsn_reads_each_recipient():
    raw = build_dsn(
        reporting_mta="mx.example.net",
        sender="alice@example.com",
        original=b"Subject: x\r\n\r\n",
        reports=[
            RecipientReport("Gone@example.net", "failed", "5.1.1", "550 5.1.1 unknown"),
            RecipientReport("jos\u00e9@example.net", "delayed", "4.2.2", "452 4.2.2 full"),
        ],
        arrival=1e9,
        now=1e9,
    )
    first, second = parse_dsn(raw)
    assert (first.address, first.action, first.status) == ("gone@example.net", "failed", "5.1.1")
    assert first.diagnostic == "550 5.1.1 unknown"
    assert second.address == "jos\u00e9@example.net" and second.action == "delayed"
    assert parse_dsn(b"Subject: not a report\r\n\r\nhello") == []


def test_a_later_dsn_updates_the_submission_and_suppresses_the_address(tmp_path):
    with Sink() as sink:

        async def body(f: Fulmar):
            draft = await f.draft(ALICE, to=["gone@example.net", "fine@example.net"])
            created = (await f.submit(ALICE, draft["id"]))["created"]["s"]
            await f.worker().run_once()
            (got,) = sink.received  # the remote took both; one bounces later
            dsn = build_dsn(
                reporting_mta="mx.example.net",
                sender=got.mail_from,
                original=got.data,
                reports=[RecipientReport("gone@example.net", "failed", "5.1.1", "550 5.1.1 No")],
                arrival=f.clock(),
                now=f.clock(),
            )
            forged = await record_bounce(f.services, "alice+b=aaaa.bbbb@example.com", dsn, 0)
            recorded = await record_bounce(f.services, got.mail_from, dsn, f.clock())
            # the same report again (its inbound job redone): listed once
            assert await record_bounce(f.services, got.mail_from, dsn, f.clock())
            sub = await f.submission(ALICE, created["id"])
            # a new message to the bounced address is not sent; the other one is
            again = await f.draft(ALICE, to=["gone@example.net", "fine@example.net"])
            second = (await f.submit(ALICE, again["id"]))["created"]["s"]
            f.clock.t += 1
            await f.worker().run_once()
            return forged, recorded, sub, await f.submission(ALICE, second["id"])

        forged, recorded, sub, second = run(
            tmp_path, body, smtp_routes=(("example.net", sink.address),)
        )
        rcpts = [r.rcpts for r in sink.received]
    assert forged is False and recorded is True
    assert sub["deliveryStatus"]["gone@example.net"]["delivered"] == "no"
    assert sub["deliveryStatus"]["gone@example.net"]["smtpReply"] == "550 5.1.1 No"
    assert sub["deliveryStatus"]["fine@example.net"]["delivered"] == "yes"
    assert len(sub["dsnBlobIds"]) == 1
    assert second["deliveryStatus"]["gone@example.net"]["delivered"] == "no"
    reply = second["deliveryStatus"]["gone@example.net"]["smtpReply"]
    assert reply.startswith("550 5.7.1") and "suppressed" in reply and "5.1.1" in reply
    assert rcpts[1] == ["fine@example.net"]


def test_a_5_1_x_at_rcpt_suppresses_but_a_4xx_or_other_5xx_does_not(tmp_path):
    with Sink() as sink:
        sink.handler.rcpt_replies.update(
            {
                "gone@example.net": "550 5.1.1 No such user",
                "policy@example.net": "550 5.7.1 Rejected by policy",
            }
        )

        async def body(f: Fulmar):
            for _ in range(2):
                draft = await f.draft(ALICE, to=["gone@example.net", "policy@example.net"])
                await f.submit(ALICE, draft["id"])
                await f.worker().run_once()
                f.clock.t += 1
            _, records = await f.data.get(f.accounts[ALICE], SUPPRESSION, None)
            return records, await verp_secret(f.data)

        records, _ = run(tmp_path, body, smtp_routes=(("example.net", sink.address),))
    assert [r["id"] for r in records] == ["gone@example.net"]
    # the second message was offered only to the address that was not suppressed
    assert sink.handler.rcpt_attempts == [
        "gone@example.net",
        "policy@example.net",
        "policy@example.net",
    ]


def test_suppression_can_be_turned_off(tmp_path):
    with Sink() as sink:
        sink.handler.rcpt_replies["gone@example.net"] = "550 5.1.1 No such user"

        async def body(f: Fulmar):
            for _ in range(2):
                draft = await f.draft(ALICE, to=["gone@example.net"])
                await f.submit(ALICE, draft["id"])
                await f.worker().run_once()

        run(tmp_path, body, smtp_routes=(("example.net", sink.address),), smtp_suppress_days=0)
    assert sink.handler.rcpt_attempts == ["gone@example.net", "gone@example.net"]
