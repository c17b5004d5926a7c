"""Body values: transfer/charset decoding, encoding problems, truncation, part octets."""

from __future__ import annotations

import pytest

from jmap.message import MessageReader, get_body_value, part_bytes, truncate_utf8
from jmap.message.transfer import b64decode_lenient, decode_transfer

from .conftest import load


def single(ctype: str, body: bytes, cte: str | None = None) -> bytes:
    head = f"Subject: v\r\nContent-Type: {ctype}\r\n"
    if cte:
        head += f"Content-Transfer-Encoding: {cte}\r\n"
    return head.encode() + b"\r\n" + body


def test_crlf_to_lf_and_charset_decoding():
    raw = single("text/plain; charset=iso-8859-1", b"caf\xe9\r\nline2\r\n")
    assert get_body_value(raw, "1") == {
        "value": "café\nline2\n",
        "isEncodingProblem": False,
        "isTruncated": False,
    }


def test_quoted_printable_soft_breaks():
    raw = single("text/plain; charset=utf-8", b"a=\r\nb =C3=A9=\nc\r\n", "quoted-printable")
    assert get_body_value(raw, "1")["value"] == "ab éc\n"


def test_bad_base64_best_effort_flags_problem():
    raw = single("text/plain; charset=utf-8", b"aGVs!!bG8g\r\nd29y*bGQ\r\n", "base64")
    value = get_body_value(raw, "1")
    assert value["value"] == "hello world"
    assert value["isEncodingProblem"] is True
    data, problem = b64decode_lenient(b"aGVsbG8")  # missing padding only: fine
    assert data == b"hello" and problem is False
    data, problem = b64decode_lenient(b"aGVsbG8=d29ybGQ=")  # concatenated blocks
    assert data == b"helloworld"
    data, problem = b64decode_lenient(b"aGVsbG8gd")  # dangling sextet
    assert data == b"hello " and problem is True


def test_unknown_charset_falls_back_and_flags():
    raw = single("text/plain; charset=x-no-such-charset", "naïve".encode())
    value = get_body_value(raw, "1")
    assert value["value"] == "naïve" and value["isEncodingProblem"] is True


def test_invalid_utf8_replaced_and_flagged():
    raw = single("text/plain; charset=utf-8", b"ok \xff\xfe end")
    value = get_body_value(raw, "1")
    assert value["value"] == "ok \ufffd\ufffd end" and value["isEncodingProblem"] is True


def test_wrong_legacy_label_on_utf8_content():
    raw = single("text/plain; charset=iso-2022-jp", "é".encode())
    value = get_body_value(raw, "1")
    assert value["value"] == "é"


def test_corpus_invalid_charset_message():
    raw = load("zbateson-invalid-charset.eml")
    value = get_body_value(raw, "1")
    assert value["isEncodingProblem"] is True
    assert value["value"]


def test_html_meta_charset_used_when_no_parameter():
    body = '<html><meta charset="windows-1251"><p>\xcf\xf0\xe8\xe2\xe5\xf2</p>'.encode("latin-1")
    value = get_body_value(single("text/html", body), "1")
    assert "Привет" in value["value"]


@pytest.mark.parametrize("limit", range(1, 30))
def test_truncation_never_cuts_a_code_point(limit):
    text = "aé€😀" * 5
    out, truncated = truncate_utf8(text, limit)
    encoded = out.encode("utf-8")
    assert len(encoded) <= limit
    assert text.startswith(out)
    assert truncated is (len(text.encode()) > limit)


def test_truncation_html_not_inside_tag_or_entity():
    html = 'Hello <a href="https://example.com">link</a> &amp; more'
    out, truncated = truncate_utf8(html, 20, is_html=True)
    assert truncated and out == "Hello "
    out, _ = truncate_utf8(html, 49, is_html=True)
    assert out.endswith("</a> ")
    assert truncate_utf8("abc", 0) == ("abc", False)


def test_body_value_truncated_flag_and_html():
    raw = single("text/html; charset=utf-8", b"<p>\xc3\xa9\xc3\xa9\xc3\xa9</p>")
    value = get_body_value(raw, "1", max_bytes=6)
    assert value == {"value": "<p>é", "isEncodingProblem": False, "isTruncated": True}
    value = get_body_value(raw, "1", max_bytes=6000)
    assert value["isTruncated"] is False


def test_part_bytes_and_reader():
    raw = load("zetamail-mail.app-html-mail-with-image.eml")
    reader = MessageReader(raw)
    jpeg = reader.part_bytes("3")
    assert jpeg[:3] == b"\xff\xd8\xff" and len(jpeg) == 45177
    assert part_bytes(raw, "99") is None
    values = reader.body_values(["1", "2", "3", "1"], max_bytes=0)
    assert set(values) == {"1", "2"}  # image part has no body value
    assert "Hei og hå" in values["1"]["value"]


def test_transfer_encoding_with_junk_parameters():
    assert decode_transfer(b"a=3Db", "quoted-printable;") == (b"a=b", False)
    assert decode_transfer(b"raw", "7vladi.pimenovit") == (b"raw", False)
    assert decode_transfer(b"aGk=", " BASE64 ") == (b"hi", False)
