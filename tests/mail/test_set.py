"""Email/set over HTTP: create from JMAP properties, keyword/mailbox patches, destroy, errors."""

from __future__ import annotations

import pytest

from .conftest import assert_counters_exact, import_raw, mailboxes, message, upload


@pytest.fixture(scope="module")
def boxes(alice):
    return mailboxes(alice)


@pytest.fixture
def email_id(alice, boxes):
    (email_id,) = import_raw(alice, [message("Set me")], boxes["inbox"], keywords={"$Draft": True})
    return email_id


def keywords_and_mailboxes(client, email_id):
    (email,) = client.ok(
        "Email/get", {"ids": [email_id], "properties": ["keywords", "mailboxIds"]}
    )["list"]
    return email["keywords"], email["mailboxIds"]


def test_keyword_patches_are_case_insensitive(alice, email_id):
    assert keywords_and_mailboxes(alice, email_id)[0] == {"$draft": True}
    result = alice.ok(
        "Email/set", {"update": {email_id: {"keywords/$Seen": True, "keywords/$DRAFT": None}}}
    )
    assert result["updated"] == {email_id: None}
    assert keywords_and_mailboxes(alice, email_id)[0] == {"$seen": True}
    alice.ok("Email/set", {"update": {email_id: {"keywords": {"$Flagged": True, "Work": True}}}})
    assert keywords_and_mailboxes(alice, email_id)[0] == {"$flagged": True, "work": True}


def test_mailbox_patches_and_whole_value(alice, boxes, email_id):
    alice.ok("Email/set", {"update": {email_id: {f"mailboxIds/{boxes['archive']}": True}}})
    assert keywords_and_mailboxes(alice, email_id)[1] == {
        boxes["inbox"]: True,
        boxes["archive"]: True,
    }
    alice.ok("Email/set", {"update": {email_id: {f"mailboxIds/{boxes['inbox']}": None}}})
    assert keywords_and_mailboxes(alice, email_id)[1] == {boxes["archive"]: True}
    alice.ok("Email/set", {"update": {email_id: {"mailboxIds": {boxes["trash"]: True}}}})
    assert keywords_and_mailboxes(alice, email_id)[1] == {boxes["trash"]: True}
    assert_counters_exact(alice)


def test_move_into_a_mailbox_created_in_the_same_request(alice, email_id):
    response = alice.request(
        [
            [
                "Mailbox/set",
                {"accountId": alice.account_id, "create": {"nb": {"name": "Fresh box"}}},
                "0",
            ],
            [
                "Email/set",
                {"accountId": alice.account_id, "update": {email_id: {"mailboxIds/#nb": True}}},
                "1",
            ],
        ]
    ).json()["methodResponses"]
    new_box = response[0][1]["created"]["nb"]["id"]
    assert response[1][1]["updated"] == {email_id: None}
    assert new_box in keywords_and_mailboxes(alice, email_id)[1]


@pytest.mark.parametrize(
    ("patch", "error", "properties"),
    [
        ({"mailboxIds": {}}, "invalidProperties", ["mailboxIds"]),
        ({"mailboxIds/mnope": True}, "invalidProperties", ["mailboxIds"]),
        ({"keywords/$seen": False}, "invalidProperties", ["keywords"]),
        ({"keywords/bad(kw": True}, "invalidProperties", ["keywords"]),
        ({"keywords": {"a": "yes"}}, "invalidProperties", ["keywords"]),
        ({"subject": "changed"}, "invalidProperties", ["subject"]),
        ({"blobId": "Gother"}, "invalidProperties", ["blobId"]),
        ({"keywords": {f"k{n}": True for n in range(200)}}, "tooManyKeywords", None),
        ({"keywords/a/b": True}, "invalidPatch", None),
        ({"keywords": {}, "keywords/$seen": True}, "invalidPatch", None),
    ],
)
def test_invalid_updates(alice, email_id, patch, error, properties):
    result = alice.ok("Email/set", {"update": {email_id: patch}})
    assert result["notUpdated"][email_id]["type"] == error
    if properties:
        assert result["notUpdated"][email_id]["properties"] == properties


def test_update_unknown_and_will_destroy(alice, email_id):
    result = alice.ok(
        "Email/set",
        {"update": {"Mnope": {"keywords": {}}, email_id: {"keywords": {}}}, "destroy": [email_id]},
    )
    assert result["notUpdated"]["Mnope"]["type"] == "notFound"
    assert result["notUpdated"][email_id]["type"] == "willDestroy"
    assert result["destroyed"] == [email_id]


def test_create_from_properties_with_attachment(alice, boxes):
    attachment = upload(alice, b"attachment bytes", "application/octet-stream")
    create = {
        "mailboxIds": {boxes["drafts"]: True},
        "keywords": {"$Draft": True},
        "from": [{"name": "Alice", "email": "alice@example.com"}],
        "to": [{"name": None, "email": "bob@example.com"}],
        "subject": "Drafted",
        "header:X-Mailer": " Fulmar test",
        "bodyValues": {"t": {"value": "Hello Bob"}},
        "textBody": [{"partId": "t", "type": "text/plain"}],
        "attachments": [
            {"blobId": attachment, "type": "application/octet-stream", "name": "a.bin"}
        ],
    }
    result = alice.ok("Email/set", {"create": {"d": create}})
    created = result["created"]["d"]
    assert set(created) == {"id", "blobId", "threadId", "size"}
    props = [
        "subject",
        "keywords",
        "messageId",
        "sentAt",
        "attachments",
        "header:X-Mailer",
        "bodyValues",
    ]
    (email,) = alice.ok(
        "Email/get", {"ids": [created["id"]], "properties": props, "fetchTextBodyValues": True}
    )["list"]
    assert email["subject"] == "Drafted" and email["keywords"] == {"$draft": True}
    assert email["messageId"] and email["sentAt"]
    assert email["header:X-Mailer"] == " Fulmar test"
    assert [v["value"] for v in email["bodyValues"].values()] == ["Hello Bob"]
    (part,) = email["attachments"]
    download = alice.http.get(f"/jmap/download/{alice.account_id}/{part['blobId']}/a.bin")
    assert download.content == b"attachment bytes"
    assert_counters_exact(alice)


@pytest.mark.parametrize(
    ("create", "error", "properties"),
    [
        ({}, "invalidProperties", ["mailboxIds"]),
        ({"headers": []}, "invalidProperties", ["headers"]),
        (
            {"subject": "a", "header:Subject": " b"},
            "invalidProperties",
            ["header:Subject", "subject"],
        ),
        ({"header:Content-Type": " text/plain"}, "invalidProperties", ["header:Content-Type"]),
        ({"id": "M1"}, "invalidProperties", ["id"]),
        ({"textBody": [{"partId": "missing", "type": "text/plain"}]}, "invalidProperties", None),
        ({"attachments": [{"blobId": "G" + "0" * 64, "type": "image/png"}]}, "blobNotFound", None),
        ({"keywords": {"$seen": True, "bad word": True}}, "invalidProperties", ["keywords"]),
    ],
)
def test_invalid_creates(alice, boxes, create, error, properties):
    if create:
        create = {"mailboxIds": {boxes["drafts"]: True}, **create}
    result = alice.ok("Email/set", {"create": {"c": create}})
    assert result["created"] is None
    assert result["notCreated"]["c"]["type"] == error, result
    if properties:
        assert result["notCreated"]["c"]["properties"] == properties
    if error == "blobNotFound":
        assert result["notCreated"]["c"]["notFound"] == ["G" + "0" * 64]


def test_set_method_errors(alice):
    account = alice.account_id
    assert (
        alice.fail("Email/set", {"accountId": account, "ifInState": "s999999"})["type"]
        == "stateMismatch"
    )
    assert (
        alice.fail("Email/set", {"accountId": account, "create": []})["type"] == "invalidArguments"
    )
    destroy = [f"M{n}" for n in range(501)]
    assert (
        alice.fail("Email/set", {"accountId": account, "destroy": destroy})["type"]
        == "requestTooLarge"
    )
