"""Issue 7.13: a message whose first line starts with blanks keeps its header fields.

RFC 5322 §2.2 has no header field line that starts with whitespace except a continuation,
but mail relayed by large providers arrives with a line of spaces before the header, or
with the first field indented.  Robust parsers (Python's ``email``, MimeKit) recover the
header rather than turning the whole message into body text.
"""

from __future__ import annotations

import pytest

from jmap.message import parse_message
from jmap.message.headers import split_header_block

HEADER = b"From: Ann <ann@example.com>\r\nSubject: Quarterly report\r\nTo: bob@example.com\r\n"


@pytest.mark.parametrize(
    "prefix",
    [b"   \r\n", b"\t\r\n", b" \t \r\n   \r\n", b"  \n"],
    ids=["spaces", "tab", "several", "lf-only"],
)
def test_lines_of_blanks_before_the_header_are_skipped(prefix):
    model = parse_message(prefix + HEADER + b"\r\nHello Bob\r\n")
    assert model["from"] == [{"name": "Ann", "email": "ann@example.com"}]
    assert model["subject"] == "Quarterly report"
    assert model["to"] == [{"name": None, "email": "bob@example.com"}]
    assert model["preview"] == "Hello Bob"


@pytest.mark.parametrize("indent", [b" ", b"  ", b"\t"])
def test_indented_first_field_is_a_field(indent):
    model = parse_message(indent + HEADER + b"\r\nHello Bob\r\n")
    assert [h["name"] for h in model["headers"]] == ["From", "Subject", "To"]
    assert model["from"] == [{"name": "Ann", "email": "ann@example.com"}]
    assert model["subject"] == "Quarterly report"
    assert model["preview"] == "Hello Bob"


def test_later_indented_lines_stay_continuations():
    raw = b" Subject: one\r\n two\r\nFrom: a@example.com\r\n\r\nbody"
    model = parse_message(raw)
    assert model["subject"] == "one two"
    assert [h["name"] for h in model["headers"]] == ["Subject", "From"]


def test_text_without_a_header_is_still_all_body():
    headers, body_start = split_header_block(b"   \r\n  just some text\r\nmore\r\n")
    assert headers == [] and body_start == 0
