"""Email/import and Email/get over HTTP: default properties, header forms, body values,
part blobs, the shared corpus, and the errors of bad input."""

from __future__ import annotations

import pytest

from tests.corpus import require_corpus

from .conftest import assert_counters_exact, import_raw, mailboxes, message, upload

MULTIPART = (
    b"From: =?utf-8?q?Ren=C3=A9e?= <renee@example.com>\r\n"
    b"To: a@example.com, Team: b@example.com, c@example.com;\r\n"
    b"Subject: =?utf-8?q?Caf=C3=A9?= plans\r\n"
    b"Date: Tue, 2 Jan 2024 10:00:00 +0100\r\n"
    b"Message-ID: <multi@example.com>\r\n"
    b"List-Unsubscribe: <https://example.com/unsub>, <mailto:unsub@example.com>\r\n"
    b"X-Custom: first\r\n"
    b"X-Custom: second\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n'
    b"\r\n"
    b"--b1\r\n"
    b'Content-Type: multipart/alternative; boundary="b2"\r\n'
    b"\r\n"
    b"--b2\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Plain caf\xc3\xa9 text with smartchoice inside.\r\n"
    b"--b2\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"\r\n"
    b"<p>Plain <b>caf\xc3\xa9</b> text</p>\r\n"
    b"--b2--\r\n"
    b"--b1\r\n"
    b"Content-Type: application/pdf\r\n"
    b'Content-Disposition: attachment; filename="report-2024.pdf"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"JVBERi0xLjQK\r\n"
    b"--b1--\r\n"
)

DEFAULT = {
    "id", "blobId", "threadId", "mailboxIds", "keywords", "size", "receivedAt", "messageId",
    "inReplyTo", "references", "sender", "from", "to", "cc", "bcc", "replyTo", "subject",
    "sentAt", "hasAttachment", "preview", "bodyValues", "textBody", "htmlBody", "attachments",
}  # fmt: skip


@pytest.fixture(scope="module")
def multipart(alice):
    inbox = mailboxes(alice)["inbox"]
    (email_id,) = import_raw(alice, [MULTIPART], inbox, keywords={"$Flagged": True})
    return email_id


def test_import_returns_server_set_properties(alice):
    inbox = mailboxes(alice)["inbox"]
    blob_id = upload(alice, message(subject="Imported"))
    before = alice.ok("Email/get", {"ids": []})["state"]
    result = alice.ok(
        "Email/import",
        {"emails": {"x": {"blobId": blob_id, "mailboxIds": {inbox: True}}}},
    )
    created = result["created"]["x"]
    assert set(created) == {"id", "blobId", "threadId", "size"}
    assert created["blobId"] == blob_id and created["size"] == len(message(subject="Imported"))
    assert result["oldState"] == before != result["newState"]


def test_get_default_properties(alice, multipart):
    (email,) = alice.ok("Email/get", {"ids": [multipart]})["list"]
    assert set(email) == DEFAULT
    assert email["keywords"] == {"$flagged": True}
    assert email["subject"] == "Café plans"
    assert email["from"] == [{"name": "Renée", "email": "renee@example.com"}]
    assert [a["email"] for a in email["to"]] == ["a@example.com", "b@example.com", "c@example.com"]
    assert email["messageId"] == ["multi@example.com"] and email["inReplyTo"] is None
    assert email["sentAt"] == "2024-01-02T10:00:00+01:00"
    assert email["hasAttachment"] is True
    assert email["preview"].startswith("Plain café text")
    assert email["bodyValues"] == {}
    (text,) = email["textBody"]
    assert text["type"] == "text/plain" and text["charset"] == "utf-8"
    (attachment,) = email["attachments"]
    assert attachment["name"] == "report-2024.pdf" and attachment["type"] == "application/pdf"
    assert attachment["blobId"].startswith(email["blobId"])


def test_header_forms(alice, multipart):
    props = [
        "header:Subject",
        "header:subject:asText",
        "header:To:asGroupedAddresses",
        "header:X-Custom:all",
        "header:x-custom",
        "header:List-Unsubscribe:asURLs",
        "header:Message-ID:asMessageIds",
        "header:Date:asDate",
        "header:X-Missing",
        "header:X-Missing:all",
        "headers",
    ]
    (email,) = alice.ok("Email/get", {"ids": [multipart], "properties": props})["list"]
    assert email["header:Subject"] == " =?utf-8?q?Caf=C3=A9?= plans"
    assert email["header:subject:asText"] == "Café plans"
    groups = email["header:To:asGroupedAddresses"]
    assert [g["name"] for g in groups] == [None, "Team"]
    assert email["header:X-Custom:all"] == [" first", " second"]
    assert email["header:x-custom"] == " second"
    assert email["header:List-Unsubscribe:asURLs"] == [
        "https://example.com/unsub",
        "mailto:unsub@example.com",
    ]
    assert email["header:Message-ID:asMessageIds"] == ["multi@example.com"]
    assert email["header:Date:asDate"] == "2024-01-02T10:00:00+01:00"
    assert email["header:X-Missing"] is None and email["header:X-Missing:all"] == []
    assert email["headers"][0] == {
        "name": "From",
        "value": " =?utf-8?q?Ren=C3=A9e?= <renee@example.com>",
    }


def test_body_values_and_body_properties(alice, multipart):
    args = {
        "ids": [multipart],
        "properties": ["bodyValues", "bodyStructure", "htmlBody"],
        "fetchHTMLBodyValues": True,
        "maxBodyValueBytes": 12,
        "bodyProperties": ["partId", "type", "header:Content-Type", "size"],
    }
    (email,) = alice.ok("Email/get", args)["list"]
    (html,) = email["htmlBody"]
    assert set(html) == {"partId", "type", "header:Content-Type", "size"}
    value = email["bodyValues"][html["partId"]]
    assert value["isTruncated"] is True and len(value["value"].encode()) <= 12
    structure = email["bodyStructure"]
    assert structure["type"] == "multipart/mixed" and structure["partId"] is None
    assert [p["type"] for p in structure["subParts"]] == [
        "multipart/alternative",
        "application/pdf",
    ]
    (email,) = alice.ok(
        "Email/get",
        {"ids": [multipart], "properties": ["bodyValues"], "fetchAllBodyValues": True},
    )["list"]
    assert sorted(v["value"].strip() for v in email["bodyValues"].values()) == [
        "<p>Plain <b>café</b> text</p>",
        "Plain café text with smartchoice inside.",
    ]


def test_message_and_part_blobs_download(alice, multipart):
    props = ["blobId", "attachments", "size"]
    (email,) = alice.ok("Email/get", {"ids": [multipart], "properties": props})["list"]
    account = alice.account_id
    whole = alice.http.get(f"/jmap/download/{account}/{email['blobId']}/m.eml")
    assert whole.status_code == 200 and whole.content == MULTIPART
    part = email["attachments"][0]["blobId"]
    response = alice.http.get(f"/jmap/download/{account}/{part}/r.pdf?accept=application/pdf")
    assert response.status_code == 200 and response.content == b"%PDF-1.4\n"
    assert alice.http.get(f"/jmap/download/{account}/{part}9/x").status_code == 404


def test_other_users_cannot_see_emails_or_blobs(alice, bob, multipart):
    result = bob.fail("Email/get", {"accountId": alice.account_id, "ids": [multipart]})
    assert result["type"] == "accountNotFound"
    (email,) = alice.ok("Email/get", {"ids": [multipart], "properties": ["blobId"]})["list"]
    response = bob.http.get(f"/jmap/download/{bob.account_id}/{email['blobId']}/m.eml")
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"properties": ["nope"]}, "invalidArguments"),
        ({"properties": ["header:From:asDate"]}, "invalidArguments"),
        ({"properties": ["header:Subject:asAddresses"]}, "invalidArguments"),
        ({"properties": ["header:X-A:asNothing"]}, "invalidArguments"),
        ({"bodyProperties": ["nope"]}, "invalidArguments"),
        ({"maxBodyValueBytes": -1}, "invalidArguments"),
        ({"fetchAllBodyValues": "yes"}, "invalidArguments"),
        ({"ids": [f"M{n}" for n in range(501)]}, "requestTooLarge"),
        ({"accountId": "nope"}, "accountNotFound"),
    ],
)
def test_get_bad_arguments(alice, args, error):
    result = alice.fail("Email/get", {"accountId": alice.account_id, "ids": [], **args})
    assert result["type"] == error


def test_get_not_found_and_duplicates(alice, multipart):
    result = alice.ok("Email/get", {"ids": [multipart, multipart, "Mnope"], "properties": []})
    assert result["list"] == [{"id": multipart}]
    assert result["notFound"] == ["Mnope"]


@pytest.mark.parametrize(
    ("item", "error", "properties"),
    [
        ({"blobId": "Gnope"}, "invalidProperties", ["blobId"]),
        ({"mailboxIds": {}}, "invalidProperties", ["mailboxIds"]),
        ({"mailboxIds": {"mnope": True}}, "invalidProperties", ["mailboxIds"]),
        ({"mailboxIds": "inbox"}, "invalidProperties", ["mailboxIds"]),
        ({"keywords": {"bad keyword": True}}, "invalidProperties", ["keywords"]),
        ({"keywords": {"$seen": False}}, "invalidProperties", ["keywords"]),
        ({"receivedAt": "yesterday"}, "invalidProperties", ["receivedAt"]),
        ({"size": 5}, "invalidProperties", ["size"]),
        ({"keywords": {f"k{n}": True for n in range(200)}}, "tooManyKeywords", None),
    ],
)
def test_import_bad_items(alice, item, error, properties):
    inbox = mailboxes(alice)["inbox"]
    good = {"blobId": upload(alice, message(subject="bad import")), "mailboxIds": {inbox: True}}
    result = alice.ok("Email/import", {"emails": {"x": {**good, **item}}})
    assert result["created"] is None
    assert result["notCreated"]["x"]["type"] == error
    if properties:
        assert result["notCreated"]["x"]["properties"] == properties


def test_import_state_mismatch_and_bad_arguments(alice):
    assert (
        alice.fail(
            "Email/import", {"accountId": alice.account_id, "emails": {}, "ifInState": "s0x"}
        )["type"]
        == "stateMismatch"
    )
    assert alice.fail("Email/import", {"accountId": alice.account_id})["type"] == "invalidArguments"
    assert (
        alice.fail("Email/import", {"accountId": alice.account_id, "emails": []})["type"]
        == "invalidArguments"
    )


def test_whole_corpus_imports_over_http(fresh):
    files = require_corpus()
    inbox = mailboxes(fresh)["inbox"]
    ids: list[str] = []
    for start in range(0, len(files), 40):
        chunk = [f.read_bytes() for f in files[start : start + 40]]
        ids += import_raw(fresh, chunk, inbox)
    assert len(set(ids)) == len(files)
    for start in range(0, len(ids), 50):
        got = fresh.ok(
            "Email/get",
            {"ids": ids[start : start + 50], "fetchAllBodyValues": True, "properties": None},
        )
        assert len(got["list"]) == len(ids[start : start + 50]) and not got["notFound"]
    (inbox_box,) = fresh.ok("Mailbox/get", {"ids": [inbox]})["list"]
    assert inbox_box["totalEmails"] == len(files)
    assert_counters_exact(fresh)
