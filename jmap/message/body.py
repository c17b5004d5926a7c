"""EmailBodyPart objects and the textBody/htmlBody/attachments decomposition (RFC 8621 §4.1.4)."""

from __future__ import annotations

import re
from typing import Any

from .headers import header_text, raw_form
from .mime import Entity
from .params import parse_params, strip_comments
from .rfc2047 import decode_words, nfc, unfold

Part = dict[str, Any]


def _clean_name(value: str | None) -> str | None:
    if value is None:
        return None
    name = nfc(" ".join(decode_words(unfold(value)).split()))
    return name or None


def part_name(ent: Entity) -> str | None:
    """Content-Disposition ``filename`` (RFC 2231), else Content-Type ``name`` (RFC 2047)."""
    disp = ent.header("content-disposition")
    if disp is not None:
        _main, params = parse_params(header_text(disp))
        name = _clean_name(params.get("filename"))
        if name:
            return name
    return _clean_name(ent.content_type[1].get("name"))


def part_disposition(ent: Entity) -> str | None:
    """Content-Disposition value without parameters, lower-cased, or None."""
    disp = ent.header("content-disposition")
    if disp is None:
        return None
    main, _params = parse_params(header_text(disp))
    return main or None


def part_charset(ent: Entity) -> str | None:
    """Charset parameter for text/* (implicit ``us-ascii``); None for other types."""
    ctype, params, _present = ent.content_type
    if not ctype.startswith("text/"):
        return None
    charset = params.get("charset", "").strip().strip("\"'").strip()
    return charset or "us-ascii"


def _cid(ent: Entity) -> str | None:
    raw = ent.header("content-id")
    if raw is None:
        return None
    text = strip_comments(unfold(header_text(raw))).strip()
    if text.startswith("<"):
        text = text[1:].split(">", 1)[0]
    text = "".join(text.split())
    return text or None


def _language(ent: Entity) -> list[str] | None:
    raw = ent.header("content-language")
    if raw is None:
        return None
    text = strip_comments(unfold(header_text(raw)))
    tags = [t.strip() for t in re.split(r"[,\s]+", text) if t.strip()]
    return tags or None


def _location(ent: Entity) -> str | None:
    raw = ent.header("content-location")
    if raw is None:
        return None
    text = "".join(unfold(header_text(raw)).split()).strip('"')
    return text or None


def part_size(ent: Entity) -> int:
    """Octets of the part content after transfer decoding."""
    return len(ent.decoded[0])


def make_part(ent: Entity) -> Part:
    """The EmailBodyPart dict for one entity (with ``subParts`` for multiparts only)."""
    part: Part = {
        "partId": ent.part_id,
        "size": 0 if ent.is_multipart else part_size(ent),
        "headers": [{"name": n, "value": raw_form(v)} for n, v in ent.headers],
        "name": part_name(ent),
        "type": ent.type,
        "charset": part_charset(ent),
        "disposition": part_disposition(ent),
        "cid": _cid(ent),
        "language": _language(ent),
        "location": _location(ent),
    }
    if ent.children is not None:
        part["subParts"] = [make_part(c) for c in ent.children]
    return part


def iter_parts(part: Part):
    """Depth-first iteration over a bodyStructure dict tree."""
    stack = [part]
    while stack:
        p = stack.pop()
        yield p
        if "subParts" in p:
            stack.extend(reversed(p["subParts"]))


def _is_inline_media(typ: str) -> bool:
    return typ.startswith(("image/", "audio/", "video/"))


def _parse_structure(
    parts: list[Part],
    multipart_type: str,
    in_alternative: bool,
    html_body: list[Part] | None,
    text_body: list[Part] | None,
    attachments: list[Part],
) -> None:
    """Port of the RFC 8621 §4.1.4 ``parseStructure`` JavaScript."""
    text_length = len(text_body) if text_body is not None else -1
    html_length = len(html_body) if html_body is not None else -1

    for i, part in enumerate(parts):
        typ = part["type"]
        is_multipart = typ.startswith("multipart/")
        is_inline = (
            part["disposition"] != "attachment"
            and (typ in ("text/plain", "text/html") or _is_inline_media(typ))
            and (
                i == 0
                or (multipart_type != "related" and (_is_inline_media(typ) or not part["name"]))
            )
        )
        if is_multipart:
            sub_multi_type = typ.split("/", 1)[1]
            _parse_structure(
                part.get("subParts") or [],
                sub_multi_type,
                in_alternative or sub_multi_type == "alternative",
                html_body,
                text_body,
                attachments,
            )
        elif is_inline:
            if multipart_type == "alternative":
                if typ == "text/plain":
                    if text_body is not None:
                        text_body.append(part)
                elif typ == "text/html":
                    if html_body is not None:
                        html_body.append(part)
                else:
                    attachments.append(part)
                continue
            if in_alternative:
                if typ == "text/plain":
                    html_body = None
                if typ == "text/html":
                    text_body = None
            if text_body is not None:
                text_body.append(part)
            if html_body is not None:
                html_body.append(part)
            if (text_body is None or html_body is None) and _is_inline_media(typ):
                attachments.append(part)
        else:
            attachments.append(part)

    if multipart_type == "alternative" and text_body is not None and html_body is not None:
        # Found HTML part only
        if text_length == len(text_body) and html_length != len(html_body):
            text_body.extend(html_body[html_length:])
        # Found plain text part only
        if html_length == len(html_body) and text_length != len(text_body):
            html_body.extend(text_body[text_length:])


def split_body(structure: Part) -> tuple[list[Part], list[Part], list[Part]]:
    """(textBody, htmlBody, attachments) part lists for a bodyStructure."""
    text_body: list[Part] = []
    html_body: list[Part] = []
    attachments: list[Part] = []
    _parse_structure([structure], "mixed", False, html_body, text_body, attachments)
    return text_body, html_body, attachments


_AUTO_PROCESSED = frozenset(
    (
        "application/pgp-signature",
        "application/pkcs7-signature",
        "application/x-pkcs7-signature",
        "application/pgp-keys",
    )
)


_CID_REF = re.compile(r"cid:([^\s\"'<>()]++)", re.I)
_URL_REF = re.compile(
    r"""(?:src|href|background)\s*+=\s*+(?:"([^"]*+)"|'([^']*+)'|([^\s>]++))""", re.I
)


def _html_references(html_texts: list[str]) -> tuple[set[str], set[str]]:
    """(cid: references, attribute URLs) of the HTML bodies, lower-cased: one pass each."""
    cids: set[str] = set()
    urls: set[str] = set()
    for html in html_texts:
        cids.update(m.group(1).lower() for m in _CID_REF.finditer(html))
        for m in _URL_REF.finditer(html):
            urls.add("".join((m.group(1) or m.group(2) or m.group(3) or "").split()).lower())
    return cids, urls


def has_attachment(attachments: list[Part], html_texts: list[str]) -> bool:
    """True if some attachment should be offered as a download.

    Parts with ``Content-Disposition: inline`` do not count (RFC 8621 SHOULD), nor
    signatures, nor parts an HTML body embeds via ``cid:`` or Content-Location.  The HTML
    is scanned once for its references, whatever the number of attachments.
    """
    cids, urls = _html_references(html_texts) if html_texts else (set(), set())
    for part in attachments:
        if part["disposition"] == "inline":
            continue
        if part["type"] in _AUTO_PROCESSED:
            continue
        if part["disposition"] != "attachment":
            cid = part.get("cid")
            if cid and cid.lower() in cids:
                continue
            loc = part.get("location")
            if loc and loc.lower() in urls:
                continue
        return True
    return False
