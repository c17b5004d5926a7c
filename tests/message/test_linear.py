"""Issue 8.2: every parse step is linear in its input, and every input is bounded.

Each hostile input below is sized so that the quadratic code this replaces would need
hours of CPU (measured on the old code: 16 KB of ``"<a "`` took 2.7 s to turn into text,
16 KB of ``"[a] "`` took 4.5 s of base-subject stripping, 80 K combining marks took 6.4 s to
NFC-normalise, each doubling of the input multiplying the time by four).  No test measures
time: where the work is visible from Python it is counted, elsewhere the size alone makes a
regression unmistakable.  The bounds are documented in :mod:`jmap.message.bounds`.
"""

from __future__ import annotations

import sys

import pytest

from jmap.message import MessageReader, base_subject, parse_message
from jmap.message.body import has_attachment
from jmap.message.bounds import (
    MAX_FIELD_OCTETS,
    MAX_HEADER_FIELDS,
    MAX_HTML_CHARS,
    MAX_NON_STARTERS,
)
from jmap.message.headers import split_header_block
from jmap.message.htmltext import html_to_text, tokens
from jmap.message.rfc2047 import nfc

MB = 1 << 20

HOSTILE_HTML = [
    "<a " * (MB // 3),  # unterminated tags: html.parser rescanned the rest at every '<'
    "<a b='" * (MB // 6),
    '<a b="x" ' * (MB // 9),
    "</a " * (MB // 4),
    "<!--" * (MB // 4),
    "<!" * (MB // 2),
    "<?" * (MB // 2),
    "&#" * (MB // 2),
    "<" * MB,
    "<script>" + "</scrip" * (MB // 7),
    "<p>" + "<b>x</b>" * (MB // 64),
]


@pytest.mark.parametrize("source", HOSTILE_HTML, ids=lambda s: repr(s[:12]))
def test_html_tokens_cover_the_input_once(source):
    """Each token starts where the previous ended: every character is consumed once."""
    pos = 0
    for _kind, start, end, _m in tokens(source):
        assert start == pos and end > start
        pos = end
    assert pos == len(source)
    assert isinstance(html_to_text(source, with_alt=True), str)


def test_html_to_text_keeps_the_text():
    source = "<p>" + "<b>word</b> " * 50_000 + "<img alt='pic'>" + "x < y &amp; z"
    text = html_to_text(source, with_alt=True)
    assert text.count("word") == 50_000 and text.endswith("pic x < y & z")
    assert html_to_text("<a " * 100_000 + ">tail") == "tail"
    assert html_to_text("text <a " * 100_000) == "text"  # an unclosed tag swallows the rest


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("[a] " * (MB // 4) + "x", "x"),
        ("[a] " * (MB // 4), "[a]"),
        ("Re: " * (MB // 4) + "x", "x"),
        ("re [x] : " * (MB // 9) + "x", "x"),
        ("x" + " (fwd)" * (MB // 6), "x"),
        ("[fwd: " * (MB // 6) + "x" + "]" * (MB // 6), "x"),
        ("[fwd: Re: [l] " * (MB // 14) + "x" + "]" * (MB // 14), "x"),
        ("[" * MB, "[" * MB),
        ("[a" * (MB // 2), "[a" * (MB // 2)),
    ],
    ids=lambda v: repr(v[:10]),
)
def test_base_subject_is_linear(subject, expected):
    assert base_subject(subject) == expected.casefold()


def test_base_subject_rfc5256_examples_unchanged():
    assert base_subject("Re: [list] Fwd: Hello (fwd)") == "hello"
    assert base_subject("[fwd: Re: Meeting]") == "meeting"
    assert base_subject("[list] [tag]") == "[tag]"
    assert base_subject("Aw: SV: odp: hi") == "hi"


def test_nfc_of_a_long_run_of_combining_marks():
    """UAX #15 §13 stream-safe text: CPython sorts each run of marks by insertion sort."""
    text = "a" + "\u0301\u0316" * (MB // 2)
    out = nfc(text)
    runs = out.split("\u034f")
    assert all(len(r) <= MAX_NON_STARTERS + 1 for r in runs)
    assert nfc("e\u0301") == "\u00e9" and nfc("\u1e69") == "\u1e69"


def test_header_field_count_and_length_are_capped():
    many = b"".join(b"X-%d: v\r\n" % i for i in range(MAX_HEADER_FIELDS + 500))
    long = b"Subject: " + b"a" * (4 * MAX_FIELD_OCTETS) + b"\r\n"
    headers, body_start = split_header_block(many + long + b"\r\nbody")
    assert len(headers) == MAX_HEADER_FIELDS
    assert headers[-1][0] == f"X-{MAX_HEADER_FIELDS - 1}"
    assert body_start == len(many + long) + 2  # the section still ends where it ends
    headers, _ = split_header_block(long + b"\r\n")
    assert len(headers[0][1]) == MAX_FIELD_OCTETS
    model = parse_message(many + b"\r\nthe body\r\n")
    assert len(model["headers"]) == MAX_HEADER_FIELDS and model["preview"] == "the body"


def _many_parts(count: int) -> bytes:
    body = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i for i in range(count))
    return b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + body + b"--b--\r\n"


def _python_steps(fn, *args) -> int:
    steps = 0

    def trace(frame, event, arg):
        nonlocal steps
        steps += 1
        return trace

    sys.settrace(trace)
    try:
        fn(*args)
    finally:
        sys.settrace(None)
    return steps


def test_body_values_of_every_part_is_linear_in_parts():
    """MessageReader walked the whole tree for each partId asked: parts squared."""

    def body_values(raw: bytes, count: int) -> None:
        reader = MessageReader(raw)
        assert reader.root.children  # the parse itself is not what is measured
        reader.body_values([str(i) for i in range(1, count + 1)])

    small = _python_steps(body_values, _many_parts(400), 400)
    large = _python_steps(body_values, _many_parts(800), 800)
    assert large < 2.5 * small


def test_has_attachment_scans_the_html_once():
    """The HTML was searched once per attachment (2000 parts x the HTML size), and by
    substring: cid ``c1@x`` counted as embedded by ``cid:c1@x.test`` (RFC 2392 compares
    the whole Content-ID)."""
    parts = [
        {"disposition": None, "type": "image/png", "cid": f"c{i}@x", "location": None}
        for i in range(2000)
    ]
    html = ["<p>" + "no references here " * (MB // 4) + '<img src="cid:c1999@x">']
    assert has_attachment(parts, html) is True  # c0@x ... are not referenced
    referenced = ["".join(f'<img src="CID:c{i}@x">' for i in range(2000))]
    assert has_attachment(parts, referenced) is False
    assert has_attachment(parts[1:2], ['<img src="cid:c1@x.test">']) is True
    located = [{**parts[0], "cid": None, "location": "http://x/a.png"}]
    assert has_attachment(located, ['<img src="http://x/a.png">']) is False


def test_punycode_label_is_not_decoded():
    """A 240 KB body labelled charset=punycode took 13 s: it is now an unknown charset."""
    body = b"abc-" * (240_000 // 4)
    raw = b"Content-Type: text/plain; charset=punycode\r\n\r\n" + body
    model = parse_message(raw)
    assert model["preview"].startswith("abc-abc-")
    value = MessageReader(raw).body_value("1")
    assert value["isEncodingProblem"] is True and value["value"] == body.decode()


def test_parse_message_of_a_large_hostile_message():
    subject = b"[a] " * (MAX_FIELD_OCTETS // 4)
    html = b"<a " * (MB // 3)
    raw = (
        b"From: a@example.com\r\nSubject: " + subject + b"x\r\n"
        b"Content-Type: multipart/alternative; boundary=z\r\n\r\n--z\r\n"
        b"Content-Type: text/html\r\n\r\n" + html + b"\r\n--z\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        + "e\u0301".encode() * MB
        + b"\r\n--z--\r\n"
    )
    model = parse_message(raw)
    assert model["threadKeys"]["baseSubject"] == "[a]"
    assert model["preview"].startswith("e\u0301e\u0301")
    assert [p["type"] for p in model["bodyStructure"]["subParts"]] == ["text/html", "text/plain"]


def test_html_converted_per_message_is_bounded(monkeypatch):
    """2000 HTML parts of 4.8 KB: every part was converted twice (preview and search)
    although the preview needs 256 characters and the index keeps 1M: 20 s of CPU."""
    from jmap.message import model as model_module

    converted: list[int] = []
    real = model_module.html_to_text

    def counting(source: str, with_alt: bool = False) -> str:
        converted.append(len(source))
        return real(source, with_alt)

    monkeypatch.setattr(model_module, "html_to_text", counting)
    part = b"--b\r\nContent-Type: text/html\r\n\r\n" + b"<p>x</p>" * 600 + b"\r\n"
    raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + part * 2000 + b"--b--\r\n"
    model = parse_message(raw)
    assert len(model["textBody"]) == 1999 and model["preview"].startswith("x x x")
    assert sum(converted) <= 2 * MAX_HTML_CHARS
    assert model["search"]["body"].count("x") >= MAX_HTML_CHARS // 8 - 2000


def test_header_index_decodes_a_bounded_start_of_each_field():
    """1,000 fields of 64 KiB of encoded words took 20 s to decode for the ``header`` filter,
    in the index writer; now the parser (in the worker pool) decodes the first
    MAX_HEADER_DECODE octets of each (an encoded word of 14 octets is one character)."""
    from jmap.message.search import MAX_HEADER_CHARS, MAX_HEADER_DECODE

    word = "=?utf-8?q?a?= "
    fields = "".join(f"X-F{n}: {word * (65536 // len(word))}\r\n" for n in range(50))
    model = parse_message(f"From: a@example.com\r\n{fields}\r\nbody".encode())
    index = dict(model["headerIndex"])
    assert len(model["headerIndex"]) == 51
    value = index["x-f7"]
    # the cut may leave the start of an encoded word undecoded at the end
    decoded = value.rstrip("=?utf-8q ")
    assert set(decoded) == {"a"} and len(decoded) <= MAX_HEADER_DECODE // len(word)
    assert len(value) < MAX_HEADER_CHARS
