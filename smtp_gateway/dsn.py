"""RFC 3464 delivery status notifications: multipart/report with a human-readable part,
message/delivery-status (Reporting-MTA, then per recipient Final-Recipient, Action,
Status, Remote-MTA, Diagnostic-Code) and the original header section as
text/rfc822-headers (RFC 3464 §2, RFC 6522). Sent with a null envelope sender."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime

from .message_copy import header_section


@dataclass(frozen=True)
class RecipientReport:
    address: str
    #: "failed" or "delayed"
    action: str
    status: str
    #: the remote's reply on one line, if a remote answered
    diagnostic: str | None = None
    remote_mta: str | None = None
    will_retry_until: float | None = None


def final_recipient(address: str) -> str:
    """``rfc822; addr``, or for an internationalised address RFC 6533 §3's
    ``utf-8; addr`` in utf-8-addr-xtext (non-ASCII, ``\\``, ``+`` and ``=`` as \\x{HEX})."""
    if address.isascii():
        return f"rfc822; {address}"
    text = "".join(
        c if c.isascii() and c.isprintable() and c not in "\\+=" else f"\\x{{{ord(c):X}}}"
        for c in address
    )
    return f"utf-8; {text}"


def _fields(pairs: list[tuple[str, str]]) -> Message:
    block = Message()
    for name, value in pairs:
        block[name] = value
    return block


def build_dsn(
    *,
    reporting_mta: str,
    sender: str,
    original: bytes,
    reports: list[RecipientReport],
    arrival: float,
    now: float,
) -> bytes:
    failed = any(r.action == "failed" for r in reports)
    report = Message()
    report["From"] = f"Mail Delivery System <MAILER-DAEMON@{reporting_mta}>"
    report["To"] = sender
    report["Subject"] = (
        "Undelivered Mail Returned to Sender" if failed else "Delayed Mail (still being retried)"
    )
    report["Date"] = format_datetime(datetime.fromtimestamp(now, UTC))
    report["Message-ID"] = f"<{uuid.uuid4().hex}@{reporting_mta}>"
    report["Auto-Submitted"] = "auto-replied"
    report["MIME-Version"] = "1.0"
    report.set_type("multipart/report")
    report.set_param("report-type", "delivery-status")

    lines = [
        f"This is the mail system at {reporting_mta}.",
        "",
        "Your message could not be delivered to these recipients:"
        if failed
        else "Your message has not been delivered yet to these recipients; it is being retried:",
        "",
    ]
    for r in reports:
        lines.append(f"<{r.address}>: {r.diagnostic or r.status}")
    human = Message()
    human.set_type("text/plain")
    human.set_param("charset", "utf-8")
    human["Content-Transfer-Encoding"] = "8bit"
    human.set_payload("\n".join(lines) + "\n", "utf-8")

    status = Message()
    status.set_type("message/delivery-status")
    blocks = [
        _fields(
            [
                ("Reporting-MTA", f"dns; {reporting_mta}"),
                ("Arrival-Date", format_datetime(datetime.fromtimestamp(arrival, UTC))),
            ]
        )
    ]
    for r in reports:
        pairs = [
            ("Final-Recipient", final_recipient(r.address)),
            ("Action", r.action),
            ("Status", r.status),
        ]
        if r.remote_mta:
            pairs.append(("Remote-MTA", f"dns; {r.remote_mta}"))
        if r.diagnostic:
            pairs.append(("Diagnostic-Code", f"smtp; {r.diagnostic}"))
        if r.will_retry_until is not None:
            until = datetime.fromtimestamp(r.will_retry_until, UTC)
            pairs.append(("Will-Retry-Until", format_datetime(until)))
        blocks.append(_fields(pairs))
    status.set_payload(blocks)

    headers = Message()
    headers.set_type("text/rfc822-headers")
    headers["Content-Transfer-Encoding"] = "8bit"
    headers.set_payload(header_section(original).decode("utf-8", "replace"), "utf-8")
    report.set_payload([human, status, headers])
    return report.as_bytes(policy=SMTP if sender.isascii() else SMTPUTF8)
