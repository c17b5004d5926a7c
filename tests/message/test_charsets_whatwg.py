"""Issue 7.14: charsets are decoded as the WHATWG Encoding Standard decodes them.

The standard's label table (§4.2) names the decoder of each label, and its index jis0208
holds the NEC row 13 and IBM extensions that Japanese mailers write (CP50220/CP50221):
https://encoding.spec.whatwg.org/#iso-2022-jp-decoder and index-jis0208.txt.
"""

from __future__ import annotations

import base64

import pytest

from jmap.message import get_body_value, parse_message
from jmap.message.charsets import decode_text, resolve_charset
from jmap.message.japanese import decode_eucjp, decode_iso2022jp

from .conftest import load

ESC_JIS, ESC_ASCII = b"\x1b$B", b"\x1b(B"
# JIS X 0208 row/cell pairs (0x20 + row, 0x20 + cell): NEC row 13 and IBM extensions.
NUMERO, CIRCLED_1, KABU = b"\x2d\x62", b"\x2d\x21", b"\x2d\x6a"
TAKA, SAKI = b"\x7c\x62", b"\x79\x75"  # rows 92 and 89: NEC-selected IBM extensions
HIRAGANA_A = b"\x24\x22"


def _message(charset: str, body: bytes, subject: bytes = b"x") -> bytes:
    return (
        b"From: a@example.com\r\nSubject: " + subject + b"\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=" + charset.encode() + b"\r\n\r\n" + body
    )


def test_iso2022jp_nec_row13_and_ibm_extensions_in_a_body():
    jis = ESC_JIS + NUMERO + CIRCLED_1 + KABU + TAKA + SAKI + HIRAGANA_A + ESC_ASCII + b"41"
    raw = _message("ISO-2022-JP", jis + b"\r\n")
    value = get_body_value(raw, "1")
    assert value["value"] == "№①㈱髙﨑あ41\n"
    assert value["isEncodingProblem"] is False
    assert parse_message(raw)["preview"] == "№①㈱髙﨑あ41"


def test_iso2022jp_extensions_in_an_encoded_word_subject():
    word = base64.b64encode(ESC_JIS + KABU + HIRAGANA_A + ESC_ASCII).decode()
    raw = _message(
        "us-ascii", b"hi\r\n", f"=?ISO-2022-JP?B?{word}?= =?ISO-2022-JP?B?{word}?=".encode()
    )
    assert parse_message(raw)["subject"] == "㈱あ㈱あ"


def test_undeclared_iso2022jp_with_extensions():
    raw = b"Subject: x\r\n\r\n" + ESC_JIS + CIRCLED_1 + ESC_ASCII + b"\r\n"
    assert get_body_value(raw, "1")["value"] == "①\n"


def test_iso2022jp_decoder_rules():
    assert decode_iso2022jp(b"\x1b(J\\~") == "\u00a5\u203e"  # JIS X 0201 Roman
    assert decode_iso2022jp(b"\x1b(I\x31\x32\x1b(B") == "ｱｲ"  # half-width katakana
    assert decode_iso2022jp(b"a\x1b$B\x24\x22\n\x1b(B", "replace") == "aあ\ufffd"
    assert decode_iso2022jp(b"\x80", "replace") == "\ufffd"
    with pytest.raises(UnicodeDecodeError):
        decode_iso2022jp(b"\x1b$B\x24")


def test_eucjp_nec_row13():
    euc = bytes(b | 0x80 for b in NUMERO + CIRCLED_1 + KABU + HIRAGANA_A)
    text, problem = decode_text(euc + b" \x8e\xb1 abc", "EUC-JP")
    assert (text, problem) == ("№①㈱あ ｱ abc", False)
    assert decode_eucjp(b"\xa4\x41", "replace") == "\ufffdA"  # an ASCII trail is re-read


def test_shift_jis_is_windows_31j():
    text, problem = decode_text("№①㈱髙﨑".encode("cp932"), "Shift_JIS")
    assert (text, problem) == ("№①㈱髙﨑", False)


@pytest.mark.parametrize(
    ("label", "octets", "expected"),
    [
        ("gb2312", "镕".encode("gbk"), "镕"),  # gb2312 is decoded as gbk (gb18030)
        ("KS_C_5601-1987", "똠".encode("cp949"), "똠"),  # euc-kr is cp949 (UHC)
        ("ISO-8859-1", b"\x80\x93", "\u20ac\u201c"),  # iso-8859-1 is windows-1252
        ("x-sjis", "①".encode("cp932"), "①"),
        ("csISO2022JP", ESC_JIS + CIRCLED_1 + ESC_ASCII, "①"),
        ("utf-7", b"+AOk-", "é"),  # kept for mail (RFC 2152)
    ],
)
def test_labels_follow_the_whatwg_table(label, octets, expected):
    assert decode_text(octets, label) == (expected, False)


@pytest.mark.parametrize(
    ("label", "octets"),
    [
        ("punycode", b"bcher-kva"),
        ("idna", b"xn--bcher-kva"),
        ("unicode_escape", b"\\u00e9"),
        ("raw_unicode_escape", b"\\u00e9"),
        ("rot13", b"uryyb"),
    ],
)
def test_non_text_codecs_are_not_charsets(label, octets):
    """A label outside the table is an unknown charset: the octets are shown as UTF-8 and
    flagged (RFC 8621 §4.1.4 isEncodingProblem), never run through Python's codec."""
    assert resolve_charset(label) is None
    assert decode_text(octets, label) == (octets.decode("ascii"), True)


def test_corpus_undeclared_iso2022jp_still_decodes():
    model = parse_message(load("cyrus-iso-2022-jp.eml"))
    assert model["preview"] == "シニアソフトウェアエンジニア"
