"""``build_message``: RFC 8621 Email/set create properties -> RFC 5322 message octets."""

from __future__ import annotations

import binascii
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

from .headers import form_allowed, parse_header_property

CRLF = "\r\n"
_ADDRESS_PROPS = {
    "from": "From",
    "sender": "Sender",
    "to": "To",
    "cc": "Cc",
    "bcc": "Bcc",
    "replyTo": "Reply-To",
}
_MSGID_PROPS = {"messageId": "Message-ID", "inReplyTo": "In-Reply-To", "references": "References"}
_METADATA = frozenset(("mailboxIds", "keywords", "receivedAt"))
_SERVER_SET = frozenset(("id", "blobId", "threadId", "size", "hasAttachment", "preview"))
_BODY_PROPS = frozenset(("bodyStructure", "bodyValues", "textBody", "htmlBody", "attachments"))
#: RFC 8621 §4.1.4: EmailBodyPart properties Email/get returns by default ("bodyProperties")
DEFAULT_BODY_PROPERTIES = (
    "partId",
    "blobId",
    "size",
    "name",
    "type",
    "charset",
    "disposition",
    "cid",
    "language",
    "location",
)
#: every EmailBodyPart property but ``headers`` and the ``header:*`` forms
PART_PROPERTIES = frozenset((*DEFAULT_BODY_PROPERTIES, "subParts"))
_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')


class EmailCreateError(ValueError):
    """An Email/set create that must be answered with ``invalidProperties``."""

    def __init__(self, properties: list[str], description: str) -> None:
        super().__init__(description)
        self.properties = properties
        self.description = description


class BlobNotFoundError(LookupError):
    """Referenced blobs do not exist (``blobNotFound`` with ``notFound``)."""

    def __init__(self, blob_ids: list[str]) -> None:
        super().__init__("blob not found: " + ", ".join(blob_ids))
        self.not_found = blob_ids


# ---------------------------------------------------------------- header encoding


def _encode_text(value: str) -> str:
    if value.isascii() and "\n" not in value and "\r" not in value:
        return value
    value = " ".join(value.split())
    if value.isascii():
        return value
    return Header(value, "utf-8").encode(linesep=CRLF, maxlinelen=76)


def _encode_address(addr: Any) -> str:
    if not isinstance(addr, dict) or not isinstance(addr.get("email"), str):
        raise ValueError("EmailAddress needs an email")
    email = addr["email"].strip()
    name = addr.get("name")
    if not name:
        return email
    if not isinstance(name, str):
        raise ValueError("EmailAddress name must be a string")
    name = " ".join(name.split())
    if not name.isascii():
        shown = Header(name, "utf-8").encode(linesep=CRLF, maxlinelen=76)
    elif _SPECIALS.search(name):
        shown = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    else:
        shown = name
    return f"{shown} <{email}>"


def _join_folded(items: list[str], sep: str = ",") -> str:
    out = ""
    line = 0
    for i, item in enumerate(items):
        piece = item if i == 0 else sep + " " + item
        if i and line + len(piece) > 76:
            out += sep + CRLF + " " + item
            line = len(item) + 1
        else:
            out += piece
            line += len(piece)
    return out


def _encode_addresses(value: Any) -> str:
    if not isinstance(value, list):
        raise ValueError("expected EmailAddress[]")
    return _join_folded([_encode_address(a) for a in value])


def _encode_grouped(value: Any) -> str:
    if not isinstance(value, list):
        raise ValueError("expected EmailAddressGroup[]")
    items: list[str] = []
    for group in value:
        members = _encode_addresses(group.get("addresses") or [])
        if group.get("name"):
            items.append(f"{_encode_text(group['name'])}: {members};")
        elif members:
            items.append(members)
    return _join_folded(items)


def _encode_message_ids(value: Any) -> str:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("expected String[]")
    return _join_folded([f"<{v.strip('<>')}>" for v in value], sep="")


def _encode_date(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected Date")
    dt = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError("Date needs an offset")
    return format_datetime(dt)


def _encode_urls(value: Any) -> str:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected String[]")
    return _join_folded([f"<{v}>" for v in value])


def _encode_raw(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected String")
    return value[1:] if value.startswith(" ") else value


_ENCODERS: dict[str, Callable[[Any], str]] = {
    "Raw": _encode_raw,
    "Text": lambda v: _encode_text(v) if isinstance(v, str) else _raise("expected String"),
    "Addresses": _encode_addresses,
    "GroupedAddresses": _encode_grouped,
    "MessageIds": _encode_message_ids,
    "Date": _encode_date,
    "URLs": _encode_urls,
}


def _raise(msg: str) -> str:
    raise ValueError(msg)


def _header_props(obj: dict[str, Any], where: str) -> list[tuple[str, str, str]]:
    """(property, header name, encoded value) for every header:* property of ``obj``."""
    out: list[tuple[str, str, str]] = []
    for prop, value in obj.items():
        if not prop.startswith("header:"):
            continue
        parsed = parse_header_property(prop)
        if parsed is None:
            raise EmailCreateError([where + prop], f"invalid header property {prop}")
        name, form, all_ = parsed
        if not form_allowed(name, form):
            raise EmailCreateError([where + prop], f"as{form} is not allowed for {name}")
        if name.lower() == "content-transfer-encoding":
            raise EmailCreateError([where + prop], "Content-Transfer-Encoding is set by the server")
        values = value if all_ else [value]
        if not isinstance(values, list):
            raise EmailCreateError([where + prop], ":all needs an array")
        for v in values:
            if v is None:
                continue
            try:
                out.append((prop, name, _ENCODERS[form](v)))
            except (ValueError, TypeError, AttributeError) as exc:
                raise EmailCreateError([where + prop], str(exc)) from None
    return out


# ---------------------------------------------------------------- parts


def _param(key: str, value: str) -> str:
    if value.isascii() and not re.search(r'[\x00-\x1f"\\]', value):
        return f'{key}="{value}"'
    return f"{key}*=utf-8''{quote(value, safe='')}"


class _Builder:
    def __init__(self, email: dict[str, Any], get_blob: Callable[[str], bytes | None]) -> None:
        self.email = email
        self.get_blob = get_blob
        self.body_values: dict[str, Any] = email.get("bodyValues") or {}
        self.used_values: set[str] = set()
        self.missing_blobs: list[str] = []
        self.counter = 0

    def boundary(self) -> str:
        self.counter += 1
        return f"=_fulmar_{uuid.uuid4().hex}_{self.counter}"

    def leaf(self, part: dict[str, Any], where: str, default_type: str) -> bytes:
        """The octets (headers and encoded body) of one leaf part."""
        if not isinstance(part, dict):
            raise EmailCreateError([where], "EmailBodyPart must be an object")
        if "headers" in part:
            raise EmailCreateError([where + "/headers"], "headers is not allowed on create")
        part_id, blob_id = part.get("partId"), part.get("blobId")
        if (part_id is None) == (blob_id is None):
            raise EmailCreateError([where], "a part needs exactly one of partId and blobId")
        typ = (part.get("type") or default_type).lower()
        if typ.startswith("multipart/"):
            raise EmailCreateError([where + "/type"], "leaf part cannot be multipart")
        charset = part.get("charset")
        if part_id is not None:
            if charset is not None or part.get("size") is not None:
                raise EmailCreateError(
                    [where + ("/charset" if charset is not None else "/size")],
                    "charset and size are not allowed with partId",
                )
            value = self.body_values.get(part_id)
            if not isinstance(value, dict) or not isinstance(value.get("value"), str):
                raise EmailCreateError([where + "/partId"], f"no bodyValues entry {part_id}")
            if value.get("isEncodingProblem") or value.get("isTruncated"):
                raise EmailCreateError(
                    ["bodyValues/" + part_id], "isEncodingProblem/isTruncated must be false"
                )
            self.used_values.add(part_id)
            if not typ.startswith("text/"):
                raise EmailCreateError([where + "/type"], "partId parts must be text/*")
            text = value["value"].replace("\r\n", "\n").replace("\r", "\n")
            data = text.encode("utf-8")
            ctype = f"{typ}; charset=utf-8"
            if data.isascii() and all(len(line) <= 998 for line in data.split(b"\n")):
                cte, body = "7bit", data.replace(b"\n", b"\r\n")
            else:
                cte = "quoted-printable"
                body = binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")
        else:
            blob = self.get_blob(blob_id)
            if blob is None:
                self.missing_blobs.append(blob_id)
                blob = b""
            ctype = typ + (f"; charset={charset}" if charset and typ.startswith("text/") else "")
            cte = "base64"
            encoded = binascii.b2a_base64(blob, newline=False)
            body = b"\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
        name = part.get("name")
        if name:
            ctype += "; " + _param("name", name)
        lines = [f"Content-Type: {ctype}"]
        disposition = part.get("disposition")
        if disposition or name:
            disp = disposition or "attachment"
            if name:
                disp += "; " + _param("filename", name)
            lines.append(f"Content-Disposition: {disp}")
        if part.get("cid"):
            lines.append(f"Content-ID: <{part['cid'].strip('<>')}>")
        if part.get("language"):
            lines.append("Content-Language: " + ", ".join(part["language"]))
        if part.get("location"):
            lines.append(f"Content-Location: {part['location']}")
        lines.append(f"Content-Transfer-Encoding: {cte}")
        lines += self.extra_headers(part, where, skip_content=True)
        return (CRLF.join(lines) + CRLF + CRLF).encode("utf-8") + body

    def extra_headers(self, obj: dict[str, Any], where: str, skip_content: bool) -> list[str]:
        out = []
        for _prop, name, value in _header_props(obj, where + "/" if where else ""):
            if skip_content and name.lower() in ("content-type", "content-disposition"):
                continue
            out.append(f"{name}: {value}")
        return out

    def multipart(self, subtype: str, children: list[bytes], extra: list[str] = ()) -> bytes:
        b = self.boundary()
        head = [f'Content-Type: multipart/{subtype}; boundary="{b}"', *extra]
        out = (CRLF.join(head) + CRLF + CRLF).encode()
        for child in children:
            out += f"--{b}{CRLF}".encode() + child + CRLF.encode()
        return out + f"--{b}--{CRLF}".encode()

    def structure(self, part: Any, where: str) -> bytes:
        if isinstance(part, dict) and part.get("subParts") is not None:
            typ = (part.get("type") or "multipart/mixed").lower()
            if not typ.startswith("multipart/"):
                raise EmailCreateError([where + "/type"], "subParts need a multipart type")
            subs = part["subParts"]
            if not isinstance(subs, list):
                raise EmailCreateError([where + "/subParts"], "subParts must be an array")
            children = [self.structure(s, f"{where}/subParts/{i}") for i, s in enumerate(subs)]
            extra = self.extra_headers(part, where, skip_content=True)
            return self.multipart(typ.split("/", 1)[1], children, extra)
        return self.leaf(part, where, "text/plain")

    def from_lists(self) -> bytes:
        e = self.email
        text = e.get("textBody") or []
        html = e.get("htmlBody") or []
        attachments = e.get("attachments") or []
        for prop, parts, typ in (("textBody", text, "text/plain"), ("htmlBody", html, "text/html")):
            if not isinstance(parts, list) or len(parts) > 1:
                raise EmailCreateError([prop], f"{prop} must hold exactly one {typ} part")
            if parts and (parts[0].get("type") or typ).lower() != typ:
                raise EmailCreateError([prop], f"{prop} must hold exactly one {typ} part")
        if not isinstance(attachments, list):
            raise EmailCreateError(["attachments"], "attachments must be an array")
        text_part = self.leaf(text[0], "textBody/0", "text/plain") if text else None
        html_part = self.leaf(html[0], "htmlBody/0", "text/html") if html else None
        inline: list[bytes] = []
        others: list[bytes] = []
        for i, att in enumerate(attachments):
            built = self.leaf(att, f"attachments/{i}", "application/octet-stream")
            is_inline = isinstance(att, dict) and att.get("cid") and html_part is not None
            if is_inline and (att.get("disposition") or "inline") == "inline":
                inline.append(built)
            else:
                others.append(built)
        if html_part is not None and inline:
            html_part = self.multipart("related", [html_part, *inline])
        if text_part is not None and html_part is not None:
            body = self.multipart("alternative", [text_part, html_part])
        else:
            body = text_part or html_part or self.leaf_empty()
        if others:
            body = self.multipart("mixed", [body, *others])
        return body

    def leaf_empty(self) -> bytes:
        return b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"


def build_message(
    email: dict[str, Any],
    get_blob: Callable[[str], bytes | None],
    *,
    now: datetime | None = None,
    domain: str = "localhost",
) -> bytes:
    """Build the RFC 5322 octets for an Email/set ``create`` object.

    ``get_blob(blobId)`` returns attachment octets or None.  Adds ``Message-ID`` and
    ``Date`` when absent.  Raises :class:`EmailCreateError` (``invalidProperties``, with the
    offending property paths) or :class:`BlobNotFoundError` (``blobNotFound``).
    Metadata (mailboxIds, keywords, receivedAt) is ignored: that is the caller's business.
    """
    if not isinstance(email, dict):
        raise EmailCreateError([], "Email must be an object")
    if "headers" in email:
        raise EmailCreateError(["headers"], "headers is not allowed on create")
    bad = sorted(k for k in email if k in _SERVER_SET)
    if bad:
        raise EmailCreateError(bad, "server-set properties")
    if "bodyStructure" in email and any(
        k in email for k in ("textBody", "htmlBody", "attachments")
    ):
        raise EmailCreateError(
            ["bodyStructure"], "bodyStructure excludes textBody/htmlBody/attachments"
        )
    unknown = sorted(
        k
        for k in email
        if not k.startswith("header:")
        and k not in _METADATA
        and k not in _BODY_PROPS
        and k not in _ADDRESS_PROPS
        and k not in _MSGID_PROPS
        and k not in ("subject", "sentAt")
    )
    if unknown:
        raise EmailCreateError(unknown, "unknown properties")

    headers: list[tuple[str, str, str]] = []  # (property, name, value)
    for prop, name in _ADDRESS_PROPS.items():
        if email.get(prop) is not None:
            try:
                headers.append((prop, name, _encode_addresses(email[prop])))
            except (ValueError, TypeError, AttributeError) as exc:
                raise EmailCreateError([prop], str(exc)) from None
    for prop, name in _MSGID_PROPS.items():
        if email.get(prop) is not None:
            try:
                headers.append((prop, name, _encode_message_ids(email[prop])))
            except (ValueError, TypeError) as exc:
                raise EmailCreateError([prop], str(exc)) from None
    if email.get("subject") is not None:
        if not isinstance(email["subject"], str):
            raise EmailCreateError(["subject"], "subject must be a string")
        headers.append(("subject", "Subject", _encode_text(email["subject"])))
    if email.get("sentAt") is not None:
        try:
            headers.append(("sentAt", "Date", _encode_date(email["sentAt"])))
        except (ValueError, TypeError) as exc:
            raise EmailCreateError(["sentAt"], str(exc)) from None
    header_props = _header_props(email, "")
    for prop, name, _value in header_props:
        if name.lower().startswith("content-"):
            raise EmailCreateError([prop], "Content-* headers belong on body parts")
    headers += header_props

    seen: dict[str, str] = {}
    for prop, name, _value in headers:
        key = name.lower()
        if key in seen and seen[key] != prop:
            raise EmailCreateError([seen[key], prop], f"{name} is given twice")
        seen[key] = prop

    builder = _Builder(email, get_blob)
    if "bodyStructure" in email:
        body = builder.structure(email["bodyStructure"], "bodyStructure")
    else:
        body = builder.from_lists()
    if builder.missing_blobs:
        raise BlobNotFoundError(builder.missing_blobs)

    lines = [f"{name}: {value}" for _prop, name, value in headers]
    if "message-id" not in seen:
        lines.append(f"Message-ID: <{uuid.uuid4().hex}@{domain}>")
    if "date" not in seen:
        lines.append("Date: " + format_datetime(now or datetime.now(UTC)))
    if "mime-version" not in seen:
        lines.append("MIME-Version: 1.0")
    return (CRLF.join(lines) + CRLF).encode("utf-8") + body
