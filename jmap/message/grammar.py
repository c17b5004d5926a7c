"""The grammar a value must have before Email/set create writes it into a header field.

Every check is a full match of a linear regular expression (no nested quantifiers over
overlapping classes), so none can backtrack badly. None accepts CR, LF or another control
character, so no value can end its field and start another (header injection).
Non-ASCII letters are allowed where RFC 6532 allows UTF-8 (atoms, quoted strings,
unstructured text).
"""

from __future__ import annotations

import re

#: RFC 6532 UTF8-non-ascii, less C1 controls and Unicode white space
_UTF8 = r"[^\x00-\x9f\s]"
_ATEXT = rf"(?:[A-Za-z0-9!#$%&'*+\-/=?^_`{{|}}~]|{_UTF8})"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_QUOTED = rf'"(?:[\x20\x21\x23-\x5b\x5d-\x7e\t]|\\[\x20-\x7e\t]|{_UTF8})*"'
_DOMAIN_LITERAL = r"\[[\x21-\x5a\x5e-\x7e]*\]"

#: RFC 5322 §3.4.1 addr-spec (local-part "@" domain), without comments or folding
ADDR_SPEC = re.compile(rf"(?:{_DOT_ATOM}|{_QUOTED})@(?:{_DOT_ATOM}|{_DOMAIN_LITERAL})")
#: RFC 5322 §3.6.4 msg-id between its angle brackets: id-left (or obs-id-left, a
#: local-part) "@" id-right (dot-atom-text or no-fold-literal), the shape of an addr-spec
MSG_ID = ADDR_SPEC
#: RFC 2045 §7 Content-ID is a msg-id; a bare id-left is accepted too, as clients send it
CONTENT_ID = re.compile(rf"(?:{_DOT_ATOM}|{_QUOTED})(?:@(?:{_DOT_ATOM}|{_DOMAIN_LITERAL}))?")
_URI_CHARS = r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})"
#: RFC 3986 URI (scheme ":" and URI characters), as List-* fields carry (RFC 2369)
URL = re.compile(rf"[A-Za-z][A-Za-z0-9+.\-]*:{_URI_CHARS}*")
#: RFC 3986 URI-reference characters (Content-Location may be relative, RFC 2557 §4.1)
URI_REFERENCE = re.compile(rf"{_URI_CHARS}+")
#: RFC 2045 §5.1 token: US-ASCII printable characters but tspecials
TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")
MEDIA_TYPE = re.compile(rf"{TOKEN.pattern}/{TOKEN.pattern}")

_LANGTAG = (
    r"(?:[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4}|[a-z]{5,8})"  # language (with extlangs)
    r"(?:-[a-z]{4})?"  # script
    r"(?:-(?:[a-z]{2}|[0-9]{3}))?"  # region
    r"(?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*"  # variants
    r"(?:-[0-9a-wyz](?:-[a-z0-9]{2,8})+)*"  # extensions
    r"(?:-x(?:-[a-z0-9]{1,8})+)?"  # private use
)
_GRANDFATHERED = (
    "en-gb-oed|i-ami|i-bnn|i-default|i-enochian|i-hak|i-klingon|i-lux|i-mingo|i-navajo|"
    "i-pwn|i-tao|i-tay|i-tsu|sgn-be-fr|sgn-be-nl|sgn-ch-de|art-lojban|cel-gaulish|no-bok|"
    "no-nyn|zh-guoyu|zh-hakka|zh-min|zh-min-nan|zh-xiang"
)
#: RFC 5646 §2.1 Language-Tag (well-formed; case-insensitive)
LANGUAGE_TAG = re.compile(
    rf"{_LANGTAG}|x(?:-[a-z0-9]{{1,8}})+|{_GRANDFATHERED}", re.IGNORECASE | re.ASCII
)

#: one line of an unstructured field body: WSP, printable US-ASCII, RFC 6532 UTF-8
_BODY_LINE = re.compile(rf"(?:[\t\x20-\x7e]|{_UTF8})*")


def matches(pattern: re.Pattern[str], value: object) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def field_body_problem(value: str) -> str | None:
    """Why ``value`` is not a field body (RFC 5322 §2.2, §3.2.2), or None if it is one.

    Folding is CRLF followed by WSP, and a folded line must hold more than white space
    (a white-space-only line reads as the end of the header block to some parsers).
    """
    lines = value.split("\r\n")
    for n, line in enumerate(lines):
        if _BODY_LINE.fullmatch(line) is None:
            return "a field body holds no control characters and no bare CR or LF"
        if n and (line[:1] not in (" ", "\t") or not line.strip(" \t")):
            return "a folded line starts with white space and holds more than that"
    return None
