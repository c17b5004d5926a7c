"""ISO-2022-JP and EUC-JP decoders of the WHATWG Encoding Standard (§12.1, §12.2).

Python's ``iso2022_jp*`` and ``euc_jp`` codecs know plain JIS X 0208 only, so the NEC row 13
(``№ ① ㈱ ㍻``) and IBM extension characters that Japanese mailers write (Microsoft's
CP50220/CP50221 and CP51932) fail or turn into garbage.  The Encoding Standard decodes
them through *index jis0208*, which is JIS X 0208 plus those extensions and is, pointer for
pointer, the table of Windows code page 932: pointer ``p`` is the Shift_JIS pair
``(p // 188, p % 188)``.  So the index is not copied here; it is read out of Python's
``cp932`` codec (https://encoding.spec.whatwg.org/index-jis0208.txt).

Both decoders run one regular-expression scan over the input (linear time) and follow the
standard's error rules: ``errors="strict"`` raises :class:`UnicodeDecodeError`, any other
value puts U+FFFD where the standard returns *error*.  One deliberate deviation: the
ISO-2022-JP "output flag" (an escape sequence straight after another is an error) is not
applied, because mail joins adjacent RFC 2047 encoded words before decoding and each word
legitimately ends with ``ESC ( B``.
"""

from __future__ import annotations

import functools
import re

_REPLACEMENT = "\ufffd"


def _sjis_pair(pointer: int) -> bytes:
    lead, trail = divmod(pointer, 188)
    return bytes((lead + (0x81 if lead < 0x1F else 0xC1), trail + (0x40 if trail < 0x3F else 0x41)))


@functools.cache
def _jis0208() -> dict[bytes, str]:
    """JIS X 0208 row/cell pair (0x21-0x7E each) -> character, from index jis0208 (cp932)."""
    table: dict[bytes, str] = {}
    for row in range(94):
        for cell in range(94):
            try:
                char = _sjis_pair(row * 94 + cell).decode("cp932")
            except UnicodeDecodeError:
                continue
            table[bytes((row + 0x21, cell + 0x21))] = char
    return table


class _Out:
    """Decoded pieces, and the error rule (raise, or U+FFFD) of one decoding call."""

    __slots__ = ("data", "encoding", "parts", "strict")

    def __init__(self, encoding: str, data: bytes, errors: str) -> None:
        self.encoding = encoding
        self.data = data
        self.strict = errors == "strict"
        self.parts: list[str] = []

    def error(self, start: int, end: int) -> None:
        if self.strict:
            raise UnicodeDecodeError(self.encoding, self.data, start, end, "invalid sequence")
        self.parts.append(_REPLACEMENT)

    def text(self) -> str:
        return "".join(self.parts)


# ---------------------------------------------------------------- ISO-2022-JP

_ESCAPE = re.compile(rb"\x1b(?:\(B|\(J|\(I|\$@|\$B)")
_NOT_ASCII = re.compile(rb"[\x0e\x0f\x1b\x80-\xff]")
_NOT_KATAKANA = re.compile(rb"[^\x21-\x5f]")
_JIS_TOKEN = re.compile(rb"[\x21-\x7e][\x21-\x7e]|[\x21-\x7e][^\x21-\x7e\x1b]|.", re.S)
_ROMAN = str.maketrans({"\\": "\u00a5", "~": "\u203e"})
_KATAKANA = {b: chr(0xFF61 - 0x21 + b) for b in range(0x21, 0x60)}


def _single_bytes(out: _Out, data: bytes, start: int, end: int, bad: re.Pattern[bytes], conv):
    pos = start
    for m in bad.finditer(data, start, end):
        if m.start() > pos:
            out.parts.append(conv(data[pos : m.start()]))
        out.error(m.start(), m.end())
        pos = m.end()
    if end > pos:
        out.parts.append(conv(data[pos:end]))


def _ascii(chunk: bytes) -> str:
    return chunk.decode("ascii")


def _roman(chunk: bytes) -> str:
    return chunk.decode("ascii").translate(_ROMAN)


def _katakana(chunk: bytes) -> str:
    return "".join(_KATAKANA[b] for b in chunk)


def _jis_pairs(out: _Out, data: bytes, start: int, end: int) -> None:
    table = _jis0208()
    for m in _JIS_TOKEN.finditer(data, start, end):
        char = table.get(m.group())
        if char is None:
            out.error(m.start(), m.end())
        else:
            out.parts.append(char)


def decode_iso2022jp(data: bytes, errors: str = "strict") -> str:
    """Decode ISO-2022-JP as the WHATWG *iso-2022-jp decoder* does (index jis0208)."""
    out = _Out("iso-2022-jp", data, errors)
    mode = b"(B"
    pos = 0
    for m in _ESCAPE.finditer(data):
        _iso2022jp_run(out, data, pos, m.start(), mode)
        mode = m.group()[1:]
        pos = m.end()
    _iso2022jp_run(out, data, pos, len(data), mode)
    return out.text()


def _iso2022jp_run(out: _Out, data: bytes, start: int, end: int, mode: bytes) -> None:
    if start >= end:
        return
    if mode == b"(B":
        _single_bytes(out, data, start, end, _NOT_ASCII, _ascii)
    elif mode == b"(J":
        _single_bytes(out, data, start, end, _NOT_ASCII, _roman)
    elif mode == b"(I":
        _single_bytes(out, data, start, end, _NOT_KATAKANA, _katakana)
    else:  # ESC $ @ or ESC $ B: JIS X 0208
        _jis_pairs(out, data, start, end)


# ---------------------------------------------------------------- EUC-JP

_EUC_TOKEN = re.compile(
    rb"(?P<ascii>[\x00-\x7f]+)"
    rb"|\x8e(?P<kana>[\xa1-\xdf])"
    rb"|(?P<x0212>\x8f[\xa1-\xfe][\xa1-\xfe])"
    rb"|(?P<x0208>[\xa1-\xfe][\xa1-\xfe])"
    rb"|\x8f[\xa1-\xfe]?[\x80-\xff]?|[\x8e\xa1-\xfe][\x80-\xff]?|[\x80-\xff]"
)


def decode_eucjp(data: bytes, errors: str = "strict") -> str:
    """Decode EUC-JP as the WHATWG *euc-jp decoder* does (index jis0208, JIS X 0212).

    JIS X 0212 (``0x8F`` lead) is read with Python's ``euc_jp`` codec.  An invalid trail that
    is an ASCII byte is decoded again as ASCII, as the standard says.
    """
    out = _Out("euc-jp", data, errors)
    table = _jis0208()
    for m in _EUC_TOKEN.finditer(data):
        kind = m.lastgroup
        if kind == "ascii":
            out.parts.append(m.group().decode("ascii"))
        elif kind == "kana":
            out.parts.append(chr(0xFF61 - 0xA1 + m.group("kana")[0]))
        elif kind == "x0208":
            char = table.get(bytes(b & 0x7F for b in m.group()))
            if char is None:
                out.error(m.start(), m.end())
            else:
                out.parts.append(char)
        elif kind == "x0212":
            try:
                out.parts.append(m.group().decode("euc_jp"))
            except UnicodeDecodeError:
                out.error(m.start(), m.end())
        else:
            out.error(m.start(), m.end())
    return out.text()
