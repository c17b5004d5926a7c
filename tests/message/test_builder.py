"""build_message (Email/set create): structure, encodings, validation; round-trips parse."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jmap.message import (
    BlobNotFoundError,
    EmailCreateError,
    MessageReader,
    build_message,
    expand_parts,
    parse_message,
    parts_by_id,
)

BLOBS = {"Bimg": b"\x89PNG\r\n\x1a\nIMG", "Bpdf": b"%PDF-1.4 " + bytes(range(256))}
NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def build(email):
    return build_message(email, BLOBS.get, now=NOW, domain="fulmar.test")


def base(**extra):
    email = {
        "from": [{"name": "Jürgen Müller", "email": "jm@x.test"}],
        "to": [{"name": "Doe, John", "email": "jd@x.test"}, {"name": None, "email": "b@x.test"}],
        "subject": "Grüße aus Köln — " + "long " * 20,
        "bodyValues": {"t": {"value": "Hallo Welt\r\nzweite Zeile é"}, "h": {"value": "<p>Hi</p>"}},
        "textBody": [{"partId": "t", "type": "text/plain"}],
    }
    email.update(extra)
    return email


def test_text_only_round_trip_and_generated_headers():
    raw = build(base())
    assert raw.isascii()
    model = parse_message(raw)
    assert model["from"] == [{"name": "Jürgen Müller", "email": "jm@x.test"}]
    assert model["to"] == [
        {"name": "Doe, John", "email": "jd@x.test"},
        {"name": None, "email": "b@x.test"},
    ]
    assert model["subject"] == "Grüße aus Köln — " + " ".join(["long"] * 20)
    assert model["sentAt"] == "2024-01-02T03:04:05Z"
    assert model["messageId"][0].endswith("@fulmar.test")
    assert model["bodyStructure"]["type"] == "text/plain"
    value = MessageReader(raw).body_value("1")
    assert value["value"] == "Hallo Welt\nzweite Zeile é"
    assert value["isEncodingProblem"] is False


def test_alternative_related_mixed_structure():
    email = base(
        htmlBody=[{"partId": "h", "type": "text/html"}],
        attachments=[
            {"blobId": "Bimg", "type": "image/png", "cid": "img1@x.test", "name": "i.png"},
            {"blobId": "Bpdf", "type": "application/pdf", "name": "Bericht ä.pdf"},
        ],
    )
    raw = build(email)
    model = parse_message(raw)
    root = model["bodyStructure"]
    assert root["type"] == "multipart/mixed"
    alt = root["subParts"][0]
    assert alt["type"] == "multipart/alternative"
    assert [p["type"] for p in alt["subParts"]] == ["text/plain", "multipart/related"]
    assert [p["type"] for p in alt["subParts"][1]["subParts"]] == ["text/html", "image/png"]
    parts = parts_by_id(model)
    pdf = next(p for p in parts.values() if p["type"] == "application/pdf")
    assert pdf["name"] == "Bericht ä.pdf" and pdf["disposition"] == "attachment"
    assert MessageReader(raw).part_bytes(pdf["partId"]) == BLOBS["Bpdf"]
    img = next(p for p in parts.values() if p["type"] == "image/png")
    assert img["cid"] == "img1@x.test"
    assert [p["type"] for p in expand_parts(model, model["htmlBody"])] == ["text/html"]
    assert model["hasAttachment"] is True


def test_body_structure_and_header_forms():
    email = {
        "from": [{"name": None, "email": "a@x.test"}],
        "header:X-Custom:asText": "naïve",
        "header:List-Unsubscribe:asURLs": ["mailto:u@x.test"],
        "messageId": ["given@x.test"],
        "sentAt": "2020-05-06T07:08:09+02:00",
        "bodyValues": {"1": {"value": "plain"}},
        "bodyStructure": {
            "type": "multipart/mixed",
            "subParts": [
                {"partId": "1", "type": "text/plain"},
                {"blobId": "Bpdf", "type": "application/pdf", "disposition": "inline"},
            ],
        },
    }
    model = parse_message(build(email))
    assert model["messageId"] == ["given@x.test"]
    assert model["sentAt"] == "2020-05-06T07:08:09+02:00"
    headers = {h["name"]: h["value"] for h in model["headers"]}
    assert "=?utf-8?" in headers["X-Custom"]
    assert headers["List-Unsubscribe"] == " <mailto:u@x.test>"
    assert [p["type"] for p in model["bodyStructure"]["subParts"]] == [
        "text/plain",
        "application/pdf",
    ]
    assert model["hasAttachment"] is False  # inline


def test_long_non_ascii_text_is_quoted_printable():
    long_line = "é" * 2000
    raw = build(base(bodyValues={"t": {"value": long_line}}))
    assert b"Content-Transfer-Encoding: quoted-printable" in raw
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert MessageReader(raw).body_value("1")["value"] == long_line


@pytest.mark.parametrize(
    ("change", "props"),
    [
        ({"headers": []}, ["headers"]),
        ({"header:From": " x@y.test"}, ["from", "header:From"]),
        ({"header:From:asDate": "2020-01-01T00:00:00Z"}, ["header:From:asDate"]),
        ({"header:Content-Type": " text/plain"}, ["header:Content-Type"]),
        ({"bodyStructure": {"partId": "t"}}, ["bodyStructure"]),
        (
            {"textBody": [{"partId": "t"}, {"partId": "h"}]},
            ["textBody"],
        ),
        ({"textBody": [{"partId": "h", "type": "text/html"}]}, ["textBody"]),
        ({"textBody": [{"partId": "t", "charset": "utf-8"}]}, ["textBody/0/charset"]),
        ({"textBody": [{"partId": "t", "blobId": "Bimg"}]}, ["textBody/0"]),
        ({"textBody": [{"partId": "missing"}]}, ["textBody/0/partId"]),
        ({"bodyValues": {"t": {"value": "x", "isTruncated": True}}}, ["bodyValues/t"]),
        (
            {"textBody": [{"partId": "t", "header:Content-Transfer-Encoding": " base64"}]},
            ["textBody/0/header:Content-Transfer-Encoding"],
        ),
        ({"sentAt": "not a date"}, ["sentAt"]),
        ({"id": "x"}, ["id"]),
    ],
)
def test_validation_errors_name_properties(change, props):
    with pytest.raises(EmailCreateError) as info:
        build(base(**change))
    assert info.value.properties == props


def test_missing_blob():
    with pytest.raises(BlobNotFoundError) as info:
        build(base(attachments=[{"blobId": "nope", "type": "application/pdf"}]))
    assert info.value.not_found == ["nope"]
