"""Email/set create writes no value into a header field that could end the field and
start another (issue 8.7): every value is checked against its field's grammar, or
refused with invalidProperties naming its path (RFC 8621 §4.6, RFC 8620 §5.3).

Grammars: addr-spec (RFC 5322 §3.4.1), msg-id (§3.6.4), URLs (RFC 2369, RFC 3986),
unstructured field bodies with folding only as CRLF WSP (RFC 5322 §2.2, §3.2.2),
tokens and media types (RFC 2045 §5.1), language tags (RFC 5646), Content-ID (RFC 2045
§7); display names written as atoms, quoted strings or RFC 2047 encoded-words.
"""

from __future__ import annotations

import copy
import unicodedata
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jmap.message import EmailCreateError, build_message, parse_message

from .conftest import mailboxes

BLOBS = {"Bpdf": b"%PDF-1.4 pdf", "Btxt": b"plain text attachment"}
INJECTION = "\r\nBcc: attacker@evil.test"


def template() -> dict[str, Any]:
    """An Email using every property under test, each with a valid value."""
    return {
        "from": [{"name": "Ann", "email": "ann@example.test"}],
        "to": [{"name": "Victim", "email": "victim@example.test"}],
        "messageId": ["m1@example.test"],
        "inReplyTo": ["m0@example.test"],
        "references": ["m0@example.test"],
        "subject": "Hello",
        "header:List-Post:asURLs": ["mailto:list@example.test"],
        "header:X-Raw": " raw value",
        "header:X-Text:asText": "text value",
        "header:Cc:asGroupedAddresses": [
            {"name": "Team", "addresses": [{"name": None, "email": "t@example.test"}]}
        ],
        "bodyValues": {"1": {"value": "Body"}},
        "bodyStructure": {
            "type": "multipart/mixed",
            "subParts": [
                {"partId": "1", "type": "text/plain", "language": ["en"]},
                {
                    "blobId": "Bpdf",
                    "type": "application/pdf",
                    "name": "report.pdf",
                    "disposition": "attachment",
                    "cid": "part2@example.test",
                    "location": "https://example.test/report.pdf",
                },
                {"blobId": "Btxt", "type": "text/plain", "charset": "us-ascii"},
            ],
        },
    }


# (path of the value in the template, setter): the ten properties of the issue, and the
# names, subject and text that are encoded rather than checked
TARGETS = {
    "to/0/email": lambda e, v: e["to"][0].__setitem__("email", v),
    "to/0/name": lambda e, v: e["to"][0].__setitem__("name", v),
    "messageId/0": lambda e, v: e["messageId"].__setitem__(0, v),
    "inReplyTo/0": lambda e, v: e["inReplyTo"].__setitem__(0, v),
    "references/0": lambda e, v: e["references"].__setitem__(0, v),
    "header:List-Post:asURLs/0": lambda e, v: e["header:List-Post:asURLs"].__setitem__(0, v),
    "header:X-Raw": lambda e, v: e.__setitem__("header:X-Raw", v),
    "header:X-Text:asText": lambda e, v: e.__setitem__("header:X-Text:asText", v),
    "subject": lambda e, v: e.__setitem__("subject", v),
    "header:Cc:asGroupedAddresses/0/name": lambda e, v: e["header:Cc:asGroupedAddresses"][
        0
    ].__setitem__("name", v),
    "bodyStructure/subParts/1/cid": lambda e, v: _part(e, 1).__setitem__("cid", v),
    "bodyStructure/subParts/1/location": lambda e, v: _part(e, 1).__setitem__("location", v),
    "bodyStructure/subParts/0/language": lambda e, v: _part(e, 0).__setitem__("language", [v]),
    "bodyStructure/subParts/1/disposition": lambda e, v: _part(e, 1).__setitem__("disposition", v),
    "bodyStructure/subParts/1/type": lambda e, v: _part(e, 1).__setitem__("type", v),
    "bodyStructure/subParts/2/charset": lambda e, v: _part(e, 2).__setitem__("charset", v),
    "bodyStructure/subParts/1/name": lambda e, v: _part(e, 1).__setitem__("name", v),
}
#: where the refusal names a value of a list, the path ends at the property
REFUSED_AT = {"bodyStructure/subParts/0/language": "bodyStructure/subParts/0/language"}


def _part(email: dict[str, Any], n: int) -> dict[str, Any]:
    return email["bodyStructure"]["subParts"][n]


def with_value(path: str, value: str) -> dict[str, Any]:
    email = template()
    TARGETS[path](email, value)
    return email


def build(email: dict[str, Any]) -> bytes:
    return build_message(copy.deepcopy(email), BLOBS.get, domain="example.test")


def field_names(raw: bytes) -> list[list[str]]:
    """The header field names of the message and of each of its parts, in order."""
    model = parse_message(raw)
    out = [[h["name"].lower() for h in model["headers"]]]
    stack = [model["bodyStructure"]]
    while stack:
        part = stack.pop()
        out.append([h["name"].lower() for h in part["headers"]])
        stack.extend(reversed(part.get("subParts") or []))
    return out


REFERENCE = field_names(build(template()))


@pytest.mark.parametrize("path", sorted(set(TARGETS) - {"to/0/name", "subject"}))
@pytest.mark.parametrize("evil", [INJECTION, "\r", "\n", "x\r\n Bcc: a@b.test\r\n"])
def test_cr_and_lf_are_refused_with_the_property_path(path, evil):
    good = {
        "to/0/email": "victim@example.test",
        "header:X-Raw": " raw",
        "header:X-Text:asText": "text",
    }.get(path, "value")
    if path in (
        "header:X-Text:asText",
        "header:Cc:asGroupedAddresses/0/name",
        "bodyStructure/subParts/1/name",
    ):
        # text and names are encoded (RFC 2047 / RFC 2231), never refused
        raw = build(with_value(path, good + evil))
        assert field_names(raw) == REFERENCE
        assert b"\r\nBcc:" not in raw
        return
    with pytest.raises(EmailCreateError) as info:
        build(with_value(path, good + evil))
    assert info.value.properties == [REFUSED_AT.get(path, path)]


def test_folded_raw_value_is_kept():
    raw = build(with_value("header:X-Raw", " first\r\n second\r\n\tthird"))
    assert b"X-Raw: first\r\n second\r\n\tthird\r\n" in raw
    assert field_names(raw) == REFERENCE
    for bad in (" a\r\n\r\n b", " a\r\n ", " a\r\nb", " a\x00b", " a\r\n \r\n b"):
        with pytest.raises(EmailCreateError):
            build(with_value("header:X-Raw", bad))


def test_names_are_encoded_never_raw():
    """A display name with CR/LF, controls or an encoded-word lookalike is written as
    RFC 2047 encoded-words, and reads back as given (white space folded)."""
    for name in ("Eve\r\nBcc: x@evil.test", "A\x00B", "=?utf-8?q?x?=", "Zoë <z@x.test>"):
        raw = build(with_value("to/0/name", name))
        assert field_names(raw) == REFERENCE
        model = parse_message(raw)
        shown = " ".join(name.replace("\x00", "").split())  # readers drop controls
        assert model["to"] == [{"name": shown, "email": "victim@example.test"}]
        assert model["bcc"] is None


# Pieces that matter to header syntax, and any other characters; often after a valid
# value, so that the values which are accepted get parsed back too.
PIECES = st.lists(
    st.sampled_from([*"\r\n\t :;,<>@\"\\()[]=?.-_/%'", "=?", "?=", "\r\n ", "é", "\x00", "\x7f"])
    | st.characters(exclude_categories=["Cs"]),  # JSON (orjson) carries no lone surrogates
    max_size=30,
).map("".join)
VALID = ["victim@example.test", "m@x.test", "mailto:a@b", "text/plain", "en-GB", "inline", " raw"]
TEXT = PIECES | st.builds(str.__add__, st.sampled_from(VALID), PIECES)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(TARGETS)), TEXT)
def test_random_values_are_refused_or_add_no_field(path, value):
    email = with_value(path, value)
    try:
        raw = build(email)
    except EmailCreateError as exc:
        assert exc.properties == [REFUSED_AT.get(path, path)]
        return
    assert field_names(raw) == REFERENCE, (path, value, raw)
    model = parse_message(raw)
    assert model["bcc"] is None
    if path == "to/0/email" and '"' not in value:  # the reader unquotes a quoted local-part
        assert model["to"][0]["email"] == value
    if path == "to/0/name":
        kept = "".join(c for c in value if c.isspace() or unicodedata.category(c) != "Cc")
        assert (model["to"][0]["name"] or "") == unicodedata.normalize(
            "NFC", " ".join(kept.split())
        )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXT)
def test_random_values_everywhere_at_once(value):
    """Every property at once: refused (naming only properties under test) or no field
    appears that the reference message lacks."""
    email = template()
    for setter in TARGETS.values():
        setter(email, value)
    try:
        raw = build(email)
    except EmailCreateError as exc:
        assert set(exc.properties) <= {REFUSED_AT.get(p, p) for p in TARGETS}
        return
    assert field_names(raw) == REFERENCE, (value, raw)


def test_injection_over_http_writes_nothing(alice):
    """The issue's example: refused, nothing created, no Bcc anywhere."""
    inbox = mailboxes(alice)["inbox"]
    create = {
        "mailboxIds": {inbox: True},
        "to": [{"email": "victim@example.test\r\nBcc: attacker@evil.test"}],
        "subject": "hi",
        "bodyValues": {"1": {"value": "x"}},
        "textBody": [{"partId": "1"}],
    }
    result = alice.ok("Email/set", {"create": {"c": create}})
    assert result["created"] is None
    error = result["notCreated"]["c"]
    assert (error["type"], error["properties"]) == ("invalidProperties", ["to/0/email"])
