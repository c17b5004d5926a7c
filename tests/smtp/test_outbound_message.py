"""The copy that leaves: Bcc removed (RFC 5322 §3.6.3), nothing else touched."""

from __future__ import annotations

from smtp_gateway.message_copy import header_section, without_bcc

MESSAGE = (
    b"From: a@example.com\r\nTo: b@example.net\r\nBCC: c@example.net,\r\n d@example.net\r\n"
    b"Subject: x\r\nbcc: e@example.net\r\n\r\nBcc: this line is body, not a header\r\n"
)


def test_every_bcc_field_and_its_continuation_lines_go():
    copy = without_bcc(MESSAGE)
    assert copy == (
        b"From: a@example.com\r\nTo: b@example.net\r\nSubject: x\r\n"
        b"\r\nBcc: this line is body, not a header\r\n"
    )


def test_no_bcc_keeps_the_same_octets_and_bare_lf_works():
    plain = b"From: a@example.com\r\nSubject: x\r\n\r\nbody"
    assert without_bcc(plain) is plain
    lf = b"From: a@example.com\nBcc: c@example.net\nSubject: x\n\nbody\n"
    assert without_bcc(lf) == b"From: a@example.com\nSubject: x\n\nbody\n"
    assert without_bcc(b"Bcc: only@example.net\r\n") == b""


def test_header_section_is_cut_at_a_field_boundary():
    assert header_section(MESSAGE).endswith(b"bcc: e@example.net\r\n")
    assert b"body" not in header_section(MESSAGE)
    cut = header_section(MESSAGE, limit=50)  # the folded Bcc field would pass 50 octets
    assert cut == b"From: a@example.com\r\nTo: b@example.net\r\n"
