"""Email/parse (including attached messages) and Email/copy between accounts."""

from __future__ import annotations

import pytest

from .conftest import assert_counters_exact, import_raw, mailboxes, message, upload

INNER = message("Inner message", "The forwarded text", message_id="inner@x")
OUTER = (
    b"From: a@example.com\r\nTo: b@example.com\r\nSubject: Fwd: Inner message\r\n"
    b"Message-ID: <outer@x>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="o"\r\n\r\n--o\r\nContent-Type: text/plain\r\n\r\n'
    b"See below.\r\n--o\r\nContent-Type: message/rfc822\r\n\r\n" + INNER + b"\r\n--o--\r\n"
)


def test_parse_blob_and_attached_message(alice):
    blob_id = upload(alice, OUTER)
    result = alice.ok("Email/parse", {"blobIds": [blob_id, "Gnope"]})
    assert result["notFound"] == ["Gnope"] and result["notParsable"] is None
    parsed = result["parsed"][blob_id]
    assert parsed["subject"] == "Fwd: Inner message" and "id" not in parsed
    (attached,) = parsed["attachments"]
    assert attached["type"] == "message/rfc822"
    result = alice.ok(
        "Email/parse",
        {
            "blobIds": [attached["blobId"]],
            "properties": ["subject", "id", "threadId", "bodyValues", "textBody"],
            "fetchTextBodyValues": True,
        },
    )
    inner = result["parsed"][attached["blobId"]]
    assert inner["subject"] == "Inner message" and inner["id"] is None and inner["threadId"] is None
    assert [v["value"].strip() for v in inner["bodyValues"].values()] == ["The forwarded text"]
    # the attached message can be imported as an Email of its own
    inbox = mailboxes(alice)["inbox"]
    created = alice.ok(
        "Email/import",
        {"emails": {"i": {"blobId": attached["blobId"], "mailboxIds": {inbox: True}}}},
    )["created"]["i"]
    part = alice.http.get(f"/jmap/download/{alice.account_id}/{attached['blobId']}/m.eml")
    assert created["size"] == len(part.content) and created["blobId"] != attached["blobId"]


def test_parse_errors(alice):
    account = alice.account_id
    assert alice.fail("Email/parse", {"accountId": account})["type"] == "invalidArguments"
    bad = {"accountId": account, "blobIds": [], "properties": ["header:From:asDate"]}
    assert alice.fail("Email/parse", bad)["type"] == "invalidArguments"


def test_copy_between_accounts(server, alice, bob):
    # bob shares nothing with alice by default: copy needs access to both accounts
    error = alice.fail(
        "Email/copy",
        {"fromAccountId": bob.account_id, "accountId": alice.account_id, "create": {}},
    )
    assert error["type"] == "fromAccountNotFound"
    error = alice.fail(
        "Email/copy",
        {"fromAccountId": alice.account_id, "accountId": alice.account_id, "create": {}},
    )
    assert error["type"] == "invalidArguments"


def test_copy_with_destroy_original(tmp_path):
    import asyncio

    from tests.conftest import open_test_store, start_server

    server = start_server(tmp_path / "d")
    try:
        alice, bob = server.client("alice@example.com"), server.client("bob@example.com")

        async def share() -> None:
            data = open_test_store(tmp_path / "d")
            await data.open()
            alice_principal = await data.principal_by_login("alice@example.com")
            await data.grant(bob.account_id, alice_principal.id, read_only=False)
            await data.close()

        asyncio.run(share())
        (original,) = import_raw(alice, [message("Copy me")], mailboxes(alice)["inbox"])
        bob_inbox = mailboxes(bob)["inbox"]
        response = alice.request(
            [
                [
                    "Email/copy",
                    {
                        "fromAccountId": alice.account_id,
                        "accountId": bob.account_id,
                        "create": {
                            "c": {
                                "id": original,
                                "mailboxIds": {bob_inbox: True},
                                "keywords": {"$Seen": True},
                            },
                            "bad": {
                                "id": original,
                                "mailboxIds": {bob_inbox: True},
                                "subject": "x",
                            },
                            "gone": {"id": "Mnope", "mailboxIds": {bob_inbox: True}},
                            "many": {
                                "id": original,
                                "mailboxIds": {"Mnope": True},
                                "keywords": {"no spaces": True},
                                "subject": "x",
                            },
                        },
                        "onSuccessDestroyOriginal": True,
                    },
                    "0",
                ]
            ]
        ).json()["methodResponses"]
        (name, copy, _), (set_name, destroyed, _) = response
        assert name == "Email/copy" and set_name == "Email/set"
        created = copy["created"]["c"]
        assert set(created) == {"id", "blobId", "threadId", "size"}
        assert copy["notCreated"]["bad"]["type"] == "invalidProperties"
        assert copy["notCreated"]["gone"]["type"] == "notFound"
        # every invalid property at once (RFC 8620 §5.3)
        many = copy["notCreated"]["many"]
        assert many["type"] == "invalidProperties"
        assert many["properties"] == ["keywords", "mailboxIds", "subject"]
        assert destroyed["destroyed"] == [original]
        got = bob.ok("Email/get", {"ids": [created["id"]], "properties": ["keywords", "subject"]})
        assert got["list"][0] == {
            "id": created["id"],
            "keywords": {"$seen": True},
            "subject": "Copy me",
        }
        assert alice.ok("Email/get", {"ids": [original]})["notFound"] == [original]
        assert_counters_exact(bob)
        assert_counters_exact(alice)
    finally:
        server.stop()
    assert "Traceback" not in server.log()


@pytest.mark.parametrize("from_id", [None, 7, ["x"], {"id": "x"}])
def test_copy_needs_a_from_account_id_string(alice, bob, from_id):
    """RFC 8620 §3.6.2: a missing or mistyped argument is invalidArguments;
    fromAccountNotFound (§5.4) is for a well-formed id of no account the user can access."""
    for method, extra in [("Email/copy", {"create": {}}), ("Blob/copy", {"blobIds": []})]:
        args = {"accountId": alice.account_id, **extra}
        if from_id is not None:
            args["fromAccountId"] = from_id
        assert alice.fail(method, args)["type"] == "invalidArguments", (method, from_id)
        args["fromAccountId"] = "no-such-account"
        assert alice.fail(method, args)["type"] == "fromAccountNotFound", method
