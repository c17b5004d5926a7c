"""Charset name resolution and forgiving byte-to-text decoding."""

from __future__ import annotations

import codecs
import functools
import re

# Labels seen in real mail mapped to the Python codec that decodes them best.  Several map a
# declared charset to a superset (WHATWG practice): mail labelled iso-8859-1 is very often
# windows-1252, gb2312 is usually gb18030, ks_c_5601/euc-kr is cp949, shift_jis is cp932.
_ALIASES: dict[str, str] = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "us-ascii": "ascii",
    "ascii": "ascii",
    "ansi_x3.4-1968": "ascii",
    "iso-646-us": "ascii",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "ksc5601": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "windows-31j": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "iso-8859-8-i": "iso8859-8",
    "iso-8859-6-i": "iso8859-6",
    "iso-8859-8-e": "iso8859-8",
    "x-mac-roman": "mac-roman",
    "unicode-1-1-utf-7": "utf-7",
    "utf8": "utf-8",
    "x-unicode20utf8": "utf-8",
    "tis-620": "cp874",
    "windows-874": "cp874",
    "iso-8859-11": "cp874",
    "x-user-defined": "cp1252",
}


@functools.lru_cache(maxsize=256)
def resolve_charset(label: str | None) -> str | None:
    """Return the Python codec name for a MIME charset label, or None if unknown."""
    if not label:
        return None
    name = label.strip().strip("\"'").strip().lower()
    if "*" in name:  # RFC 2231 language suffix: utf-8*en
        name = name.split("*", 1)[0]
    if not name:
        return None
    name = _ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except LookupError:
        return None
    # Refuse non-text codecs (base64, rot13, zlib, ...) that codecs.lookup also knows.
    if not getattr(info, "_is_text_encoding", True):
        return None
    return info.name


def is_known_charset(label: str | None) -> bool:
    """True if we can decode text declared with this charset label."""
    return resolve_charset(label) is not None


def _fallback(data: bytes) -> str:
    """Decode bytes of unknown charset: UTF-8 if valid, else windows-1252 (never fails)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return _cp1252(data)


# windows-1252 with its five undefined octets passed through as latin-1 (so it never fails).
_CP1252_TABLE = {
    b: bytes([b]).decode("cp1252")
    for b in range(0x80, 0xA0)
    if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)
}


def _cp1252(data: bytes) -> str:
    return data.decode("latin-1").translate(_CP1252_TABLE)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _clean(text: str) -> str:
    """Replace lone surrogates (some codecs, e.g. UTF-7, emit them) with U+FFFD."""
    if text.isascii():
        return text
    return _SURROGATE.sub("\ufffd", text)


def decode_text(data: bytes, charset: str | None) -> tuple[str, bool]:
    """Like :func:`_decode_text`, with lone surrogates replaced (JSON-safe output)."""
    text, problem = _decode_text(data, charset)
    return _clean(text), problem


def _decode_text(data: bytes, charset: str | None) -> tuple[str, bool]:
    """Decode ``data`` declared as ``charset``.

    Returns ``(text, is_encoding_problem)``.  Unknown charsets fall back to UTF-8 then
    windows-1252 and report a problem; malformed sequences become U+FFFD and report a problem.
    ASCII-declared text that holds 8-bit octets is decoded as UTF-8 (or windows-1252) without
    reporting a problem, since that is what such senders meant.
    """
    codec = resolve_charset(charset)
    if codec is None:
        if not charset:
            return _fallback(data), False
        return _fallback(data), True
    if codec == "ascii":
        if data.isascii():
            if b"\x1b$" in data:  # undeclared 7-bit ISO-2022-JP (escape sequences)
                try:
                    return data.decode("iso2022_jp_ext"), False
                except UnicodeDecodeError:
                    pass
            return data.decode("ascii"), False
        return _fallback(data), False
    try:
        return data.decode(codec), False
    except UnicodeDecodeError:
        pass
    except Exception:  # some codecs raise other errors on garbage
        return _fallback(data), True
    if codec != "utf-8":
        # A wrong label is common (UTF-8 content labelled as a legacy charset).
        try:
            return data.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    try:
        return data.decode(codec, errors="replace"), True
    except Exception:
        return _fallback(data), True


def decode_header_bytes(data: bytes, hint: str | None = None) -> str:
    """Decode raw header octets for parsed forms: UTF-8 (RFC 6532), else a hint, else cp1252."""
    return _clean(_decode_header_bytes(data, hint))


def _decode_header_bytes(data: bytes, hint: str | None = None) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    codec = resolve_charset(hint)
    if codec and codec not in ("ascii", "utf-8"):
        try:
            return data.decode(codec)
        except Exception:
            pass
    return _cp1252(data)
