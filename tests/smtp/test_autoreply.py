"""Vacation auto-replies follow RFC 3834 (smtp-checklist AUTO-1 to AUTO-10)."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtp_gateway.autoreply import (
    REPLY_INTERVAL_SECONDS,
    build_reply,
    is_active,
    refusal,
    reply_key,
)

ME = {"alice@example.com", "alice.smith@example.com"}
NOW = 1_800_000_000.0  # 2027-01-15
ON = {
    "isEnabled": True,
    "fromDate": None,
    "toDate": None,
    "subject": None,
    "textBody": "Back on Monday.",
    "htmlBody": None,
}


def message(*lines: str, body: str = "hello") -> bytes:
    base = ["From: Bob <bob@example.org>", "To: Alice <alice@example.com>", "Subject: Lunch?"]
    return ("\r\n".join([*base, *lines]) + "\r\n\r\n" + body).encode()


def test_an_ordinary_message_is_answered():
    assert refusal(message(), "bob@example.org", ME, ON, NOW, None) is None


@pytest.mark.parametrize(
    ("vacation", "active"),
    [
        (None, False),
        ({**ON, "isEnabled": False}, False),
        ({**ON, "fromDate": "2027-01-16T00:00:00Z"}, False),
        ({**ON, "toDate": "2027-01-15T00:00:00Z"}, False),
        ({**ON, "fromDate": "2027-01-01T00:00:00Z", "toDate": "2027-02-01T00:00:00Z"}, True),
    ],
)
def test_only_between_from_and_to_date(vacation, active):
    assert is_active(vacation, NOW) is active
    reason = refusal(message(), "bob@example.org", ME, vacation, NOW, None)
    assert (reason is None) is active


@pytest.mark.parametrize(
    ("extra", "mail_from"),
    [
        ((), ""),  # null sender (AUTO-3)
        ((), "<>"),
        ((), "MAILER-DAEMON@example.org"),
        ((), "owner-list@example.org"),
        ((), "list-request@example.org"),
        ((), "noreply@example.org"),
        ((), "alice@example.com"),  # a loop to oneself
        (("Auto-Submitted: auto-replied",), "bob@example.org"),  # AUTO-2
        (("Auto-Submitted: auto-generated; owner-email=x@y",), "bob@example.org"),
        (("Auto-Submitted: Auto-Notified",), "bob@example.org"),
        (("Precedence: bulk",), "bob@example.org"),  # AUTO-4
        (("Precedence: list",), "bob@example.org"),
        (("Precedence: junk",), "bob@example.org"),
        (("List-Id: <team.example.org>",), "bob@example.org"),
        (("List-Unsubscribe: <mailto:u@example.org>",), "bob@example.org"),
    ],
)
def test_never_to_lists_bulk_auto_submitted_or_null_senders(extra, mail_from):
    assert refusal(message(*extra), mail_from, ME, ON, NOW, None) is not None


def test_auto_submitted_no_is_answered():
    assert refusal(message("Auto-Submitted: no"), "bob@example.org", ME, ON, NOW, None) is None


def test_only_when_one_of_my_addresses_is_a_recipient():
    bcc_only = message().replace(b"To: Alice <alice@example.com>", b"To: team@example.org")
    assert refusal(bcc_only, "bob@example.org", ME, ON, NOW, None) is not None
    for field in ("Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc"):
        named = bcc_only.replace(
            b"Subject:", f"{field}: alice.smith@example.com\r\nSubject:".encode()
        )
        assert refusal(named, "bob@example.org", ME, ON, NOW, None) is None, field


def test_once_per_sender_in_seven_days():
    last = NOW - REPLY_INTERVAL_SECONDS + 60
    assert refusal(message(), "bob@example.org", ME, ON, NOW, last) is not None
    assert refusal(message(), "bob@example.org", ME, ON, NOW, NOW - REPLY_INTERVAL_SECONDS) is None
    assert reply_key("a1", "Bob@Example.org") == reply_key("a1", "bob@example.org")
    assert reply_key("a1", "bob@example.org") != reply_key("a2", "bob@example.org")


def test_the_reply_is_marked_threaded_and_brief():
    original = message("Message-ID: <m1@example.org>", "References: <m0@example.org>")
    raw = build_reply(original, ON, "alice@example.com", "bob@example.org", NOW)
    reply = message_from_bytes(raw, policy=policy.default)
    assert reply["Auto-Submitted"] == "auto-replied"  # AUTO-7
    assert reply["To"] == "bob@example.org" and reply["From"] == "alice@example.com"
    assert reply["Subject"] == "Auto: Lunch?"
    assert reply["In-Reply-To"] == "<m1@example.org>"
    assert reply["References"] == "<m0@example.org> <m1@example.org>"
    assert reply.get_content_type() == "text/plain"
    assert reply.get_content().strip() == "Back on Monday."
    assert b"hello" not in raw  # nothing of the original's content (AUTO-8)


def test_subject_and_html_from_the_vacation_response():
    vacation = {**ON, "subject": "Away\r\nBcc: evil@example.net", "textBody": None}
    vacation["htmlBody"] = "<p>Back <b>Monday</b></p>"
    raw = build_reply(message(), vacation, "alice@example.com", "bob@example.org", NOW)
    reply = message_from_bytes(raw, policy=policy.default)
    assert reply["Bcc"] is None and reply["Subject"] == "Away Bcc: evil@example.net"
    assert reply.get_content_type() == "multipart/alternative"
    text = reply.get_body(("plain",)).get_content()
    assert "Back" in text and "Monday" in text and "<b>" not in text
    assert "<b>Monday</b>" in reply.get_body(("html",)).get_content()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000), st.text(max_size=80))
def test_any_message_gets_a_decision_never_an_exception(raw, mail_from):
    reason = refusal(raw, mail_from, ME, ON, NOW, None)
    assert reason is None or isinstance(reason, str)
