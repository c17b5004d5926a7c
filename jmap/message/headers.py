"""Header fields: raw splitting and the parsed forms of RFC 8621 §4.1.2."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_tz
from typing import Any

from .addresses import parse_addresses, parse_grouped_addresses
from .bounds import MAX_FIELD_OCTETS, MAX_HEADER_FIELDS
from .charsets import decode_header_bytes
from .params import strip_comments
from .rfc2047 import decode_words, nfc, unfold

# (name, value octets) as they appear in a header block.
RawHeader = tuple[str, bytes]

FORMS = ("Raw", "Text", "Addresses", "GroupedAddresses", "MessageIds", "Date", "URLs")

_ADDRESS_FIELDS = frozenset(
    [
        "from",
        "sender",
        "reply-to",
        "to",
        "cc",
        "bcc",
        "resent-from",
        "resent-sender",
        "resent-reply-to",
        "resent-to",
        "resent-cc",
        "resent-bcc",
    ]
)
_TEXT_FIELDS = frozenset(("subject", "comments", "keywords", "list-id"))
_MSGID_FIELDS = frozenset(("message-id", "in-reply-to", "references", "resent-message-id"))
_DATE_FIELDS = frozenset(("date", "resent-date"))
_URL_FIELDS = frozenset(
    ("list-help", "list-unsubscribe", "list-subscribe", "list-post", "list-owner", "list-archive")
)
_ALLOWED: dict[str, frozenset[str]] = {
    "Text": _TEXT_FIELDS,
    "Addresses": _ADDRESS_FIELDS,
    "GroupedAddresses": _ADDRESS_FIELDS,
    "MessageIds": _MSGID_FIELDS,
    "Date": _DATE_FIELDS,
    "URLs": _URL_FIELDS,
}
# Every field defined by RFC 5322 or RFC 2369 (plus Resent-Reply-To, which RFC 8621 lists).
KNOWN_FIELDS = (
    _ADDRESS_FIELDS
    | _MSGID_FIELDS
    | _DATE_FIELDS
    | _URL_FIELDS
    | frozenset(("subject", "comments", "keywords", "return-path", "received"))
)


def form_allowed(header_name: str, form: str) -> bool:
    """Whether parsed form ``form`` (e.g. ``"Addresses"``) may be used for ``header_name``.

    Implements the table of RFC 8621 §4.1.2: a forbidden form must be answered with
    ``invalidArguments``.  Fields not defined in RFC 5322/2369 allow every form; unknown form
    names are never allowed.
    """
    if form == "Raw":
        return True
    allowed = _ALLOWED.get(form)
    if allowed is None:
        return False
    name = header_name.strip().lower()
    return name in allowed or name not in KNOWN_FIELDS


_PROP = re.compile(r"^header:([\x21-\x39\x3b-\x7e]+?)(?::as([A-Za-z]+))?(:all)?$")


def parse_header_property(prop: str) -> tuple[str, str, bool] | None:
    """Split ``header:Name[:asForm][:all]`` into (name, form, all), or None if malformed.

    ``form`` is ``"Raw"`` when no suffix is given.  The form name is returned as written
    (``asURLs`` -> ``"URLs"``); an unknown form yields None.
    """
    m = _PROP.match(prop)
    if not m:
        return None
    name, form, all_ = m.group(1), m.group(2) or "Raw", bool(m.group(3))
    if form not in FORMS:
        return None
    return name, form, all_


# ---------------------------------------------------------------- raw header block


_FIELD = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:")
_BLANKS = re.compile(rb"[ \t]*")


def split_header_block(buf: bytes, start: int = 0, end: int | None = None):
    """Parse the header block of an entity in ``buf[start:end]``.

    Returns ``(headers, body_start)`` where headers is a list of (name, raw value octets):
    the octets after the colon up to, not including, the final line break, folding kept.
    A leading mbox ``From `` line is skipped.  A line that is neither a field nor a
    continuation is treated as a (badly folded) continuation of the previous field; if it
    comes first, the entity has no header block.  The block ends at the first empty line.

    At most ``MAX_HEADER_FIELDS`` fields of ``MAX_FIELD_OCTETS`` each are kept (see
    :mod:`.bounds`).  Before the first field, lines of blanks are skipped and a field
    line's leading blanks are ignored (mail relayed by some large providers starts that
    way), as Python's ``email`` package and MimeKit also recover the header.
    """
    if end is None:
        end = len(buf)
    spans: list[list[Any]] = []  # [name, value_start, value_end]
    pos = start
    first = True
    dropping = False  # past MAX_HEADER_FIELDS: the rest of the section is skipped
    while pos < end:
        nl = buf.find(b"\n", pos, end)
        line_end = end if nl < 0 else nl + 1
        content_end = nl if nl >= 0 else end
        if content_end > pos and buf[content_end - 1] == 0x0D:
            content_end -= 1
        if content_end == pos:  # empty line: end of header block
            return _finish(buf, spans), line_end
        c = buf[pos]
        if dropping:
            pass
        elif (c == 0x20 or c == 0x09) and spans:
            spans[-1][2] = content_end
        elif (c == 0x20 or c == 0x09) and _BLANKS.fullmatch(buf, pos, content_end):
            pass  # a line of blanks before the first field
        else:
            field_at = pos if spans else _BLANKS.match(buf, pos, content_end).end()
            m = _FIELD.match(buf, field_at, content_end)
            if m and len(spans) >= MAX_HEADER_FIELDS:
                dropping = True
            elif m:
                spans.append([m.group(1).decode("ascii"), m.end(), content_end])
            elif first and buf.startswith(b"From ", pos):
                pass
            elif spans:
                spans[-1][2] = content_end
            else:
                return [], start
        first = False
        pos = line_end
    return _finish(buf, spans), end


def _finish(buf: bytes, spans: list[list[Any]]) -> list[RawHeader]:
    return [(name, buf[vs : min(ve, vs + MAX_FIELD_OCTETS)]) for name, vs, ve in spans]


def raw_form(value: bytes) -> str:
    """The Raw form: octets as UTF-8 (invalid sequences -> U+FFFD), NUL octets dropped."""
    if b"\x00" in value:
        value = value.replace(b"\x00", b"")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("utf-8", errors="replace")


def header_text(value: bytes | str, hint: str | None = None) -> str:
    """Octets (or a Raw string) as a Python string for the parsed forms (heuristic charset)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if b"\x00" in value:
        value = value.replace(b"\x00", b"")
    return decode_header_bytes(value, hint)


# ---------------------------------------------------------------- parsed forms


def as_text(value: bytes | str, hint: str | None = None) -> str:
    """Text form: unfold, drop leading whitespace, decode encoded words, NFC."""
    text = unfold(header_text(value, hint)).lstrip(" \t")
    return nfc(decode_words(text))


def as_addresses(value: bytes | str, hint: str | None = None) -> list[dict[str, Any]]:
    """Addresses form: EmailAddress[] (group names dropped)."""
    return parse_addresses(header_text(value, hint))


def as_grouped_addresses(value: bytes | str, hint: str | None = None) -> list[dict[str, Any]]:
    """GroupedAddresses form: EmailAddressGroup[]."""
    return parse_grouped_addresses(header_text(value, hint))


_ANGLE = re.compile(r"<([^<>]*)>?")


def as_message_ids(value: bytes | str, hint: str | None = None) -> list[str] | None:
    """MessageIds form: the msg-ids without ``<>`` and CFWS; None if there are none.

    Bare ``local@domain`` tokens (no angle brackets) are accepted as a fallback.
    """
    text = strip_comments(unfold(header_text(value, hint)))
    ids = ["".join(m.group(1).split()) for m in _ANGLE.finditer(text) if "<" in m.group(0)]
    ids = [i for i in ids if i]
    if not ids and "<" not in text:
        ids = [t.strip(",;") for t in text.split() if "@" in t]
    return ids or None


_DATE_CLEAN = re.compile(r"\s+")


def parse_date(value: str) -> datetime | None:
    """Parse an RFC 5322 date-time (obsolete forms too) into an aware datetime, or None."""
    text = _DATE_CLEAN.sub(" ", strip_comments(value)).strip()
    if not text:
        return None
    try:
        parts = parsedate_tz(text)
    except Exception:
        return None
    if not parts:
        return None
    year, month, day, hour, minute, second = parts[:6]
    offset = parts[9] or 0
    if second == 60:
        second = 59  # leap second
    try:
        if year < 1 or abs(offset) >= 24 * 3600:
            return None
        tz = UTC if offset == 0 else timezone(timedelta(seconds=offset))
        return datetime(year, month, day, hour, minute, second, tzinfo=tz)
    except (ValueError, OverflowError, TypeError):
        return None


def format_date(dt: datetime, utc: bool = False) -> str:
    """RFC 3339 ``Date`` (``Z`` for +00:00, else ``+HH:MM``), no fractional seconds."""
    if utc:
        dt = dt.astimezone(UTC)
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if len(base) != 19:  # years < 1000 are not zero padded on every platform
        base = f"{dt.year:04d}" + base[base.index("-") :]
    offset = dt.utcoffset() or timedelta(0)
    if not offset:
        return base + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{base}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def as_date(value: bytes | str, hint: str | None = None) -> str | None:
    """Date form: RFC 3339 string keeping the header's offset, or None if unparseable."""
    dt = parse_date(unfold(header_text(value, hint)))
    return format_date(dt) if dt else None


def as_urls(value: bytes | str, hint: str | None = None) -> list[str] | None:
    """URLs form (RFC 2369): the ``<...>`` URLs, whitespace removed; None if none."""
    text = strip_comments(unfold(header_text(value, hint)))
    urls = ["".join(m.group(1).split()) for m in _ANGLE.finditer(text) if "<" in m.group(0)]
    urls = [u for u in urls if u]
    return urls or None


_FORM_FUNCS = {
    "Text": as_text,
    "Addresses": as_addresses,
    "GroupedAddresses": as_grouped_addresses,
    "MessageIds": as_message_ids,
    "Date": as_date,
    "URLs": as_urls,
}


def parse_form(value: bytes | str, form: str, hint: str | None = None) -> Any:
    """Apply parsed form ``form`` to one header value (octets, or a stored Raw string)."""
    if form == "Raw":
        return raw_form(value) if isinstance(value, bytes) else value.replace("\x00", "")
    func = _FORM_FUNCS.get(form)
    if func is None:
        raise ValueError(f"unknown header form {form!r}")
    try:
        return func(value, hint)
    except Exception:  # never let a hostile header break a request
        return [] if form in ("Addresses", "GroupedAddresses") else None


def header_values(
    headers: list[RawHeader] | list[dict[str, str]],
    name: str,
    form: str = "Raw",
    all_: bool = False,
    hint: str | None = None,
) -> Any:
    """The value of ``header:{name}:as{form}[:all]`` over a header list.

    ``headers`` may be raw (name, octets) pairs or JMAP ``{name, value}`` dicts (Raw strings).
    Without ``all_`` the last instance is used (None if absent); with it, a list.
    """
    key = name.lower()
    found: list[bytes | str] = []
    for h in headers:
        if isinstance(h, dict):
            if h["name"].lower() == key:
                found.append(h["value"])
        elif h[0].lower() == key:
            found.append(h[1])
    if all_:
        return [parse_form(v, form, hint) for v in found]
    return parse_form(found[-1], form, hint) if found else None
