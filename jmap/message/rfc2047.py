"""RFC 2047 encoded-word decoding and RFC 2231 parameter value decoding."""

from __future__ import annotations

import functools
import re
import unicodedata
from urllib.parse import unquote_to_bytes

from .bounds import MAX_NON_STARTERS
from .charsets import decode_text, resolve_charset
from .transfer import b64decode_lenient

# charset (optionally *language), encoding, encoded text.  Encoded text may not hold '?' or
# whitespace; anything else that "looks like" an encoded word is left alone.
_EW = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=")
_Q_ESC = re.compile(r"=([0-9A-Fa-f]{2})")
_CONTROL = dict.fromkeys(i for i in range(0x20) if i not in (0x09,))
_CONTROL[0x7F] = None


def _q_bytes(text: str, charset: str) -> bytes:
    codec = resolve_charset(charset) or "utf-8"
    out = bytearray()
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "_":
            out.append(0x20)
        elif ch == "=" and _Q_ESC.match(text, i):
            out.append(int(text[i + 1 : i + 3], 16))
            i += 3
            continue
        elif ord(ch) < 128:
            out.append(ord(ch))
        else:  # raw 8-bit inside an encoded word: re-encode in the declared charset
            try:
                out += ch.encode(codec)
            except (UnicodeEncodeError, LookupError):
                out += ch.encode("utf-8")
        i += 1
    return bytes(out)


def _word_bytes(charset: str, enc: str, text: str) -> bytes:
    if enc in "bB":
        try:
            raw = text.encode("ascii")
        except UnicodeEncodeError:
            raw = text.encode("utf-8", errors="ignore")
        return b64decode_lenient(raw)[0]
    return _q_bytes(text, charset)


def _flush(pending: list[tuple[str, bytes]], out: list[str]) -> None:
    """Decode a run of adjacent encoded words, joining same-charset octets first."""
    i = 0
    while i < len(pending):
        charset, data = pending[i]
        key = charset.lower()
        j = i + 1
        chunks = [data]
        while j < len(pending) and pending[j][0].lower() == key:
            chunks.append(pending[j][1])
            j += 1
        text, _problem = decode_text(b"".join(chunks), charset)
        out.append(text.translate(_CONTROL))
        i = j
    pending.clear()


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words in ``value`` (no unfolding, no normalisation).

    Whitespace between adjacent encoded words is dropped and same-charset neighbours are
    decoded together, so multi-octet characters split across words survive.  An encoded word
    glued to a letter or digit (``abc=?utf-8?q?x?=``) breaks RFC 2047 placement rules and is
    left as is.  Unknown charsets decode as UTF-8, else windows-1252; control characters
    produced by decoding are dropped.
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    pending: list[tuple[str, bytes]] = []
    pos = 0
    for m in _EW.finditer(value):
        start, end = m.span()
        before = value[start - 1] if start > 0 else ""
        after = value[end] if end < len(value) else ""
        if (before.isalnum() and not pending) or after.isalnum():
            continue
        gap = value[pos:start]
        if pending and (not gap or gap.isspace()):
            pass
        else:
            _flush(pending, out)
            out.append(gap)
        pending.append((m.group(1), _word_bytes(m.group(1), m.group(2), m.group(3))))
        pos = end
    _flush(pending, out)
    out.append(value[pos:])
    return "".join(out)


_FOLD = re.compile(r"\r?\n(?=[ \t])|\r?\n")


def unfold(value: str) -> str:
    """RFC 5322 §2.2.3 unfolding: drop CRLF (and bare LF/CR line breaks) before whitespace."""
    if "\n" not in value and "\r" not in value:
        return value
    return _FOLD.sub("", value).replace("\r", "")


@functools.cache
def _long_non_starter_run() -> re.Pattern[str]:
    """``MAX_NON_STARTERS`` non-starters followed by one more (UAX #15 §13)."""
    ranges: list[str] = []
    first = last = -2
    for cp in range(0x300, 0x1F000):  # every non-starter lies in this range
        char = chr(cp)
        non_starter = unicodedata.combining(char) != 0 or (
            unicodedata.decomposition(char)[:1] not in ("", "<")
            and unicodedata.combining(unicodedata.normalize("NFD", char)[0]) != 0
        )
        if not non_starter:
            continue
        if cp != last + 1:
            if first >= 0:
                ranges.append(f"{re.escape(chr(first))}-{re.escape(chr(last))}")
            first = cp
        last = cp
    ranges.append(f"{re.escape(chr(first))}-{re.escape(chr(last))}")
    cls = "[" + "".join(ranges) + "]"
    return re.compile(f"{cls}{{{MAX_NON_STARTERS}}}(?={cls})")


def nfc(value: str) -> str:
    """NFC-normalise (fast path for ASCII), in the Stream-Safe Text Format of UAX #15 §13.

    CPython reorders each run of combining marks by insertion sort, so one long run makes
    normalisation quadratic; a U+034F COMBINING GRAPHEME JOINER after every 30 marks in a
    row (which no real text has) keeps it linear.
    """
    if value.isascii():
        return value
    value = _long_non_starter_run().sub(lambda m: m.group() + "\u034f", value)
    return unicodedata.normalize("NFC", value)


def decode_2231(sections: list[tuple[int, bool, str]]) -> str:
    """Join RFC 2231 parameter sections ``(number, extended, value)`` and decode them."""
    sections.sort(key=lambda s: s[0])
    charset: str | None = None
    buf = bytearray()
    for idx, (_num, extended, text) in enumerate(sections):
        if extended:
            if idx == 0 and text.count("'") >= 2:
                charset, _lang, text = text.split("'", 2)
            buf += unquote_to_bytes(text)
        else:
            buf += text.encode("utf-8", errors="replace")
    decoded, _problem = decode_text(bytes(buf), charset or "utf-8")
    return decoded
