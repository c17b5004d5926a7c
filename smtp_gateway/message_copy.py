"""What leaves the server of a stored message: its octets without Bcc (RFC 5322 §3.6.3),
and what a DSN returns of it (the header section). One pass over the header section;
the body is never looked at."""

from __future__ import annotations

import re

#: the end of the header section: the first empty line
_END = re.compile(rb"\r?\n\r?\n")


def split_header(raw: bytes) -> tuple[bytes, bytes]:
    """(header section with its last line break, the rest from the empty line on)."""
    match = _END.search(raw)
    if match is None:
        return raw, b""
    cut = match.start() + (2 if raw[match.start() : match.start() + 2] == b"\r\n" else 1)
    return raw[:cut], raw[cut:]


def _fields(header: bytes) -> list[bytes]:
    """The header section's fields, each with its continuation lines."""
    fields: list[bytes] = []
    for line in header.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        else:
            fields.append(line)
    return fields


def without_bcc(raw: bytes) -> bytes:
    """The message with every Bcc field removed; the same octets when it has none."""
    header, rest = split_header(raw)
    fields = _fields(header)
    kept = [f for f in fields if f.split(b":", 1)[0].strip().lower() != b"bcc"]
    if len(kept) == len(fields):
        return raw
    return b"".join(kept) + rest


def header_section(raw: bytes, limit: int = 256 * 1024) -> bytes:
    """The header section alone (for text/rfc822-headers): whole fields, at most ``limit``
    octets of them."""
    header, _ = split_header(raw[: limit + 4])
    if len(header) <= limit:
        return header
    kept, size = [], 0
    for field in _fields(header):
        size += len(field)
        if size > limit:
            break
        kept.append(field)
    return b"".join(kept)


def is_8bit(raw: bytes) -> bool:
    return not raw.isascii()
