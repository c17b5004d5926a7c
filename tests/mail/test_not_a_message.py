"""Issue 7.9: blobs that are not messages are refused by Email/parse and Email/import.

RFC 8621 §4.9: a blob that cannot be parsed as an Email goes in ``notParsable``.
RFC 8621 §4.8: importing it fails with the SetError ``invalidEmail``.
Damaged real mail is still a message: it parses and imports.
"""

from __future__ import annotations

import zlib

import pytest

from tests.corpus import load

from .conftest import mailboxes, message, upload

NOT_MESSAGES = {
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06",
    "zlib": zlib.compress(b"From: a@example.com\r\n\r\nhello" * 20),
    "pdf": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
    "text": b"Dear Bob,\n\nthis is just a text file, no header at all.\n",
    "html": b"<!DOCTYPE html><html><body><p>Hello</p></body></html>\n",
    "binary-after-a-colon": b"ID3:\x00\x00\x02\x00\x00\x00\x1fTIT2\x00\x00",
    "empty": b"",
}
DAMAGED = [
    "stalwart-malformed-000.eml",
    "james-invalid.eml",
    "mikelmail-raw-email-with-illegal-boundary.eml",
]


@pytest.fixture(scope="module")
def blobs(alice):
    return {
        name: upload(alice, raw, "application/octet-stream") for name, raw in NOT_MESSAGES.items()
    }


def test_parse_answers_not_parsable(alice, blobs):
    good = upload(alice, message("A real one"))
    result = alice.ok("Email/parse", {"blobIds": [*blobs.values(), good]})
    assert sorted(result["notParsable"]) == sorted(blobs.values())
    assert list(result["parsed"]) == [good]
    assert result["parsed"][good]["subject"] == "A real one"
    assert result["notFound"] is None


def test_import_answers_invalid_email(alice, blobs):
    inbox = mailboxes(alice)["inbox"]
    emails = {name: {"blobId": b, "mailboxIds": {inbox: True}} for name, b in blobs.items()}
    emails["real"] = {"blobId": upload(alice, message("Imported")), "mailboxIds": {inbox: True}}
    before = alice.ok("Email/query", {})["ids"]
    result = alice.ok("Email/import", {"emails": emails})
    assert set(result["created"]) == {"real"}
    assert set(result["notCreated"]) == set(blobs)
    assert {e["type"] for e in result["notCreated"].values()} == {"invalidEmail"}
    after = alice.ok("Email/query", {})["ids"]
    assert len(after) == len(before) + 1


@pytest.mark.parametrize("name", DAMAGED)
def test_damaged_real_mail_still_parses_and_imports(alice, name):
    blob_id = upload(alice, load(name))
    result = alice.ok("Email/parse", {"blobIds": [blob_id]})
    assert result["notParsable"] is None and blob_id in result["parsed"]
    inbox = mailboxes(alice)["inbox"]
    result = alice.ok(
        "Email/import", {"emails": {"d": {"blobId": blob_id, "mailboxIds": {inbox: True}}}}
    )
    assert result["notCreated"] is None and "d" in result["created"]


def test_message_with_blank_first_line_is_a_message(alice):
    """Issue 7.13 and 7.9 together: a leading line of spaces does not make it 'not mail'."""
    blob_id = upload(alice, b"   \r\n" + message("Indented start"))
    parsed = alice.ok("Email/parse", {"blobIds": [blob_id]})["parsed"][blob_id]
    assert parsed["subject"] == "Indented start"
