"""Parse-once RFC 5322/MIME -> JMAP Email model (RFC 8621 §4), as a pure library.

Entry points
------------
``parse_message(raw: bytes) -> dict``
    Everything Email/get returns by default, computed once at ingest.  Keys:

    - ``size``: ``len(raw)``
    - ``headers``: ``[{"name", "value"}]`` (Raw form, message order)
    - ``messageId``, ``inReplyTo``, ``references``: ``list[str] | None``
    - ``sender``, ``from``, ``to``, ``cc``, ``bcc``, ``replyTo``:
      ``[{"name": str|None, "email": str}] | None`` (None when the header is absent)
    - ``subject``: ``str | None``; ``sentAt``: RFC 3339 ``Date`` string or None
    - ``bodyStructure``: EmailBodyPart dict tree.  Each part has ``partId`` (leaves are
      numbered "1", "2", ... depth-first; None for multipart/*), ``size``, ``headers``,
      ``name``, ``type``, ``charset``, ``disposition``, ``cid``, ``language``, ``location``;
      multiparts also have ``subParts``.  No ``blobId``: callers derive it from the partId.
    - ``textBody``, ``htmlBody``, ``attachments``: lists of **partIds** (strings); resolve
      them with :func:`expand_parts` / :func:`parts_by_id`.
    - ``hasAttachment``: bool; ``preview``: str (<= 256 characters)
    - ``receivedAt``: UTC date of the topmost Received header (Email/import default) or None
    - ``threadKeys``: ``{"messageIds": [...], "baseSubject": str}``
    - ``search``: ``{"from", "to", "cc", "bcc", "subject", "body", "attachments"}`` strings
      to index (not needed by Email/get: pop it before storing the metadata).

``looks_like_message(raw) -> bool``
    Whether a blob is a message at all (Email/parse ``notParsable``, Email/import
    ``invalidEmail``); damaged mail still passes.

``MessageReader(raw)`` / ``part_bytes`` / ``get_body_value``
    Re-read the stored message for part downloads and ``bodyValues``.

``header_values``, ``parse_form``, ``form_allowed``, ``parse_header_property``
    ``header:{name}:as{Form}:all`` support.

``build_message``
    Email/set create: JMAP create properties -> RFC 5322 octets.
"""

from .builder import (
    DEFAULT_BODY_PROPERTIES,
    PART_PROPERTIES,
    BlobNotFoundError,
    EmailCreateError,
    build_message,
)
from .headers import (
    FORMS,
    form_allowed,
    header_values,
    parse_form,
    parse_header_property,
)
from .model import expand_parts, parse_message, parts_by_id
from .sniff import looks_like_message
from .thread_keys import base_subject
from .values import MessageReader, get_body_value, part_bytes, truncate_utf8

__all__ = [
    "DEFAULT_BODY_PROPERTIES",
    "FORMS",
    "PART_PROPERTIES",
    "BlobNotFoundError",
    "EmailCreateError",
    "MessageReader",
    "base_subject",
    "build_message",
    "expand_parts",
    "form_allowed",
    "get_body_value",
    "header_values",
    "looks_like_message",
    "parse_form",
    "parse_header_property",
    "parse_message",
    "part_bytes",
    "parts_by_id",
    "truncate_utf8",
]
