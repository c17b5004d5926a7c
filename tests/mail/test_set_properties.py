"""Email/set create and Email/import name every invalid property at once (issue 7.6);
a header field may not be given on both the Email and its root part (issue 7.7);
Email/get returns every requested body property, null when it has none (issue 7.5)."""

from __future__ import annotations

import pytest

from .conftest import mailboxes, upload

MULTIPART = (
    b"From: a@example.com\r\nTo: b@example.com\r\nSubject: parts\r\n"
    b"Message-ID: <parts@example.com>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain\r\n\r\nHello\r\n"
    b"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment\r\n\r\nPDF\r\n"
    b"--b--\r\n"
)


@pytest.fixture(scope="module")
def inbox(alice):
    return mailboxes(alice)["inbox"]


@pytest.fixture(scope="module")
def multipart(alice, inbox):
    item = {"blobId": upload(alice, MULTIPART), "mailboxIds": {inbox: True}}
    result = alice.ok("Email/import", {"emails": {"m": item}})
    return result["created"]["m"]["id"]


def test_sub_parts_is_null_on_leaves_when_asked_for(alice, multipart):
    """RFC 8621 §4.1.4: subParts is null on a part that is not multipart; and every
    requested body property is present (RFC 8621 §4.2: null when there is no value)."""
    wanted = ["partId", "subParts", "cid", "language", "location", "header:X-None", "headers"]
    args = {
        "ids": [multipart],
        "properties": ["bodyStructure", "textBody", "attachments"],
        "bodyProperties": wanted,
    }
    (email,) = alice.ok("Email/get", args)["list"]
    root = email["bodyStructure"]
    assert root["partId"] is None and len(root["subParts"]) == 2
    for part in [*root["subParts"], *email["textBody"], *email["attachments"]]:
        assert set(part) == set(wanted), part
        assert part["subParts"] is None
        assert part["cid"] is None and part["header:X-None"] is None
    blob = alice.ok("Email/get", {"ids": [multipart], "properties": ["blobId"]})["list"][0]
    parsed = alice.ok(
        "Email/parse",
        {"blobIds": [blob["blobId"]], "properties": ["textBody"], "bodyProperties": wanted},
    )["parsed"][blob["blobId"]]
    assert parsed["textBody"][0]["subParts"] is None


def test_import_names_every_invalid_property(alice, inbox):
    """RFC 8620 §5.3: "properties": all the invalid properties, not the first found."""
    result = alice.ok("Email/import", {"emails": {"empty": {}}})
    assert result["notCreated"]["empty"]["properties"] == ["blobId", "mailboxIds"]
    bad = {
        "blobId": "Gnope",
        "mailboxIds": {"mnope": True},
        "keywords": {"bad keyword": True},
        "receivedAt": "yesterday",
        "size": 3,
    }
    result = alice.ok("Email/import", {"emails": {"bad": bad}})
    assert result["notCreated"]["bad"]["properties"] == sorted(bad)


def test_email_set_create_names_every_invalid_property(alice, inbox):
    create = {
        "keywords": {"bad keyword": True},
        "receivedAt": "yesterday",
        "to": [{"email": "not an address"}],
        "messageId": ["no-at-sign"],
        "subject": 5,
        "bodyValues": {"1": {"value": "x"}},
        "bodyStructure": {
            "type": "multipart/mixed",
            "subParts": [
                {"partId": "1", "type": "text/plain", "language": ["not a tag"]},
                {"blobId": "Gnope", "type": "no media type", "cid": "<a b>"},
            ],
        },
    }
    result = alice.ok("Email/set", {"create": {"c": create}})
    assert result["notCreated"]["c"]["properties"] == [
        "bodyStructure/subParts/0/language",
        "bodyStructure/subParts/1/cid",
        "bodyStructure/subParts/1/type",
        "keywords",
        "mailboxIds",
        "messageId/0",
        "receivedAt",
        "subject",
        "to/0/email",
    ]


def body(**root):
    return {
        "bodyValues": {"1": {"value": "x"}},
        "bodyStructure": {"partId": "1", "type": "text/plain", **root},
    }


@pytest.mark.parametrize(
    ("email", "root", "properties"),
    [
        ({"subject": "On the Email"}, {"header:Subject": " On the part"}, ["header:Subject"]),
        ({"header:X-Tag": " one"}, {"header:X-Tag:asText": "two"}, ["header:X-Tag:asText"]),
        (
            {"from": [{"email": "a@example.com"}]},
            {"header:From:asAddresses": [{"email": "b@example.com"}]},
            ["header:From:asAddresses"],
        ),
        ({"header:MIME-Version": " 1.0"}, {"header:MIME-Version": " 1.0"}, ["header:MIME-Version"]),
    ],
)
def test_field_on_email_and_root_part_is_refused(alice, inbox, email, root, properties):
    """RFC 8621 §4.6: the bodyStructure EmailBodyPart MUST NOT contain a property
    representing a header field already defined on the top-level Email."""
    email_prop = next(iter(email))
    create = {"mailboxIds": {inbox: True}, **email, **body(**root)}
    result = alice.ok("Email/set", {"create": {"c": create}})
    assert result["created"] is None
    error = result["notCreated"]["c"]
    assert error["type"] == "invalidProperties"
    assert error["properties"] == sorted([email_prop, *(f"bodyStructure/{p}" for p in properties)])


def test_root_part_fields_are_written_once(alice, inbox):
    """A Date or Message-ID given on the root part only is not added a second time."""
    create = {
        "mailboxIds": {inbox: True},
        **body(**{"header:Date": " Mon, 1 Jan 2024 00:00:00 +0000", "header:Message-ID": " <r@x>"}),
    }
    result = alice.ok("Email/set", {"create": {"c": create}})
    blob_id = result["created"]["c"]["blobId"]
    raw = alice.http.get(f"/jmap/download/{alice.account_id}/{blob_id}/m.eml").content
    head = raw.split(b"\r\n\r\n", 1)[0].lower()
    assert head.count(b"\r\ndate:") + head.startswith(b"date:") == 1
    assert head.count(b"message-id:") == 1 and head.count(b"mime-version:") == 1
