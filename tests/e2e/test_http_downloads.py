"""Downloads (RFC 8620 §6.2) and Blob/copy (§6.3) of whole and part blobs."""

from __future__ import annotations

import base64
import os
import socket
import time

import pytest

from tests.conftest import start_server

LATIN1 = "Grüße aus Köln".encode("latin-1")
MESSAGE = (
    b"From: a@example.com\r\nTo: b@example.com\r\nSubject: notes\r\n"
    b"Message-ID: <notes@example.com>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee attached\r\n"
    b"--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
    b'Content-Disposition: attachment; filename="notes.txt"\r\n'
    b"Content-Transfer-Encoding: 8bit\r\n\r\n" + LATIN1 + b"\r\n--b--\r\n"
)


def upload(client, data: bytes, media_type: str = "application/octet-stream") -> str:
    response = client.http.post(
        f"/jmap/upload/{client.account_id}/", content=data, headers={"Content-Type": media_type}
    )
    assert response.status_code == 201, response.text
    return response.json()["blobId"]


def download(client, blob_id: str, accept: str | None = None, account: str | None = None):
    params = {} if accept is None else {"accept": accept}
    url = f"/jmap/download/{account or client.account_id}/{blob_id}/f.txt"
    return client.http.get(url, params=params)


def attachment_blob_id(client) -> str:
    """Import MESSAGE, return the blobId of its Latin-1 attachment (a part blob)."""
    inbox = client.ok("Mailbox/query", {"filter": {"role": "inbox"}})["ids"][0]
    blob = upload(client, MESSAGE, "message/rfc822")
    created = client.ok(
        "Email/import", {"emails": {"m": {"blobId": blob, "mailboxIds": {inbox: True}}}}
    )["created"]["m"]
    email = client.ok("Email/get", {"ids": [created["id"]], "properties": ["attachments"]})
    (attachment,) = email["list"][0]["attachments"]
    assert attachment["blobId"] != blob
    return attachment["blobId"]


def test_content_type_is_exactly_the_accept_parameter(alice):
    """RFC 8620 §6.2: the response's Content-Type is the ``type`` given, nothing added: a
    Latin-1 attachment asked for as text/plain must not be labelled UTF-8."""
    part = attachment_blob_id(alice)
    got = download(alice, part, "text/plain")
    assert got.status_code == 200
    assert got.headers["content-type"] == "text/plain"
    assert got.content == LATIN1
    assert got.headers["content-length"] == str(len(LATIN1))
    blob = upload(alice, b"a,b\r\n1,2\r\n")
    assert download(alice, blob, "text/csv").headers["content-type"] == "text/csv"
    with_charset = download(alice, blob, 'text/csv; charset="us-ascii"')
    assert with_charset.headers["content-type"] == 'text/csv; charset="us-ascii"'


def test_downloads_are_never_sniffed(alice):
    blob = upload(alice, b"<html><script>alert(1)</script></html>")
    got = download(alice, blob, "text/plain")
    assert got.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "accept",
    [
        "text/plain; charset=\u20ac",  # not Latin-1: was a 500
        "text/pl\u00e4in",
        "text/plain\x00",  # NUL: the connection was dropped
        "text/plain; x=\x00",
        "text/plain; x=\x7f",
        'text/plain; x="\x01"',
        "text/plain; x=\ty",
        "text/",
        "/plain",
        "text/plain;",
        "text/plain; x",
        "text/plain; x=",
        "text/plain; x=a b",
        'text/plain; x="unterminated',
        "text/plain/extra",
        "te(x)t/plain",
        "text/plain; " + "x" * 2000 + "=y",
    ],
)
def test_accept_must_be_a_printable_ascii_media_type(alice, accept):
    """RFC 6838 §4.2 names, RFC 2045 §5.1 parameters (token or quoted-string): anything else
    is answered 400, never a 500 or a dropped connection."""
    blob = upload(alice, b"some bytes")
    got = download(alice, blob, accept)
    assert got.status_code == 400, got.text
    assert got.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "accept",
    ["application/vnd.ms-excel", "image/svg+xml", 'text/plain; charset="utf-8"; format=flowed'],
)
def test_valid_media_types_are_served(alice, accept):
    blob = upload(alice, b"x")
    got = download(alice, blob, accept)
    assert got.status_code == 200 and got.headers["content-type"] == accept


def test_cors_exposes_www_authenticate(server):
    """A browser app must be able to read the challenge of a 401 (RFC 9110 §11.6.1)."""
    import httpx

    response = httpx.get(
        f"{server.url}/.well-known/jmap", headers={"Origin": "https://webmail.example"}
    )
    assert response.status_code == 401
    exposed = {
        h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
    }
    assert "www-authenticate" in exposed


def test_blob_copy_of_a_part_blob(tmp_path):
    """RFC 8620 §6.3: Blob/copy copies any blob the account can see, parts of messages too;
    the other account gets the part's bytes, not the message they are in."""
    server = start_server(tmp_path / "d")
    try:
        alice = server.client("alice@example.com")
        bob = server.client("bob@example.com")
        server.share("alice@example.com", "bob@example.com")
        part = attachment_blob_id(alice)
        assert download(alice, part).content == LATIN1
        result = bob.ok("Blob/copy", {"fromAccountId": alice.account_id, "blobIds": [part]})
        assert result["notCopied"] is None, result
        copied = result["copied"][part]
        assert download(bob, copied, "text/plain").content == LATIN1
        missing = bob.ok(
            "Blob/copy", {"fromAccountId": alice.account_id, "blobIds": [part[:-1] + "9"]}
        )
        assert missing["notCopied"][part[:-1] + "9"]["type"] == "notFound"
    finally:
        server.stop()
    assert "Traceback" not in server.log()


def unread_download(server, client, blob_id: str) -> socket.socket:
    """Start a download and read only its status line and headers."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    auth = "Basic " + base64.b64encode(f"{client.login}:{client.password}".encode()).decode()
    sock.sendall(
        f"GET /jmap/download/{client.account_id}/{blob_id}/big HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nAuthorization: {auth}\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 200"), head
    return sock


def test_unread_downloads_are_limited_per_user_and_block_no_one(tmp_path):
    """Downloads that are not read hold a download slot each (the blob is streamed, not held
    in memory); past ``max_concurrent_downloads`` the user gets 429 with Retry-After, while
    another user is still served."""
    config = tmp_path / "f.toml"
    config.write_text("max_concurrent_downloads = 2\n")
    server = start_server(tmp_path / "d", extra_args=["--config", str(config)])
    try:
        alice = server.client("alice@example.com")
        bob = server.client("bob@example.com")
        big = upload(alice, os.urandom(24 << 20))
        bobs = upload(bob, b"bob's blob")
        held = [unread_download(server, alice, big) for _ in range(2)]
        refused = download(alice, big)
        assert refused.status_code == 429
        assert refused.headers["retry-after"].isdigit()
        # another user is answered while alice's downloads are still in flight
        assert download(bob, bobs).content == b"bob's blob"
        assert download(alice, big).status_code == 429
        for sock in held:
            sock.close()
        # once the client is gone, the slots are free again
        for _ in range(200):
            got = download(alice, big)
            if got.status_code == 200:
                break
            time.sleep(0.05)
        assert got.status_code == 200 and len(got.content) == 24 << 20
    finally:
        server.stop()
    assert "Traceback" not in server.log()
