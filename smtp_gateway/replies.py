"""RFC 3463 enhanced status codes on every reply (RFC 2034 §3 once ENHANCEDSTATUSCODES
is offered), for the replies aiosmtpd writes without one."""

from __future__ import annotations

import re

_HAS_CODE = re.compile(r"[245]\.\d{1,3}\.\d{1,3}(?: |$)")

#: the nearest registered code for each reply code (RFC 3463 §3, RFC 5321 §4.2.3)
_DEFAULTS = {
    211: "2.0.0",
    214: "2.0.0",
    220: "2.0.0",
    221: "2.0.0",
    250: "2.0.0",
    251: "2.1.5",
    252: "2.0.0",
    421: "4.3.2",
    450: "4.2.0",
    451: "4.3.0",
    452: "4.3.1",
    454: "4.7.0",
    455: "4.5.4",
    500: "5.5.2",
    501: "5.5.4",
    502: "5.5.1",
    503: "5.5.1",
    504: "5.5.4",
    530: "5.7.0",
    550: "5.0.0",
    552: "5.3.4",
    553: "5.1.3",
    554: "5.0.0",
    555: "5.5.4",
}

#: replies that count as a bad command (syntax, sequence, unknown verb, bad parameter)
BAD_COMMAND = frozenset({500, 501, 502, 503, 504, 555})


def reply_code(line: str) -> int | None:
    head = line[:3]
    return int(head) if head.isdigit() and len(line) >= 3 and line[3:4] in ("", " ", "-") else None


def with_enhanced_code(line: str) -> str:
    """``line`` with an enhanced status code after the reply code, unless it has one.

    Intermediate replies (3xx, such as 354) take none (RFC 2034 §4).
    """
    code = reply_code(line)
    if code is None or code // 100 == 3:
        return line
    separator, text = line[3:4] or " ", line[4:]
    if _HAS_CODE.match(text):
        return line
    enhanced = _DEFAULTS.get(code, f"{code // 100}.0.0")
    return f"{code}{separator}{enhanced} {text}".rstrip()
