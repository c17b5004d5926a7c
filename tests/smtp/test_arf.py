"""Feedback reports (ARF, RFC 5965) coming back."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from smtp_gateway.arf import parse_arf

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
    assert parse_arf(ARF.replace(b"feedback-report;", b"delivery-status;")) is None


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_garbage_is_no_report_never_an_exception(raw):
    assert parse_arf(raw) is None
    # a real report's start followed by garbage: whatever is read has its required field
    for report in (parse_arf(ARF[:600] + raw), parse_arf(ARF[:-40] + raw)):
        assert report is None or report.feedback_type
