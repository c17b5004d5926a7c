"""Document keys at the MongoDB boundary: user-chosen keys never become field names.

JMAP maps keyed by user-chosen strings (``keywords``: ``$seen`` and any keyword with a dot
are legal) would be operators or paths as MongoDB field names. Every key of a stored
document is escaped on the way in (``%`` → ``%25``, ``$`` → ``%24``, ``.`` → ``%2E``, NUL →
``%00``) and unescaped on the way out, so documents round-trip exactly whatever their keys.
"""

from __future__ import annotations

import re
from typing import Any

_NEEDS_ESCAPE = re.compile(r"[%$.\x00]")
_ESCAPED = re.compile(r"%([0-9A-F]{2})")


def _escape_key(key: str) -> str:
    return _NEEDS_ESCAPE.sub(lambda m: f"%{ord(m.group()):02X}", key)


def _unescape_key(key: str) -> str:
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), key) if "%" in key else key


def escape(value: Any) -> Any:
    """A document (or any JSON value) with every mapping key safe as a MongoDB field name."""
    if isinstance(value, dict):
        return {_escape_key(k): escape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape(v) for v in value]
    return value


def unescape(value: Any) -> Any:
    """The inverse of ``escape``."""
    if isinstance(value, dict):
        return {_unescape_key(k): unescape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unescape(v) for v in value]
    return value
