"""Text to index for Email/query full-text filters (from, to, cc, bcc, subject, body...)."""

from __future__ import annotations

import unicodedata
from typing import Any

from .headers import as_text

MAX_BODY_CHARS = 1_000_000
#: how much of each header's text the ``header`` filter searches
MAX_HEADER_CHARS = 2048


def fold(text: str) -> str:
    """Case-insensitive matching form of a text (full Unicode case folding, NFC)."""
    return unicodedata.normalize("NFC", text.casefold())


def header_index(headers: list[dict[str, str]]) -> list[tuple[str, str]]:
    """(lower-cased name, folded Text form) of every header field, for the ``header`` filter
    (RFC 8621 §4.4.1): encoded words decoded, as ``header:{name}:asText`` gives them."""
    out = []
    for header in headers:
        try:
            text = as_text(header["value"])
        except Exception:  # a hostile header is still present, just not searchable
            text = ""
        out.append((header["name"].lower(), fold(text)[:MAX_HEADER_CHARS]))
    return out


def addresses_text(addresses: list[dict[str, Any]] | None) -> str:
    """``name email`` of every address, one per line (names AND addresses are searchable)."""
    if not addresses:
        return ""
    lines = []
    for a in addresses:
        name = a.get("name")
        email = a.get("email") or ""
        lines.append(f"{name} {email}" if name else email)
    return "\n".join(lines)


def search_fields(
    model: dict[str, Any], body_texts: list[str], attachment_names: list[str]
) -> dict[str, str]:
    """The search document: one string per field the query filters can target."""
    body = "\n".join(t for t in body_texts if t)
    if len(body) > MAX_BODY_CHARS:
        body = body[:MAX_BODY_CHARS]
    return {
        "from": addresses_text(model.get("from")),
        "to": addresses_text(model.get("to")),
        "cc": addresses_text(model.get("cc")),
        "bcc": addresses_text(model.get("bcc")),
        "subject": model.get("subject") or "",
        "body": body,
        "attachments": "\n".join(n for n in attachment_names if n),
    }
