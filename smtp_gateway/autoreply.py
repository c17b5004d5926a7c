"""Vacation auto-replies (RFC 8621 §8, RFC 3834): whether to answer a delivery, and the answer.

The decision reads only the delivered message's header block (the linear splitter of
``jmap.message.headers``) and the envelope; the reply is built by the same builder as
Email/set, so every header value passes the same grammar checks.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

from jmap.ids import timestamp
from jmap.message.builder import build_message
from jmap.message.headers import header_values, split_header_block
from jmap.message.htmltext import html_to_text

#: RFC 3834 §2 / AUTO-5: the same sender hears back at most once in this long
REPLY_INTERVAL_SECONDS = 7 * 24 * 3600
#: only this much of a message is read to decide (the header block)
HEADER_WINDOW = 256 * 1024

_RECIPIENT_FIELDS = ("To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc")
#: typical responders and lists (RFC 3834 §2, AUTO-3): never answered
_ROBOT_LOCAL_PART = re.compile(
    r"^(owner-.*|.*-request|.*-owner|mailer-daemon|postmaster|no-?reply|do-?not-?reply"
    r"|bounces?([+-].*)?|listserv|majordomo)$",
    re.IGNORECASE,
)
DEFAULT_TEXT = "I am away and will read your message when I am back."
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def reply_key(account_id: str, sender: str) -> str:
    """The id under which the last reply to ``sender`` from an account is remembered."""
    digest = hashlib.sha256(f"{account_id}\0{sender.lower()}".encode()).hexdigest()
    return "V" + digest[:40]


def is_active(vacation: dict[str, Any] | None, now: float) -> bool:
    """Enabled, and ``now`` within [fromDate, toDate) where those are set (RFC 8621 §8)."""
    if not vacation or not vacation.get("isEnabled"):
        return False
    start = timestamp(vacation.get("fromDate"), utc=True)
    end = timestamp(vacation.get("toDate"), utc=True)
    return (start is None or start <= now) and (end is None or now < end)


def refusal(
    raw: bytes,
    mail_from: str,
    own_addresses: set[str],
    vacation: dict[str, Any] | None,
    now: float,
    last_replied: float | None,
) -> str | None:
    """Why this delivery gets no auto-reply, or None when it gets one.

    ``mail_from`` is the envelope sender (the reply goes there and nowhere else, AUTO-6);
    ``own_addresses`` the recipient's addresses, lower-cased.
    """
    if not is_active(vacation, now):
        return "vacation response not active"
    sender = mail_from.strip().strip("<>").strip()
    if not sender or "@" not in sender:
        return "null or local envelope sender"  # AUTO-3: never to <>
    if sender.lower() in own_addresses:
        return "sender is the recipient"
    if _ROBOT_LOCAL_PART.match(sender.rsplit("@", 1)[0]):
        return "sender is an automatic responder or list address"
    headers, _ = split_header_block(raw[:HEADER_WINDOW])
    auto = header_values(headers, "Auto-Submitted", "Text")
    if auto is not None and auto.split(";", 1)[0].strip().lower() != "no":
        return "message was auto-submitted"  # AUTO-2, AUTO-10
    precedence = (header_values(headers, "Precedence", "Text") or "").strip().lower()
    if precedence in ("list", "junk", "bulk"):
        return "message is bulk or list mail"  # AUTO-4
    if any(name.lower().startswith("list-") for name, _ in headers):
        return "message came through a list"  # AUTO-4
    named = {
        address["email"].lower()
        for field in _RECIPIENT_FIELDS
        for value in header_values(headers, field, "Addresses", all_=True)
        for address in value
        if address.get("email")
    }
    if not named & own_addresses:
        return "recipient not named in the message"  # AUTO-5
    if last_replied is not None and now - last_replied < REPLY_INTERVAL_SECONDS:
        return "sender was answered in the last 7 days"  # AUTO-5
    return None


def _line(value: str) -> str:
    return _CONTROL.sub(" ", value).strip()


def build_reply(
    raw: bytes, vacation: dict[str, Any], from_address: str, to_address: str, now: float
) -> bytes:
    """The auto-reply to a message (RFC 3834 §3): brief, one recipient, no original content."""
    headers, _ = split_header_block(raw[:HEADER_WINDOW])
    original_subject = _line(header_values(headers, "Subject", "Text") or "")
    subject = vacation.get("subject")
    subject = _line(subject) if subject else f"Auto: {original_subject}".strip()
    message_ids = header_values(headers, "Message-ID", "MessageIds") or []
    references = header_values(headers, "References", "MessageIds") or []
    text = vacation.get("textBody")
    html = vacation.get("htmlBody")
    if text is None:  # derived from the HTML, or a default (RFC 8621 §8)
        text = html_to_text(html) if html is not None else DEFAULT_TEXT
    email: dict[str, Any] = {
        "from": [{"email": from_address}],
        "to": [{"email": to_address}],
        "subject": subject,
        "header:Auto-Submitted:asText": "auto-replied",
        "bodyValues": {"t": {"value": text}},
        "textBody": [{"partId": "t", "type": "text/plain"}],
    }
    if message_ids:
        email["inReplyTo"] = message_ids[-1:]
        email["references"] = [*references[-20:], *message_ids[-1:]]
    if html is not None:
        email["bodyValues"]["h"] = {"value": html}
        email["htmlBody"] = [{"partId": "h", "type": "text/html"}]
    return build_message(
        email,
        lambda _blob_id: None,
        now=datetime.fromtimestamp(now, UTC),
        domain=from_address.rsplit("@", 1)[-1],
    )
