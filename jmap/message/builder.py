"""``build_message``: RFC 8621 Email/set create properties -> RFC 5322 message octets."""

from __future__ import annotations

import binascii
import re
import unicodedata
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

from . import grammar
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


class _Invalid(ValueError):
    """A value that cannot be written; ``path`` continues the property's path."""

    def __init__(self, path: str, description: str) -> None:
        super().__init__(description)
        self.path = path


class _Errors:
    """Every invalid property of one create, so they are named at once (RFC 8620 §5.3)."""

    def __init__(self) -> None:
        self.found: dict[str, str] = {}

    def add(self, path: str, description: str) -> None:
        self.found.setdefault(path, description)

    def check(self) -> None:
        if self.found:
            paths = sorted(self.found)
            raise EmailCreateError(paths, "; ".join(f"{p}: {self.found[p]}" for p in paths))


# ---------------------------------------------------------------- header encoding

_PRINTABLE = re.compile(r"[\x20-\x7e]*")
#: longest text written unencoded; RFC 5322 §2.1.1 limits a line to 998 octets
_MAX_PLAIN = 900
MAX_LINE = 998


def _encoded_words(value: str) -> str:
    """RFC 2047 encoded-words, folded: safe for any text, control characters included."""
    return Header(value, "utf-8").encode(linesep=CRLF, maxlinelen=76)


def _is_plain(value: str) -> bool:
    """Text that reads the same written as is: printable US-ASCII, no ``=?`` (which a
    reader would take for an encoded-word), short enough for one line."""
    return (
        len(value) <= _MAX_PLAIN and _PRINTABLE.fullmatch(value) is not None and "=?" not in value
    )


def _folded_text(value: str) -> str:
    """White space runs as one space, control characters dropped: what a reader of the
    field gets back (RFC 5322 text holds no controls; readers drop them, unfolding)."""
    kept = "".join(c for c in value if c.isspace() or unicodedata.category(c) != "Cc")
    return " ".join(kept.split())


def _encode_text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid("", "expected String")
    if _is_plain(value):
        return value
    return _encoded_words(_folded_text(value))


def _encode_phrase(value: str) -> str:
    """A display-name or group name: an atom, a quoted-string, or RFC 2047 encoded-words;
    never the raw text (RFC 5322 §3.2.5, RFC 2047 §5(3))."""
    value = _folded_text(value)
    if not _is_plain(value):
        return _encoded_words(value)
    if _SPECIALS.search(value):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def _encode_address(addr: Any, path: str) -> str:
    if not isinstance(addr, dict):
        raise _Invalid(path, "an EmailAddress is an object")
    email = addr.get("email")
    if not grammar.matches(grammar.ADDR_SPEC, email):
        raise _Invalid(path + "/email", "email must be an addr-spec (RFC 5322 §3.4.1)")
    name = addr.get("name")
    if name is not None and not isinstance(name, str):
        raise _Invalid(path + "/name", "name must be a String or null")
    shown = _encode_phrase(name) if name else ""
    return f"{shown} <{email}>" if shown else email


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


def _encode_addresses(value: Any, path: str = "") -> str:
    if not isinstance(value, list):
        raise _Invalid(path, "expected EmailAddress[]")
    return _join_folded([_encode_address(a, f"{path}/{i}") for i, a in enumerate(value)])


def _encode_grouped(value: Any) -> str:
    if not isinstance(value, list):
        raise _Invalid("", "expected EmailAddressGroup[]")
    items: list[str] = []
    for i, group in enumerate(value):
        if not isinstance(group, dict):
            raise _Invalid(f"/{i}", "an EmailAddressGroup is an object")
        members = _encode_addresses(group.get("addresses") or [], f"/{i}/addresses")
        name = group.get("name")
        if name is not None and not isinstance(name, str):
            raise _Invalid(f"/{i}/name", "name must be a String or null")
        shown = _encode_phrase(name) if name else ""
        if shown:
            items.append(f"{shown}: {members};")
        elif members:
            items.append(members)
    return _join_folded(items)


def _encode_message_ids(value: Any) -> str:
    if not isinstance(value, list):
        raise _Invalid("", "expected String[]")
    for i, v in enumerate(value):
        if not grammar.matches(grammar.MSG_ID, v):
            raise _Invalid(f"/{i}", "a message id is id-left@id-right (RFC 5322 §3.6.4)")
    return _join_folded([f"<{v}>" for v in value], sep="")


def _encode_date(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid("", "expected Date")
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise _Invalid("", "expected Date") from None
    if dt.tzinfo is None:
        raise _Invalid("", "Date needs an offset")
    return format_datetime(dt)


def _encode_urls(value: Any) -> str:
    if not isinstance(value, list):
        raise _Invalid("", "expected String[]")
    for i, v in enumerate(value):
        if not grammar.matches(grammar.URL, v):
            raise _Invalid(f"/{i}", "a URL has a scheme and URI characters only (RFC 3986)")
    return _join_folded([f"<{v}>" for v in value])


def _encode_raw(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid("", "expected String")
    value = value[1:] if value.startswith(" ") else value
    problem = grammar.field_body_problem(value)
    if problem:
        raise _Invalid("", problem)
    return value


_ENCODERS: dict[str, Callable[[Any], str]] = {
    "Raw": _encode_raw,
    "Text": _encode_text,
    "Addresses": _encode_addresses,
    "GroupedAddresses": _encode_grouped,
    "MessageIds": _encode_message_ids,
    "Date": _encode_date,
    "URLs": _encode_urls,
}


def _field(name: str, value: str) -> str:
    """``Name: value``; refuses a line longer than RFC 5322 §2.1.1 allows."""
    line = f"{name}: {value}"
    if any(len(part.encode()) > MAX_LINE for part in line.split(CRLF)):
        raise _Invalid("", f"a header line is at most {MAX_LINE} octets")
    return line


def _header_props(obj: dict[str, Any], where: str, errors: _Errors) -> list[tuple[str, str, str]]:
    """(property path, header name, field line) for every valid header:* property of
    ``obj``; the invalid ones go to ``errors``."""
    out: list[tuple[str, str, str]] = []
    for prop, value in obj.items():
        if not prop.startswith("header:"):
            continue
        path = where + prop
        parsed = parse_header_property(prop)
        if parsed is None:
            errors.add(path, f"invalid header property {prop}")
            continue
        name, form, all_ = parsed
        if not form_allowed(name, form):
            errors.add(path, f"as{form} is not allowed for {name}")
            continue
        if name.lower() == "content-transfer-encoding":
            errors.add(path, "Content-Transfer-Encoding is set by the server")
            continue
        values = value if all_ else [value]
        if not isinstance(values, list):
            errors.add(path, ":all needs an array")
            continue
        for n, v in enumerate(values):
            if v is None:
                continue
            try:
                out.append((path, name, _field(name, _ENCODERS[form](v))))
            except _Invalid as exc:
                errors.add(path + (f"/{n}" if all_ else "") + exc.path, str(exc))
    return out


# ---------------------------------------------------------------- parts


def _param(key: str, value: str) -> str:
    if value.isascii() and not re.search(r'[\x00-\x1f\x7f"\\]', value):
        return f'{key}="{value}"'
    return f"{key}*=utf-8''{quote(value, safe='')}"


#: part property -> the header field it is written into
_PART_FIELDS = {
    "type": "content-type",
    "charset": "content-type",
    "name": "content-type",
    "disposition": "content-disposition",
    "cid": "content-id",
    "language": "content-language",
    "location": "content-location",
}
#: part property -> (grammar, what it must be)
_PART_GRAMMAR = {
    "type": (grammar.MEDIA_TYPE, "a media type, type/subtype (RFC 2045 §5.1)"),
    "charset": (grammar.TOKEN, "a charset name, a token (RFC 2045 §5.1)"),
    "disposition": (grammar.TOKEN, "a disposition type, a token (RFC 2183 §2)"),
    "cid": (grammar.CONTENT_ID, "a Content-ID without angle brackets (RFC 2045 §7)"),
    "location": (grammar.URI_REFERENCE, "a URI reference (RFC 2557 §4.1, RFC 3986)"),
}


def _check_part_values(part: dict[str, Any], where: str, errors: _Errors) -> bool:
    """The part's own properties against their fields' grammar; False if any is bad."""
    ok = True
    for prop, (pattern, what) in _PART_GRAMMAR.items():
        value = part.get(prop)
        if value is not None and not grammar.matches(pattern, value):
            errors.add(f"{where}/{prop}", f"{prop} must be {what}")
            ok = False
    language = part.get("language")
    if language is not None and not (
        isinstance(language, list)
        and all(grammar.matches(grammar.LANGUAGE_TAG, t) for t in language)
    ):
        errors.add(f"{where}/language", "language is a list of RFC 5646 language tags")
        ok = False
    name = part.get("name")
    if name is not None and not isinstance(name, str):
        errors.add(f"{where}/name", "name must be a String or null")
        ok = False
    return ok


class _Builder:
    def __init__(
        self, email: dict[str, Any], get_blob: Callable[[str], bytes | None], errors: _Errors
    ) -> None:
        self.email = email
        self.get_blob = get_blob
        self.errors = errors
        body_values = email.get("bodyValues")
        if body_values is not None and not isinstance(body_values, dict):
            errors.add("bodyValues", "bodyValues must be an object")
            body_values = None
        self.body_values: dict[str, Any] = body_values or {}
        self.used_values: set[str] = set()
        self.missing_blobs: list[str] = []
        #: part path -> (property path, lower-cased field name) of its header:* properties
        self.part_fields: dict[str, list[tuple[str, str]]] = {}
        self.counter = 0

    def boundary(self) -> str:
        self.counter += 1
        return f"=_fulmar_{uuid.uuid4().hex}_{self.counter}"

    def leaf(self, part: Any, where: str, default_type: str) -> bytes:
        """The octets (headers and encoded body) of one leaf part; b"" if it is invalid."""
        errors = self.errors
        if not isinstance(part, dict):
            errors.add(where, "EmailBodyPart must be an object")
            return b""
        before = len(errors.found)
        if "headers" in part:
            errors.add(where + "/headers", "headers is not allowed on create")
        part_id, blob_id = part.get("partId"), part.get("blobId")
        if (part_id is None) == (blob_id is None):
            errors.add(where, "a part needs exactly one of partId and blobId")
        elif not isinstance(part_id if blob_id is None else blob_id, str):
            errors.add(where + ("/partId" if blob_id is None else "/blobId"), "must be a String")
        if not _check_part_values(part, where, errors) or len(errors.found) > before:
            self.extra_headers(part, where, skip_content=True)  # to report those too
            return b""
        typ = (part.get("type") or default_type).lower()
        if typ.startswith("multipart/"):
            errors.add(where + "/type", "leaf part cannot be multipart")
        charset = part.get("charset")
        extra = self.extra_headers(part, where, skip_content=True)
        if part_id is not None:
            if charset is not None or part.get("size") is not None:
                errors.add(
                    where + ("/charset" if charset is not None else "/size"),
                    "charset and size are not allowed with partId",
                )
            value = self.body_values.get(part_id)
            if not isinstance(value, dict) or not isinstance(value.get("value"), str):
                errors.add(where + "/partId", f"no bodyValues entry {part_id}")
            elif value.get("isEncodingProblem") or value.get("isTruncated"):
                errors.add("bodyValues/" + part_id, "isEncodingProblem/isTruncated must be false")
            if not typ.startswith("text/"):
                errors.add(where + "/type", "partId parts must be text/*")
            if len(errors.found) > before:
                return b""
            self.used_values.add(part_id)
            text = value["value"].replace("\r\n", "\n").replace("\r", "\n")
            data = text.encode("utf-8")
            ctype = f"{typ}; charset=utf-8"
            if data.isascii() and all(len(line) <= MAX_LINE for line in data.split(b"\n")):
                cte, body = "7bit", data.replace(b"\n", b"\r\n")
            else:
                cte = "quoted-printable"
                body = binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")
        else:
            if len(errors.found) > before:
                return b""
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
            lines.append(f"Content-ID: <{part['cid']}>")
        if part.get("language"):
            lines.append("Content-Language: " + ", ".join(part["language"]))
        if part.get("location"):
            lines.append(f"Content-Location: {part['location']}")
        lines.append(f"Content-Transfer-Encoding: {cte}")
        lines += extra
        return (CRLF.join(lines) + CRLF + CRLF).encode("utf-8") + body

    def extra_headers(self, obj: dict[str, Any], where: str, skip_content: bool) -> list[str]:
        """The part's header:* fields; each given twice (also as a part property, RFC 8621
        §4.6) is refused."""
        out = []
        fields = self.part_fields.setdefault(where, [])
        given = {_PART_FIELDS[p]: p for p in obj if p in _PART_FIELDS and obj[p] is not None}
        for prop, name, line in _header_props(obj, where + "/" if where else "", self.errors):
            key = name.lower()
            fields.append((prop, key))
            if key in given:
                self.errors.add(prop, f"{name} is also given as {given[key]}")
                self.errors.add(f"{where}/{given[key]}", f"{name} is also given as {prop}")
                continue
            if skip_content and key in ("content-type", "content-disposition"):
                continue
            out.append(line)
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
            typ = part.get("type") or "multipart/mixed"
            if not grammar.matches(grammar.MEDIA_TYPE, typ) or not typ.lower().startswith(
                "multipart/"
            ):
                self.errors.add(where + "/type", "subParts need a multipart type")
                typ = "multipart/mixed"
            subs = part["subParts"]
            if not isinstance(subs, list):
                self.errors.add(where + "/subParts", "subParts must be an array")
                subs = []
            children = [self.structure(s, f"{where}/subParts/{i}") for i, s in enumerate(subs)]
            extra = self.extra_headers(part, where, skip_content=True)
            return self.multipart(typ.lower().split("/", 1)[1], children, extra)
        return self.leaf(part, where, "text/plain")

    def from_lists(self) -> tuple[bytes, str | None]:
        """The body built from textBody/htmlBody/attachments, and the path of the part
        that became its root (None when the root is a multipart made here)."""
        e = self.email
        lists = {}
        for prop in ("textBody", "htmlBody", "attachments"):
            value = e.get(prop) or []
            if not isinstance(value, list):
                self.errors.add(prop, f"{prop} must be an array")
                value = []
            lists[prop] = value
        text, html, attachments = lists["textBody"], lists["htmlBody"], lists["attachments"]
        for prop, parts, typ in (("textBody", text, "text/plain"), ("htmlBody", html, "text/html")):
            given = (parts[0].get("type") or typ) if parts and isinstance(parts[0], dict) else typ
            if len(parts) > 1 or (isinstance(given, str) and given.lower() != typ):
                self.errors.add(prop, f"{prop} must hold exactly one {typ} part")
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
        root: str | None = None
        if html_part is not None and inline:
            html_part = self.multipart("related", [html_part, *inline])
        elif html_part is not None:
            root = "htmlBody/0"
        if text_part is not None and html_part is not None:
            body, root = self.multipart("alternative", [text_part, html_part]), None
        elif text_part is not None:
            body, root = text_part, "textBody/0"
        else:
            body = html_part or self.leaf_empty()
        if others:
            body, root = self.multipart("mixed", [body, *others]), None
        return body, root

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
    ``Date`` when absent.  Raises :class:`EmailCreateError` (``invalidProperties``, with
    every offending property path) or :class:`BlobNotFoundError` (``blobNotFound``).
    Every value written into a header field is checked against that field's grammar
    (``grammar``), so none can add a field of its own.
    Metadata (mailboxIds, keywords, receivedAt) is ignored: that is the caller's business.
    """
    if not isinstance(email, dict):
        raise EmailCreateError([], "Email must be an object")
    errors = _Errors()
    if "headers" in email:
        errors.add("headers", "headers is not allowed on create")
    for prop in email.keys() & _SERVER_SET:
        errors.add(prop, "server-set property")
    if "bodyStructure" in email:
        for prop in ("textBody", "htmlBody", "attachments"):
            if prop in email:
                errors.add("bodyStructure", "bodyStructure excludes textBody/htmlBody/attachments")
    for prop in email:
        if not (
            prop.startswith("header:")
            or prop in _METADATA
            or prop in _BODY_PROPS
            or prop in _ADDRESS_PROPS
            or prop in _MSGID_PROPS
            or prop in ("subject", "sentAt")
        ):
            errors.add(prop, "unknown property")

    headers: list[tuple[str, str, str]] = []  # (property path, name, field line)
    for props, encode in (
        (_ADDRESS_PROPS, _encode_addresses),
        (_MSGID_PROPS, _encode_message_ids),
        ({"subject": "Subject"}, _encode_text),
        ({"sentAt": "Date"}, _encode_date),
    ):
        for prop, name in props.items():
            if email.get(prop) is not None:
                try:
                    headers.append((prop, name, _field(name, encode(email[prop]))))
                except _Invalid as exc:
                    errors.add(prop + exc.path, str(exc))
    for prop, name, line in _header_props(email, "", errors):
        if name.lower().startswith("content-"):
            errors.add(prop, "Content-* headers belong on body parts")
        else:
            headers.append((prop, name, line))

    seen: dict[str, str] = {}
    for prop, name, _line in headers:
        key = name.lower()
        if key in seen and seen[key] != prop:
            errors.add(seen[key], f"{name} is given twice")
            errors.add(prop, f"{name} is given twice")
        seen.setdefault(key, prop)

    builder = _Builder(email, get_blob, errors)
    if "bodyStructure" in email:
        body, root = builder.structure(email["bodyStructure"], "bodyStructure"), "bodyStructure"
    else:
        body, root = builder.from_lists()
    # The root part's header fields share the message's header block (RFC 8621 §4.6).
    for prop, key in builder.part_fields.get(root, []) if root else []:
        if key in seen:
            errors.add(prop, "the field is also given on the Email")
            errors.add(seen[key], f"the field is also given as {prop}")
        seen.setdefault(key, prop)
    errors.check()
    if builder.missing_blobs:
        raise BlobNotFoundError(builder.missing_blobs)

    lines = [line for _prop, _name, line in headers]
    if "message-id" not in seen:
        lines.append(f"Message-ID: <{uuid.uuid4().hex}@{domain}>")
    if "date" not in seen:
        lines.append("Date: " + format_datetime(now or datetime.now(UTC)))
    if "mime-version" not in seen:
        lines.append("MIME-Version: 1.0")
    return (CRLF.join(lines) + CRLF).encode("utf-8") + body
