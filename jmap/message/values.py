"""Decoded part contents: blob octets of a part and EmailBodyValue objects."""

from __future__ import annotations

import re
from typing import Any

from .body import part_charset
from .charsets import decode_text, resolve_charset
from .mime import Entity, parse_entities

_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


def part_text(ent: Entity) -> tuple[str, bool]:
    """Text of a part: transfer decoding, charset decoding, CRLF -> LF.

    Returns ``(text, is_encoding_problem)``.  For HTML without a charset parameter a
    ``<meta charset>`` in the first 2 KiB is honoured.
    """
    data, problem = ent.decoded
    charset = part_charset(ent)
    declared = ent.content_type[1].get("charset")
    if not declared and ent.type == "text/html":
        m = _META_CHARSET.search(data, 0, 2048)
        if m and resolve_charset(m.group(1).decode("ascii")):
            charset = m.group(1).decode("ascii")
    text, charset_problem = decode_text(data, charset)
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text, problem or charset_problem


def truncate_utf8(text: str, max_bytes: int, is_html: bool = False) -> tuple[str, bool]:
    """Cut ``text`` to at most ``max_bytes`` UTF-8 octets, never inside a code point.

    For HTML the cut is also moved before an unterminated tag or character reference.
    Returns ``(text, truncated)``; ``max_bytes <= 0`` means no limit.
    """
    if max_bytes <= 0 or len(text) * 4 <= max_bytes:
        return text, False
    encoded = text.encode("utf-8", errors="surrogatepass")
    if len(encoded) <= max_bytes:
        return text, False
    cut = max_bytes
    while cut > 0 and (encoded[cut] & 0xC0) == 0x80:
        cut -= 1
    out = encoded[:cut].decode("utf-8", errors="ignore")
    if is_html:
        lt = out.rfind("<")
        if lt > out.rfind(">"):
            out = out[:lt]
        amp = out.rfind("&")
        if amp >= 0 and amp > out.rfind(";") and len(out) - amp <= 12:
            tail = out[amp + 1 :]
            if tail and not any(c.isspace() for c in tail):
                out = out[:amp]
    return out, True


def body_value(ent: Entity, max_bytes: int = 0) -> dict[str, Any]:
    """The EmailBodyValue ``{value, isEncodingProblem, isTruncated}`` of a leaf entity."""
    text, problem = part_text(ent)
    value, truncated = truncate_utf8(text, max_bytes, ent.type == "text/html")
    return {"value": value, "isEncodingProblem": problem, "isTruncated": truncated}


class MessageReader:
    """Re-reads parts of a stored message by partId (parses the structure once, lazily)."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self._root: Entity | None = None
        self._leaves: dict[str, Entity] | None = None

    @property
    def root(self) -> Entity:
        if self._root is None:
            self._root = parse_entities(self.raw)
        return self._root

    def part(self, part_id: str) -> Entity | None:
        """The leaf entity with this partId, or None (one walk of the tree for all parts)."""
        if self._leaves is None:
            self._leaves = {e.part_id: e for e in self.root.walk() if e.part_id is not None}
        return self._leaves.get(part_id)

    def part_bytes(self, part_id: str) -> bytes | None:
        """Content octets (transfer-decoded) of a part: what its blobId downloads."""
        ent = self.part(part_id)
        return ent.decoded[0] if ent is not None else None

    def body_value(self, part_id: str, max_bytes: int = 0) -> dict[str, Any] | None:
        """EmailBodyValue for a ``text/*`` part; None if no such part or not text."""
        ent = self.part(part_id)
        if ent is None or not ent.type.startswith("text/"):
            return None
        return body_value(ent, max_bytes)

    def body_values(self, part_ids: list[str], max_bytes: int = 0) -> dict[str, dict[str, Any]]:
        """``bodyValues`` map for the given partIds (non-text or unknown ids are skipped)."""
        out: dict[str, dict[str, Any]] = {}
        for pid in part_ids:
            if pid in out:
                continue
            value = self.body_value(pid, max_bytes)
            if value is not None:
                out[pid] = value
        return out


def part_bytes(raw: bytes, part_id: str) -> bytes | None:
    """Transfer-decoded content octets of part ``part_id`` of message ``raw`` (or None)."""
    return MessageReader(raw).part_bytes(part_id)


def get_body_value(raw: bytes, part_id: str, max_bytes: int = 0) -> dict[str, Any] | None:
    """EmailBodyValue of text part ``part_id`` of message ``raw`` (or None)."""
    return MessageReader(raw).body_value(part_id, max_bytes)
