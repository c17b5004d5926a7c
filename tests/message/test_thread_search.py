"""Thread keys (RFC 5256 base subject, referenced ids), search text, receivedAt."""

from __future__ import annotations

import pytest

from jmap.message import base_subject, parse_message


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: Re: hello", "hello"),
        ("RE:   Foo   Bar", "foo bar"),
        ("Fwd: [list] Re: Hello (fwd)", "hello"),
        ("[fwd: Re: Hi there]", "hi there"),
        ("Re[2]: x", "x"),
        ("Re [2]: x", "x"),
        ("[PATCH v2] fix the thing", "fix the thing"),
        ("[list]", "[list]"),
        ("Fw: FWD: re: Done (FWD)  (fwd)", "done"),
        ("AW: Antw: Termin", "termin"),
        ("Réunion", "réunion"),
        ("Regarding things", "regarding things"),
        ("", ""),
        (None, ""),
    ],
)
def test_base_subject(subject, expected):
    assert base_subject(subject) == expected


def test_thread_keys_and_search_fields():
    raw = (
        b"From: =?utf-8?Q?J=C3=BCrgen?= <jurgen@x.test>\r\n"
        b"To: Alice <alice@x.test>, bob@x.test\r\n"
        b"Cc: Carol <carol@x.test>\r\n"
        b"Bcc: dave@x.test\r\n"
        b"Subject: Re: [team] Quarterly report\r\n"
        b"Message-ID: <m3@x.test>\r\n"
        b"In-Reply-To: <m2@x.test>\r\n"
        b"References: <m1@x.test> <m2@x.test>\r\n"
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/html\r\n\r\n"
        b'<p>Numbers <img alt="chart" src="x"> inside</p><script>nope()</script>\r\n'
        b"--b\r\nContent-Type: application/pdf; name=report.pdf\r\n\r\n%PDF\r\n--b--\r\n"
    )
    model = parse_message(raw)
    assert model["threadKeys"] == {
        "messageIds": ["m3@x.test", "m2@x.test", "m1@x.test"],
        "baseSubject": "quarterly report",
    }
    search = model["search"]
    assert search["from"] == "Jürgen jurgen@x.test"
    assert search["to"] == "Alice alice@x.test\nbob@x.test"
    assert search["cc"] == "Carol carol@x.test"
    assert search["bcc"] == "dave@x.test"
    assert search["subject"] == "Re: [team] Quarterly report"
    assert "Numbers" in search["body"] and "chart" in search["body"]
    assert "nope" not in search["body"]
    assert search["attachments"] == "report.pdf"


def test_received_at_uses_topmost_received_header_in_utc():
    raw = (
        b"Received: from b by c; Tue, 2 Jan 2024 10:00:00 +0200\r\n"
        b"Received: from a by b; Tue, 2 Jan 2024 07:00:00 +0000\r\n"
        b"Date: Tue, 2 Jan 2024 06:59:00 +0000\r\n\r\nx"
    )
    model = parse_message(raw)
    assert model["receivedAt"] == "2024-01-02T08:00:00Z"
    assert model["sentAt"] == "2024-01-02T06:59:00Z"
    assert parse_message(b"Subject: x\r\n\r\n")["receivedAt"] is None
