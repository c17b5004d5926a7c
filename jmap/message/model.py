"""``parse_message``: the parse-once RFC 5322/MIME -> JMAP Email model (RFC 8621 §4)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .body import Part, has_attachment, iter_parts, make_part, split_body
from .bounds import MAX_HTML_CHARS
from .headers import (
    as_addresses,
    as_message_ids,
    as_text,
    format_date,
    header_text,
    parse_date,
    raw_form,
)
from .htmltext import html_to_text
from .mime import Entity, parse_entities
from .search import header_index, search_fields
from .thread_keys import base_subject, thread_message_ids
from .values import part_text

PREVIEW_CHARS = 256

_ADDRESS_PROPS = (
    ("sender", "sender"),
    ("from", "from"),
    ("to", "to"),
    ("cc", "cc"),
    ("bcc", "bcc"),
    ("replyTo", "reply-to"),
)
_MSGID_PROPS = (
    ("messageId", "message-id"),
    ("inReplyTo", "in-reply-to"),
    ("references", "references"),
)


def _last(headers: list[tuple[str, bytes]], name: str) -> bytes | None:
    for hname, value in reversed(headers):
        if hname.lower() == name:
            return value
    return None


def _received_at(headers: list[tuple[str, bytes]]) -> str | None:
    """UTC time from the most recent (topmost) Received header that has a parseable date."""
    for hname, value in headers:
        if hname.lower() != "received":
            continue
        text = header_text(value)
        if ";" not in text:
            continue
        dt = parse_date(text.rsplit(";", 1)[1])
        if dt is not None:
            return format_date(dt, utc=True)
    return None


def make_preview(texts: Iterable[str]) -> str:
    """Up to 256 characters of collapsed plain text from the given body texts."""
    words: list[str] = []
    length = 0
    for text in texts:
        for word in text.split():
            words.append(word)
            length += len(word) + 1
            if length > PREVIEW_CHARS:
                break
        if length > PREVIEW_CHARS:
            break
    return " ".join(words)[:PREVIEW_CHARS].rstrip()


def _header_fields(root: Entity) -> dict[str, Any]:
    headers = root.headers
    hint = root.content_type[1].get("charset")
    out: dict[str, Any] = {"headers": [{"name": n, "value": raw_form(v)} for n, v in headers]}
    for prop, name in _MSGID_PROPS:
        value = _last(headers, name)
        out[prop] = as_message_ids(value, hint) if value is not None else None
    for prop, name in _ADDRESS_PROPS:
        value = _last(headers, name)
        out[prop] = as_addresses(value, hint) if value is not None else None
    subject = _last(headers, "subject")
    out["subject"] = as_text(subject, hint) if subject is not None else None
    date = _last(headers, "date")
    dt = parse_date(header_text(date, hint)) if date is not None else None
    out["sentAt"] = format_date(dt) if dt is not None else None
    return out


def _parse(raw: bytes) -> dict[str, Any]:
    root = parse_entities(raw)
    model: dict[str, Any] = {"size": len(raw)}
    model.update(_header_fields(root))
    structure = make_part(root)
    text_body, html_body, attachments = split_body(structure)
    entities = {e.part_id: e for e in root.walk() if e.part_id is not None}

    plain_cache: dict[str, str] = {}
    html_cache: dict[str, str] = {}

    def source(part: Part) -> str:
        pid = part["partId"]
        if pid not in html_cache:
            html_cache[pid] = part_text(entities[pid])[0]
        return html_cache[pid]

    # HTML characters left to turn into text, for the preview and for the search index
    html_budget = {False: MAX_HTML_CHARS, True: MAX_HTML_CHARS}

    def plain(part: Part, with_alt: bool = False) -> str:
        key = part["partId"] + ("+alt" if with_alt else "")
        if key not in plain_cache:
            if part["type"] == "text/html":
                html = source(part)[: html_budget[with_alt]]
                html_budget[with_alt] -= len(html)
                plain_cache[key] = html_to_text(html, with_alt=with_alt) if html else ""
            else:
                plain_cache[key] = source(part)
        return plain_cache[key]

    def texts(parts: list[Part], with_alt: bool = False) -> Iterator[str]:
        """Lazily: the preview stops converting once it has its 256 characters."""
        return (plain(p, with_alt) for p in parts if p["type"] in ("text/plain", "text/html"))

    preview = make_preview(texts(text_body)) or make_preview(texts(html_body))
    html_sources = [source(p) for p in html_body if p["type"] == "text/html"]

    model["bodyStructure"] = structure
    model["textBody"] = [p["partId"] for p in text_body]
    model["htmlBody"] = [p["partId"] for p in html_body]
    model["attachments"] = [p["partId"] for p in attachments]
    model["hasAttachment"] = has_attachment(attachments, html_sources)
    model["preview"] = preview
    model["receivedAt"] = _received_at(root.headers)
    model["threadKeys"] = {
        "messageIds": thread_message_ids(
            model["messageId"], model["inReplyTo"], model["references"]
        ),
        "baseSubject": base_subject(model["subject"]),
    }
    names = [p["name"] for p in iter_parts(structure) if p["name"]]
    model["search"] = search_fields(model, list(texts(text_body, with_alt=True)), names)
    return model


def _fallback_model(raw: bytes) -> dict[str, Any]:
    """Minimal model used if parsing failed unexpectedly: the whole message as one text part."""
    part: Part = {
        "partId": "1",
        "size": len(raw),
        "headers": [],
        "name": None,
        "type": "text/plain",
        "charset": "us-ascii",
        "disposition": None,
        "cid": None,
        "language": None,
        "location": None,
    }
    model: dict[str, Any] = {"size": len(raw), "headers": []}
    for prop, _name in _MSGID_PROPS + _ADDRESS_PROPS:
        model[prop] = None
    model.update(
        subject=None,
        sentAt=None,
        bodyStructure=part,
        textBody=["1"],
        htmlBody=["1"],
        attachments=[],
        hasAttachment=False,
        preview="",
        receivedAt=None,
        threadKeys={"messageIds": [], "baseSubject": ""},
        search={k: "" for k in ("from", "to", "cc", "bcc", "subject", "body", "attachments")},
    )
    return model


def parse_message(raw: bytes) -> dict[str, Any]:
    """Parse an RFC 5322 message once into everything Email/get needs by default.

    Returns a JSON-serialisable dict (see the package docstring for its shape).  Never
    raises on any input octets.
    """
    if not isinstance(raw, bytes):
        raw = bytes(raw)
    try:
        model = _parse(raw)
    except Exception:  # includes RecursionError, MemoryError on hostile input
        model = _fallback_model(raw)
    # the ``header`` filter's rows, made here (in the worker pool), not by the index writer
    # inside the write transaction
    model["headerIndex"] = header_index(model.get("headers") or [])
    return model


def parts_by_id(model: dict[str, Any]) -> dict[str, Part]:
    """Map partId -> EmailBodyPart dict over a model's bodyStructure (leaves only)."""
    return {p["partId"]: p for p in iter_parts(model["bodyStructure"]) if p["partId"]}


def expand_parts(model: dict[str, Any], part_ids: list[str]) -> list[Part]:
    """Resolve a textBody/htmlBody/attachments list of partIds to EmailBodyPart dicts."""
    index = parts_by_id(model)
    return [index[pid] for pid in part_ids if pid in index]
