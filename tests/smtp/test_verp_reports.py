"""Bounce addresses (VERP-style, signed) and the reports that come back: DSNs (RFC 3464)
and feedback reports (ARF, RFC 5965)."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from jmap.store.sqlite import SqliteDataStore
from smtp_gateway.reports import parse_arf, parse_dsn
from smtp_gateway.verp import MAX_LOCAL_PART, bounce_address, parse_bounce_address, verp_secret

SECRET = b"k" * 32


def test_bounce_address_round_trips_in_any_case():
    address = bounce_address(SECRET, "A1b2c3d4e5f6a7b8c", "S0z9", "example.com")
    assert address is not None and address.endswith("@example.com")
    assert len(address.split("@")[0]) <= MAX_LOCAL_PART
    assert parse_bounce_address(SECRET, address) == ("A1b2c3d4e5f6a7b8c", "S0z9")
    # some MTAs change the case of the local part; angle brackets come with a Return-Path
    assert parse_bounce_address(SECRET, f"<{address.upper()}>") == ("A1b2c3d4e5f6a7b8c", "S0z9")


def test_forged_or_foreign_addresses_are_not_ours():
    address = bounce_address(SECRET, "A1", "S1", "example.com")
    assert address is not None
    local, _, domain = address.partition("@")
    token, _, mac = local.partition(".")
    other = bounce_address(SECRET, "A2", "S1", "example.com")
    assert other is not None
    forged = f"{other.split('.')[0]}.{mac}@{domain}"  # another account's token, this MAC
    for candidate in (
        forged,
        f"{token}.{'a' * len(mac)}@{domain}",
        f"{token}@{domain}",
        "bob@example.com",
        "bounces+@example.com",
        "",
    ):
        assert parse_bounce_address(SECRET, candidate) is None, candidate
    assert parse_bounce_address(b"other secret", address) is None


def test_ids_too_long_for_a_local_part_get_no_bounce_address():
    assert bounce_address(SECRET, "A" * 40, "S" * 20, "example.com") is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_any_address_is_refused_never_an_exception(text):
    """Without the secret's MAC no text names a submission (and none raises)."""
    assert parse_bounce_address(SECRET, text) is None


def test_the_secret_is_made_once_and_shared(tmp_path):
    async def run() -> tuple[bytes, bytes, bytes]:
        first = SqliteDataStore(tmp_path / "a.db")
        await first.open()
        try:
            one, two = await asyncio.gather(verp_secret(first), verp_secret(first))
        finally:
            await first.close()
        again = SqliteDataStore(tmp_path / "a.db")
        await again.open()
        try:
            return one, two, await verp_secret(again)
        finally:
            await again.close()

    one, two, three = asyncio.run(run())
    assert one == two == three and len(one) == 32


DSN = b"""From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r
To: bounces+token@example.com\r
Subject: Undelivered Mail Returned to Sender\r
MIME-Version: 1.0\r
Content-Type: multipart/report; report-type=delivery-status; boundary="R"\r
\r
--R\r
Content-Type: text/plain\r
\r
Sorry.\r
--R\r
Content-Type: message/delivery-status\r
\r
Reporting-MTA: dns; mx.example.net\r
Original-Envelope-Id: env-77\r
\r
Final-Recipient: rfc822; gone@example.net\r
Action: failed\r
Status: 5.1.1\r
Remote-MTA: dns; mx.example.net\r
Diagnostic-Code: smtp; 550 5.1.1 <gone@example.net>: Recipient address\r
 rejected: User unknown\r
\r
Final-Recipient: rfc822;<later@example.net>\r
Action: delayed\r
Status: 4.4.1 (no answer)\r
\r
Final-Recipient: rfc822; odd@example.net\r
Action: exploded\r
Status: 9.9.9\r
--R\r
Content-Type: text/rfc822-headers\r
\r
Message-ID: <m1@example.com>\r
--R--\r
"""


def test_dsn_recipients_and_their_outcomes():
    report = parse_dsn(DSN)
    assert report is not None
    assert report.reporting_mta == "mx.example.net" and report.envelope_id == "env-77"
    gone, later = report.recipients  # the malformed third block is left out
    assert (gone.recipient, gone.action, gone.status, gone.permanent) == (
        "gone@example.net",
        "failed",
        "5.1.1",
        True,
    )
    assert gone.diagnostic is not None and "User unknown" in gone.diagnostic
    assert gone.remote_mta == "mx.example.net"
    assert (later.recipient, later.status, later.permanent) == ("later@example.net", "4.4.1", False)


def test_not_a_dsn():
    assert parse_dsn(b"From: a@b.c\r\nSubject: hi\r\n\r\nhello") is None
    plain_report = DSN.replace(b"report-type=delivery-status", b"report-type=disposition")
    assert parse_dsn(plain_report) is None
    assert parse_dsn(b"") is None


ARF = b"""From: <abuse@isp.example>\r
To: <fbl@example.com>\r
Subject: FW: Lunch\r
MIME-Version: 1.0\r
Content-Type: multipart/report; report-type=feedback-report; boundary="part"\r
\r
--part\r
Content-Type: text/plain\r
\r
This is an email abuse report.\r
--part\r
Content-Type: message/feedback-report\r
\r
Feedback-Type: abuse\r
User-Agent: SomeGenerator/1.0\r
Version: 1\r
Original-Mail-From: <bounces+abc.def@example.com>\r
Original-Rcpt-To: <user@isp.example>\r
Arrival-Date: Thu, 8 Mar 2005 14:00:00 EDT\r
Source-IP: 192.0.2.1\r
Reported-Domain: example.com\r
--part\r
Content-Type: message/rfc822\r
\r
From: <alice@example.com>\r
Return-Path: <bounces+abc.def@example.com>\r
Subject: Lunch\r
\r
Want lunch?\r
--part--\r
"""


def test_arf_fields():
    report = parse_arf(ARF)
    assert report is not None
    assert report.feedback_type == "abuse" and report.version == "1"
    assert report.original_mail_from == "<bounces+abc.def@example.com>"
    assert report.original_rcpt_to == ["<user@isp.example>"]
    assert report.reported_domains == ["example.com"] and report.source_ip == "192.0.2.1"
    assert report.original_headers is not None
    assert "Return-Path: <bounces+abc.def@example.com>" in report.original_headers


def test_arf_missing_parts_or_type_is_not_a_report():
    two_parts = ARF[: ARF.index(b"--part\r\nContent-Type: message/rfc822")] + b"--part--\r\n"
    assert parse_arf(two_parts) is None
    assert parse_arf(ARF.replace(b"Feedback-Type: abuse\r\n", b"")) is None
    assert parse_arf(DSN) is None


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_garbage_is_no_report_never_an_exception(raw):
    assert parse_dsn(raw) is None and parse_arf(raw) is None
    # a real report's start followed by garbage: whatever is read is well-formed
    for report in (parse_dsn(DSN[:400] + raw), parse_dsn(DSN[:-40] + raw)):
        assert report is None or all(r.status[0] in "245" for r in report.recipients)
