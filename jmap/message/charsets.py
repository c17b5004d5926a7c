"""Charset name resolution and forgiving byte-to-text decoding."""

from __future__ import annotations

import codecs
import functools
import re
from collections.abc import Callable

import webencodings

from .japanese import decode_eucjp, decode_iso2022jp

# Labels are resolved with the label table of the WHATWG Encoding Standard (§4.2, via
# ``webencodings``): it maps iso-8859-1/us-ascii to windows-1252, gb2312 to gbk (decoded as
# gb18030), ks_c_5601-1987 to euc-kr (cp949), shift_jis to cp932, and so on.  Only the
# encodings in that table are decoded, so codecs that Python knows but that are not text
# charsets (punycode, idna, rot13, zlib, base64, hex, uu, bz2, quopri, unicode_escape, ...)
# are refused: their decoders are not linear or not meant for text.  Mail adds a few
# charsets the web dropped, listed in _MAIL_ONLY; the ASCII labels keep their own meaning
# (8-bit octets in text declared as ASCII are UTF-8 far more often than windows-1252).
_ASCII_LABELS = frozenset(
    ("us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "iso-646-us", "us", "csascii")
)
_MAIL_ONLY: dict[str, str] = {
    "utf-7": "utf-7",  # RFC 2152, still written by some mailers
    "unicode-1-1-utf-7": "utf-7",
    "csunicode11utf7": "utf-7",
    "iso-2022-jp-2": "iso2022_jp_2",  # RFC 1554
    "iso-2022-kr": "iso2022_kr",  # RFC 1557 (the web maps it to "replacement")
    "csiso2022kr": "iso2022_kr",
}
# WHATWG encoding name -> our decoder name, where Python's codec of that name differs.
_WHATWG_DECODER = {
    "gbk": "gb18030",  # the standard's gbk decoder is its gb18030 decoder
    "shift_jis": "cp932",  # index jis0208 with the NEC and IBM extensions
    "euc-kr": "cp949",  # index euc-kr is Unified Hangul Code
    "big5": "big5hkscs",  # index big5 includes HKSCS
    "windows-1252": "cp1252",
    "iso-2022-jp": "iso-2022-jp",
    "euc-jp": "euc-jp",
}

Decoder = Callable[[bytes, str], str]


def _codec(name: str) -> Decoder:
    return lambda data, errors: codecs.decode(data, name, errors)


def _windows_1252(data: bytes, errors: str) -> str:
    return _cp1252(data)


_X_USER_DEFINED = webencodings.lookup("x-user-defined")
# Decoders that are not Python codecs of the same name.
_SPECIAL: dict[str, Decoder] = {
    "iso-2022-jp": decode_iso2022jp,
    "euc-jp": decode_eucjp,
    "cp1252": _windows_1252,
    "x-user-defined": lambda data, errors: _X_USER_DEFINED.codec_info.decode(data, errors)[0],
}


@functools.lru_cache(maxsize=256)
def resolve_charset(label: str | None) -> str | None:
    """The decoder name for a MIME charset label (WHATWG label table), or None if unknown."""
    if not label:
        return None
    name = label.strip().strip("\"'").strip().lower()
    if "*" in name:  # RFC 2231 language suffix: utf-8*en
        name = name.split("*", 1)[0]
    if not name:
        return None
    if name in _ASCII_LABELS:
        return "ascii"
    if name in _MAIL_ONLY:
        return _MAIL_ONLY[name]
    encoding = webencodings.lookup(name)
    if encoding is None or encoding.name == "replacement":
        return None
    if encoding.name in _WHATWG_DECODER:
        return _WHATWG_DECODER[encoding.name]
    if encoding.name == "x-user-defined":
        return "x-user-defined"
    return encoding.codec_info.name


def _decode_as(data: bytes, codec: str, errors: str = "strict") -> str:
    decoder = _SPECIAL.get(codec)
    if decoder is None:
        return codecs.decode(data, codec, errors)
    return decoder(data, errors)


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
                    return decode_iso2022jp(data), False
                except UnicodeDecodeError:
                    pass
            return data.decode("ascii"), False
        return _fallback(data), False
    try:
        return _decode_as(data, codec), False
    except UnicodeDecodeError:
        pass
    if codec != "utf-8" and not data.isascii():
        # A wrong label is common (UTF-8 content labelled as a legacy charset).
        try:
            return data.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return _decode_as(data, codec, "replace"), True


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
            return _decode_as(data, codec)
        except UnicodeDecodeError:
            pass
    return _cp1252(data)
