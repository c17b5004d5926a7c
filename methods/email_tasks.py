"""The CPU-heavy steps of the mail methods, run in the worker pool (``jmap.workers``).

Each is a plain function of plain data (message octets in, dicts out) so it pickles cheaply,
and answers failures as values: the builder's exceptions carry extra fields that would not
survive pickling.
"""

from __future__ import annotations

from typing import Any

from jmap.message import (
    BlobNotFoundError,
    EmailCreateError,
    build_message,
    looks_like_message,
    parse_message,
)

from .email_get import BodyOptions, body_values, render_email, wanted_values

__all__ = ["body_values", "build_email", "parse", "parse_email"]


def parse(octets: bytes, must_look_like_mail: bool = True) -> dict[str, Any] | None:
    """The stored Email model of a message (``parse_message``); None for a blob that is
    not a message at all (RFC 8621 §4.8), when that is checked."""
    if must_look_like_mail and not looks_like_message(octets):
        return None
    return parse_message(octets)


def parse_email(
    octets: bytes, blob_id: str, properties: list[str], options: BodyOptions
) -> dict[str, Any] | None:
    """Email/parse of one blob: parsed and rendered, body values included; None for a blob
    that is not a message at all (RFC 8621 §4.9 notParsable)."""
    if not looks_like_message(octets):
        return None
    model = {
        **parse_message(octets),
        "id": None,
        "blobId": blob_id,
        "threadId": None,
        "mailboxIds": None,
        "keywords": None,
        "receivedAt": None,
    }
    values = None
    if options.needs_message(properties):
        values = body_values(octets, wanted_values(model, options), options.max_bytes)
    return render_email(model, properties, options, values)


def build_email(
    email: dict[str, Any], blobs: dict[str, bytes | None], domain: str
) -> tuple[str, Any, Any]:
    """Email/set create: ("ok", octets, model), ("invalid", properties, description) or
    ("blobNotFound", blob ids, None)."""
    try:
        raw = build_message(email, blobs.get, domain=domain)
    except BlobNotFoundError as exc:
        return "blobNotFound", exc.not_found, None
    except EmailCreateError as exc:
        return "invalid", exc.properties, exc.description
    return "ok", raw, parse_message(raw)
