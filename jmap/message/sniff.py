"""Is a blob an Internet message at all?  (Email/parse ``notParsable``, Email/import
``invalidEmail``: RFC 8621 §4.9, §4.8.)

The rule is deliberately lenient, because damaged real mail must still import and be shown
as best it can (DESIGN: bad input is stored, not refused):

1. The blob starts with a header section that holds at least one header field
   (``name:`` with an RFC 5322 §2.2 field name), found the way :func:`split_header_block`
   finds it: after an mbox ``From`` line and blank lines, an indented first field allowed.
   Plain text, HTML, PDF, images and archives start with something else.
2. That header section holds no NUL octet: text has none (the rule ``git`` and ``file``
   use to tell binary from text), binary data almost always does.
"""

from __future__ import annotations

from .headers import split_header_block


def looks_like_message(octets: bytes) -> bool:
    """True if ``octets`` can be taken for an RFC 5322 message (see the module docstring)."""
    headers, body_start = split_header_block(octets)
    return bool(headers) and octets.find(b"\x00", 0, body_start) < 0
