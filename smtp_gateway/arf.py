"""Feedback reports (ARF, RFC 5965) that come back, read from a bounded prefix of the
message with the stdlib parser. Their fields are never taken as true (RFC 5965 §3): they
only say what to look up. (Delivery status notifications: ``bounces.parse_dsn``.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from email.policy import compat32

#: reports are small; only this much of one is read
MAX_REPORT_OCTETS = 1_000_000
#: recipients read from one report
MAX_RECIPIENTS = 1000
_STATUS = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")
_ACTIONS = frozenset({"failed", "delayed", "delivered", "relayed", "expanded"})


@dataclass(frozen=True, slots=True)
class FeedbackReport:
    feedback_type: str
    user_agent: str | None
    version: str | None
    original_mail_from: str | None
    original_rcpt_to: list[str]
    arrival_date: str | None
    source_ip: str | None
    reported_domains: list[str]
    #: the reported message's header block (part 3), if the report carries it
    original_headers: str | None


def _parse(raw: bytes) -> Message:
    return message_from_bytes(raw[:MAX_REPORT_OCTETS], policy=compat32)


def _report_parts(message: Message, report_type: str) -> list[Message] | None:
    if message.get_content_type() != "multipart/report":
        return None
    if (message.get_param("report-type") or "").lower() != report_type:
        return None
    parts = message.get_payload()
    return parts if isinstance(parts, list) else None


def _value(field_value: str | None) -> str | None:
    """A field's value without its type prefix (``rfc822; a@b`` -> ``a@b``)."""
    if field_value is None:
        return None
    text = " ".join(str(field_value).split())
    return text.split(";", 1)[1].strip() if ";" in text else text


def parse_arf(raw: bytes) -> FeedbackReport | None:
    """The fields of an ARF report, or None if the message is not one with all three parts
    and the required fields (RFC 5965 §2, §3.1)."""
    parts = _report_parts(_parse(raw), "feedback-report")
    if not parts or len(parts) < 3:
        return None
    report = next((p for p in parts if p.get_content_type() == "message/feedback-report"), None)
    if report is None:
        return None
    payload = report.get_payload()
    fields = payload[0] if isinstance(payload, list) and payload else None
    if fields is None or not isinstance(fields, Message):
        return None
    feedback_type = (fields.get("Feedback-Type") or "").strip().lower()
    if not feedback_type:
        return None
    original = parts[2]
    headers = None
    if original.get_content_type() == "message/rfc822":
        inner = original.get_payload()
        if isinstance(inner, list) and inner:
            headers = "".join(f"{k}: {v}\n" for k, v in inner[0].items())
    elif original.get_content_type() == "text/rfc822-headers":
        headers = str(original.get_payload())
    return FeedbackReport(
        feedback_type,
        fields.get("User-Agent"),
        fields.get("Version"),
        _value(fields.get("Original-Mail-From")),
        [v for v in (_value(x) for x in fields.get_all("Original-Rcpt-To") or []) if v],
        fields.get("Arrival-Date"),
        fields.get("Source-IP"),
        [" ".join(d.split()) for d in fields.get_all("Reported-Domain") or []],
        headers,
    )
