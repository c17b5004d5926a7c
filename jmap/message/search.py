"""Text to index for Email/query full-text filters (from, to, cc, bcc, subject, body...)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from .headers import as_text

MAX_BODY_CHARS = 1_000_000
#: how much of each header's text the ``header`` filter searches
MAX_HEADER_CHARS = 2048
#: how much of each header field is decoded for it: an encoded word of 14 octets can stand
#: for one character, so a 64 KiB field of them cost 20 ms, and 1,000 such fields 20 s
MAX_HEADER_DECODE = 8 * MAX_HEADER_CHARS
#: Unicode's control characters (Cc): never part of a word
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: the control characters that are not line breaks or tabs: blanked in indexed text, where
#: they separate words anyway (and could be mistaken for the index's own match marks)
NON_SPACE_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_TERM = re.compile(r'"(?P<phrase>(?:\\.|[^"\\])*\\?)"?|(?P<word>[^\s"]+)', re.DOTALL)
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


def fold(text: str) -> str:
    """Case-insensitive matching form of a text (full Unicode case folding, NFC)."""
    return unicodedata.normalize("NFC", text.casefold())


def header_index(headers: list[dict[str, str]]) -> list[tuple[str, str]]:
    """(lower-cased name, folded Text form) of every header field, for the ``header`` filter
    (RFC 8621 §4.4.1): encoded words decoded, as ``header:{name}:asText`` gives them."""
    out = []
    for header in headers:
        try:
            text = as_text(header["value"][:MAX_HEADER_DECODE])
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
    fields = {
        "from": addresses_text(model.get("from")),
        "to": addresses_text(model.get("to")),
        "cc": addresses_text(model.get("cc")),
        "bcc": addresses_text(model.get("bcc")),
        "subject": model.get("subject") or "",
        "body": body,
        "attachments": "\n".join(n for n in attachment_names if n),
    }
    return {name: NON_SPACE_CONTROLS.sub(" ", text) for name, text in fields.items()}


def split_terms(text: str) -> list[tuple[str, bool]]:
    """Words and quoted phrases of a search text: [(text, is_phrase)].

    Inside quotes, a backslash escapes the next character (RFC 8621 §4.4.1); an unclosed
    quote runs to the end. Control characters separate words, as they do in indexed text
    (and SQLite cannot take a NUL in a full-text query).
    """
    terms = []
    for match in _TERM.finditer(CONTROL_CHARACTERS.sub(" ", text)):
        phrase = match.group("phrase")
        if phrase is None:
            terms.append((match.group("word"), False))
        else:
            terms.append((_ESCAPED.sub(r"\1", phrase), True))
    return [(t, phrase) for t, phrase in terms if any(c.isalnum() for c in t)]
