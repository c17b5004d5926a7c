"""Email/get and Email/parse presentation: stored metadata -> the requested properties.

Everything but ``bodyValues`` comes from the metadata stored at ingest (parse once); the
message blob is read again only when body values are fetched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jmap.errors import MethodError
from jmap.message import (
    DEFAULT_BODY_PROPERTIES,
    PART_PROPERTIES,
    MessageReader,
    expand_parts,
    form_allowed,
    header_values,
    parse_header_property,
)
from jmap.message.body import iter_parts
from jmap.part_blobs import part_blob_id

METADATA = ("id", "blobId", "threadId", "mailboxIds", "keywords", "size", "receivedAt")
HEADER_PROPERTIES = (
    "messageId",
    "inReplyTo",
    "references",
    "sender",
    "from",
    "to",
    "cc",
    "bcc",
    "replyTo",
    "subject",
    "sentAt",
)
BODY_PROPERTIES = (
    "hasAttachment",
    "preview",
    "bodyValues",
    "textBody",
    "htmlBody",
    "attachments",
)
#: Email/parse's default (RFC 8621 §4.9); Email/get's adds the metadata
PARSE_DEFAULT = HEADER_PROPERTIES + BODY_PROPERTIES
GET_DEFAULT = METADATA + PARSE_DEFAULT
EMAIL_PROPERTIES = frozenset((*GET_DEFAULT, "headers", "bodyStructure"))
#: what ``bodyProperties`` may name, besides the ``header:*`` forms
BODY_PROPERTIES_ALLOWED = PART_PROPERTIES | {"headers"}


def check_properties(properties: list[str], known: frozenset[str], what: str) -> None:
    """invalidArguments for an unknown property or a header form the field forbids."""
    for prop in properties:
        if prop in known:
            continue
        header = parse_header_property(prop) if prop.startswith("header:") else None
        if header is None:
            raise MethodError("invalidArguments", f"Unknown {what} {prop!r}.")
        name, form, _ = header
        if not form_allowed(name, form):
            raise MethodError("invalidArguments", f"{prop!r}: {name} has no {form} form.")


@dataclass(frozen=True)
class BodyOptions:
    """The body arguments shared by Email/get and Email/parse."""

    body_properties: tuple[str, ...] = DEFAULT_BODY_PROPERTIES
    fetch_text: bool = False
    fetch_html: bool = False
    fetch_all: bool = False
    max_bytes: int = 0

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> BodyOptions:
        body_properties = args.get("bodyProperties")
        if body_properties is not None:
            check_properties(body_properties, BODY_PROPERTIES_ALLOWED, "body property")
        return cls(
            tuple(body_properties) if body_properties is not None else DEFAULT_BODY_PROPERTIES,
            bool(args.get("fetchTextBodyValues")),
            bool(args.get("fetchHTMLBodyValues")),
            bool(args.get("fetchAllBodyValues")),
            args.get("maxBodyValueBytes") or 0,
        )

    def needs_message(self, properties: list[str]) -> bool:
        return "bodyValues" in properties and (self.fetch_text or self.fetch_html or self.fetch_all)


def _header(headers: list[dict[str, str]], prop: str) -> Any:
    parsed = parse_header_property(prop)
    assert parsed is not None  # checked by check_properties
    name, form, all_ = parsed
    return header_values(headers, name, form, all_)


def _render_part(
    part: dict[str, Any], blob_id: str, properties: tuple[str, ...], tree: bool
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for prop in properties:
        if prop == "blobId":
            out[prop] = part_blob_id(blob_id, part["partId"]) if part["partId"] else None
        elif prop == "subParts":
            continue
        elif prop.startswith("header:"):
            out[prop] = _header(part["headers"], prop)
        else:
            out[prop] = part.get(prop)
    if tree and "subParts" in part:
        out["subParts"] = [_render_part(p, blob_id, properties, True) for p in part["subParts"]]
    elif "subParts" in properties:
        out["subParts"] = None  # asked for, and a leaf has none (RFC 8621 §4.1.4)
    return out


def wanted_values(model: dict[str, Any], options: BodyOptions) -> list[str]:
    """The partIds whose ``bodyValues`` the options ask for."""
    if options.fetch_all:
        return [
            p["partId"]
            for p in iter_parts(model["bodyStructure"])
            if p["partId"] and p["type"].startswith("text/")
        ]
    wanted: list[str] = []
    if options.fetch_text:
        wanted += model["textBody"]
    if options.fetch_html:
        wanted += model["htmlBody"]
    return wanted


def body_values(message: bytes, part_ids: list[str], max_bytes: int) -> dict[str, dict[str, Any]]:
    """Decode body values from the raw message (CPU-heavy: runs in the worker pool)."""
    return MessageReader(message).body_values(part_ids, max_bytes)


def undecodable_values(model: dict[str, Any], part_ids: list[str]) -> dict[str, dict[str, Any]]:
    """What ``bodyValues`` shows of text parts that could not be decoded in time budget:
    an empty value flagged as truncated and as an encoding problem (RFC 8621 §4.1.4)."""
    parts = iter_parts(model["bodyStructure"])
    text = {p["partId"] for p in parts if p["type"].startswith("text/")}
    empty = {"value": "", "isEncodingProblem": True, "isTruncated": True}
    return {pid: dict(empty) for pid in part_ids if pid in text}


def render_email(
    model: dict[str, Any],
    properties: list[str],
    options: BodyOptions,
    values: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The requested properties of a stored (or just parsed) Email model.

    ``values`` are the ``bodyValues`` (decoded beforehand, see ``body_values``).
    """
    out: dict[str, Any] = {}
    blob_id = model["blobId"]
    for prop in properties:
        if prop in ("textBody", "htmlBody", "attachments"):
            out[prop] = [
                _render_part(p, blob_id, options.body_properties, False)
                for p in expand_parts(model, model[prop])
            ]
        elif prop == "bodyStructure":
            out[prop] = _render_part(model["bodyStructure"], blob_id, options.body_properties, True)
        elif prop == "bodyValues":
            out[prop] = values or {}
        elif prop.startswith("header:"):
            out[prop] = _header(model["headers"], prop)
        else:
            out[prop] = model.get(prop)
    return out
