"""Body structure, the RFC 8621 §4.1.4 decomposition, hasAttachment and preview."""

from __future__ import annotations

from jmap.message import expand_parts, parse_message, parts_by_id
from jmap.message.mime import MAX_DEPTH


def leaf(ctype: str, body: str, disposition: str | None = None, extra: str = "") -> str:
    head = f"Content-Type: {ctype}\r\n"
    if disposition:
        head += f"Content-Disposition: {disposition}\r\n"
    return head + extra + "\r\n" + body


def multi(subtype: str, boundary: str, *parts: str) -> str:
    out = f"Content-Type: multipart/{subtype}; boundary={boundary}\r\n\r\npreamble\r\n"
    for p in parts:
        out += f"--{boundary}\r\n{p}\r\n"
    return out + f"--{boundary}--\r\nepilogue\r\n"


def message(body_entity: str, headers: str = "From: a@x.test\r\nSubject: t\r\n") -> bytes:
    return (headers + "MIME-Version: 1.0\r\n" + body_entity).encode()


def rfc_example() -> bytes:
    """The MIME structure of the worked example in RFC 8621 §4.1.4."""
    inner_mixed = multi(
        "mixed",
        "b4",
        leaf("text/plain", "B", "inline"),
        leaf("image/jpeg", "C", "inline"),
        leaf("text/plain", "D", "inline"),
    )
    related = multi("related", "b5", leaf("text/html", "<p>E</p>"), leaf("image/jpeg", "F"))
    alternative = multi("alternative", "b3", inner_mixed, related)
    middle = multi(
        "mixed",
        "b2",
        alternative,
        leaf("image/jpeg", "G", "attachment"),
        leaf("application/x-excel", "H"),
        leaf("message/rfc822", "Subject: J\r\n\r\nJ"),
    )
    top = multi(
        "mixed",
        "b1",
        leaf("text/plain", "A", "inline"),
        middle,
        leaf("text/plain", "K", "inline"),
    )
    return message(top)


def _letters(model, ids):
    out = []
    for part in expand_parts(model, ids):
        if part["type"] == "message/rfc822":
            out.append("J")
        else:
            out.append(
                {
                    "1": "A",
                    "2": "B",
                    "3": "C",
                    "4": "D",
                    "5": "E",
                    "6": "F",
                    "7": "G",
                    "8": "H",
                }.get(part["partId"], "K")
            )
    return out


def test_rfc8621_worked_example():
    model = parse_message(rfc_example())
    parts = parts_by_id(model)
    assert [parts[str(i)]["type"] for i in range(1, 11)] == [
        "text/plain",
        "text/plain",
        "image/jpeg",
        "text/plain",
        "text/html",
        "image/jpeg",
        "image/jpeg",
        "application/x-excel",
        "message/rfc822",
        "text/plain",
    ]
    assert _letters(model, model["textBody"]) == ["A", "B", "C", "D", "K"]
    assert _letters(model, model["htmlBody"]) == ["A", "E", "K"]
    assert _letters(model, model["attachments"]) == ["C", "F", "G", "H", "J"]
    # message/rfc822 is a leaf: no recursion into it
    assert "subParts" not in parts["9"]
    assert model["hasAttachment"] is True


def test_body_structure_fields():
    entity = (
        "Content-Type: multipart/mixed; boundary=zz\r\n\r\n"
        "--zz\r\n"
        'Content-Type: text/plain; charset="UTF-8"; format=flowed\r\n'
        "Content-Language: en, fr (French)\r\n"
        "\r\n"
        "hello\r\n"
        "--zz\r\n"
        'Content-Type: application/pdf; name="=?utf-8?B?w6kucGRm?="\r\n'
        "Content-Disposition: ATTACHMENT; filename*0*=utf-8''%E2%82%AC; filename*1=\".pdf\"\r\n"
        "Content-ID: < abc@x.test >\r\n"
        "Content-Location: http://x.test/\r\n  doc.pdf\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n"
        "aGVsbG8gd29ybGQ=\r\n"
        "--zz--\r\n"
    )
    model = parse_message(message(entity))
    root = model["bodyStructure"]
    assert root["partId"] is None and root["type"] == "multipart/mixed"
    assert root["charset"] is None
    text, pdf = root["subParts"]
    assert text["partId"] == "1" and text["charset"] == "UTF-8"
    assert text["language"] == ["en", "fr"]
    assert text["size"] == 5
    assert text["headers"][0] == {
        "name": "Content-Type",
        "value": ' text/plain; charset="UTF-8"; format=flowed',
    }
    assert pdf["name"] == "€.pdf"  # RFC 2231 filename beats the Content-Type name
    assert pdf["disposition"] == "attachment"
    assert pdf["cid"] == "abc@x.test"
    assert pdf["location"] == "http://x.test/doc.pdf"
    assert pdf["charset"] is None
    assert pdf["size"] == len(b"hello world")
    assert model["attachments"] == ["2"]


def test_content_type_name_fallback_and_implicit_types():
    entity = multi(
        "digest",
        "d",
        "\r\nSubject: inner\r\n\r\nbody",
        leaf("text/plain", "x"),
    )
    model = parse_message(message(entity))
    parts = parts_by_id(model)
    assert parts["1"]["type"] == "message/rfc822" and parts["1"]["charset"] is None
    assert parts["2"]["type"] == "text/plain"
    m2 = parse_message(b"Subject: no content type\r\n\r\nhi")
    assert m2["bodyStructure"]["type"] == "text/plain"
    assert m2["bodyStructure"]["charset"] == "us-ascii"
    m3 = parse_message(b"Content-Type: image/png; name==?utf-8?Q?p=C3=A9.png?=\r\n\r\nx")
    assert m3["bodyStructure"]["name"] == "pé.png"
    m4 = parse_message(b"Content-Type: garbage\r\n\r\nhi")
    assert m4["bodyStructure"]["type"] == "text/plain"


def test_has_attachment_heuristics():
    html = '<p>hi <img src="cid:img1@x.test"></p>'
    related = multi(
        "related",
        "r",
        leaf("text/html", html),
        leaf("image/png", "PNG", extra="Content-ID: <img1@x.test>\r\n"),
    )
    model = parse_message(message(related))
    assert model["attachments"] == ["2"]
    assert model["hasAttachment"] is False  # embedded via cid
    unreferenced = multi(
        "related",
        "r",
        leaf("text/html", "<p>no image</p>"),
        leaf("image/png", "PNG", extra="Content-ID: <img1@x.test>\r\n"),
    )
    assert parse_message(message(unreferenced))["hasAttachment"] is True
    inline_pdf = multi(
        "mixed", "m", leaf("text/plain", "x"), leaf("application/pdf", "%PDF", "inline")
    )
    assert parse_message(message(inline_pdf))["hasAttachment"] is False
    signed = multi("signed", "s", leaf("text/plain", "x"), leaf("application/pgp-signature", "sig"))
    assert parse_message(message(signed))["hasAttachment"] is False
    plain = parse_message(message(leaf("text/plain", "just text")))
    assert plain["hasAttachment"] is False and plain["attachments"] == []


def test_alternative_with_html_only_fills_text_body():
    alt = multi("alternative", "a", leaf("text/html", "<b>Bold</b> &amp; <i>it</i>"))
    model = parse_message(message(alt))
    assert model["textBody"] == ["1"] and model["htmlBody"] == ["1"]
    assert model["preview"] == "Bold & it"


def test_preview_collapses_whitespace_and_is_capped():
    body = "Hello\r\n\r\n   world\t!  " + "word " * 200
    model = parse_message(message(leaf("text/plain; charset=utf-8", body)))
    assert model["preview"].startswith("Hello world ! word word")
    assert len(model["preview"]) <= 256
    html = "<html><head><title>T</title><style>p{}</style></head><body><p>Hi</p>there</body>"
    model = parse_message(message(leaf("text/html", html)))
    assert model["preview"] == "Hi there"
    astral = "😀" * 300
    model = parse_message(message(leaf("text/plain; charset=utf-8", astral)))
    assert model["preview"] == "😀" * 256


def test_absurd_nesting_is_capped():
    depth = 500
    body = ""
    for i in range(depth):
        body += f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n"
    body += "Content-Type: text/plain\r\n\r\ndeep\r\n"
    for i in reversed(range(depth)):
        body += f"--b{i}--\r\n"
    model = parse_message(b"Subject: deep\r\n" + body.encode())
    levels = 0
    node = model["bodyStructure"]
    while node.get("subParts"):
        node = node["subParts"][0]
        levels += 1
    assert levels <= MAX_DEPTH
    assert model["subject"] == "deep"


def test_missing_close_delimiter_and_lf_only():
    raw = (
        b"Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\n\none\n"
        b"--x\nContent-Type: text/html\n\n<p>two</p>"
    )
    model = parse_message(raw)
    parts = parts_by_id(model)
    assert [p["type"] for p in parts.values()] == ["text/plain", "text/html"]
    assert parts["1"]["size"] == 3 and parts["2"]["size"] == len(b"<p>two</p>")
