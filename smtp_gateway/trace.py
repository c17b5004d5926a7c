"""The trace fields the listener puts on top of each message it accepts (RFC 5321 §4.4)."""

from __future__ import annotations

import email.utils
import re
from datetime import datetime

#: what of a client's EHLO name goes into the Received field: printable ASCII, no
#: characters that would end the clause or a comment, bounded
_UNSAFE = re.compile(r"[^!-~]|[()\\;]")
MAX_HELO = 255


def protocol(extended: bool, tls: bool, authenticated: bool, utf8: bool) -> str:
    """The WITH value (IANA Mail Transmission Types: RFC 3848, RFC 6531 §4.3)."""
    if utf8:
        return "UTF8SMTP" + ("S" if tls else "") + ("A" if authenticated else "")
    if not extended:
        return "SMTP"
    return "ESMTP" + ("S" if tls else "") + ("A" if authenticated else "")


def received(
    *,
    helo: str,
    client_ip: str,
    hostname: str,
    with_protocol: str,
    queue_id: str,
    recipients: list[str],
    when: datetime,
) -> str:
    """``Received: from HELO ([IP]) by HOST with PROTO id ID [for <RCPT>]; DATE`` + CRLF.

    The FOR clause only with a single recipient (RFC 5321 §7.2: no bcc disclosure).
    """
    name = _UNSAFE.sub("?", helo)[:MAX_HELO] or "unknown"
    literal = f"IPv6:{client_ip}" if ":" in client_ip else client_ip
    lines = [
        f"Received: from {name} ([{literal}])",
        f"\tby {hostname} (Fulmar) with {with_protocol} id {queue_id}",
    ]
    if len(recipients) == 1:
        lines.append(f"\tfor <{recipients[0]}>")
    lines[-1] += f"; {email.utils.format_datetime(when)}"
    return "\r\n".join(lines) + "\r\n"


def return_path(mail_from: str) -> str:
    """The reverse-path, recorded at final delivery (RFC 5321 §4.4)."""
    return f"Return-Path: <{mail_from}>\r\n"
