"""Binary data (RFC 8620 §6): upload, download, Blob/copy, and who may see which blob."""

from __future__ import annotations

import hashlib
import os

import httpx

from tests.conftest import CORE, start_server


def upload(client, data: bytes, media_type: str = "application/pdf", account=None):
    return client.http.post(
        f"/jmap/upload/{account or client.account_id}/",
        content=data,
        headers={"Content-Type": media_type},
    )


def download_url(
    client, blob_id: str, name: str, media_type: str | None = None, account=None
) -> str:
    url = f"/jmap/download/{account or client.account_id}/{blob_id}/{name}"
    return url + (f"?accept={media_type}" if media_type else "")


def test_upload_then_download_byte_for_byte(alice):
    data = os.urandom(300_000) + b"\x00\r\n\xff"
    response = upload(alice, data, "application/pdf")
    assert response.status_code == 201
    body = response.json()
    assert body == {
        "accountId": alice.account_id,
        "blobId": "G" + hashlib.sha256(data).hexdigest(),
        "type": "application/pdf",
        "size": len(data),
    }
    got = alice.http.get(download_url(alice, body["blobId"], "report.pdf", "application/pdf"))
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert 'filename="report.pdf"' in got.headers["content-disposition"]
    assert "immutable" in got.headers["cache-control"]
    assert "private" in got.headers["cache-control"]
    assert got.headers["etag"] == f'"{body["blobId"]}"'
    # the client already has it: 304, no body
    cached = alice.http.get(
        download_url(alice, body["blobId"], "report.pdf"),
        headers={"If-None-Match": got.headers["etag"]},
    )
    assert cached.status_code == 304 and cached.content == b""


def test_same_bytes_same_blob_and_default_type(alice):
    first = upload(alice, b"same bytes", "text/plain").json()
    second = alice.http.post(f"/jmap/upload/{alice.account_id}/", content=b"same bytes")
    assert second.json()["blobId"] == first["blobId"]
    assert second.json()["type"] == "application/octet-stream"
    plain = alice.http.get(download_url(alice, first["blobId"], "x.bin"))
    assert plain.headers["content-type"] == "application/octet-stream"


def test_empty_upload(alice):
    body = upload(alice, b"").json()
    assert body["size"] == 0
    assert alice.http.get(download_url(alice, body["blobId"], "empty")).content == b""


def test_non_ascii_file_names_are_encoded(alice):
    blob = upload(alice, b"hello").json()["blobId"]
    name = "r%C3%A9sum%C3%A9%20%E2%82%AC.txt"  # "résumé €.txt", percent-encoded in the URL
    got = alice.http.get(download_url(alice, blob, name, "text/plain;charset=utf-8"))
    disposition = got.headers["content-disposition"]
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%20%E2%82%AC.txt" in disposition
    assert 'filename="r_sum_ _.txt"' in disposition
    assert got.headers["content-type"].startswith("text/plain")


def test_bad_download_requests(alice):
    blob = upload(alice, b"bad requests").json()["blobId"]
    cases = {
        download_url(alice, "G" + "0" * 64, "x"): 404,
        download_url(alice, "nonsense", "x"): 404,
        download_url(alice, blob, "x", account="nope"): 404,
        download_url(alice, blob, "x", "not a type"): 400,
        download_url(alice, blob, "x", "text/plain%0d%0aX-Evil:1"): 400,
    }
    for url, status in cases.items():
        response = alice.http.get(url)
        assert response.status_code == status, url
        assert response.headers["content-type"] == "application/problem+json"


def test_upload_errors(alice, bob):
    assert upload(alice, b"x", account="nope").status_code == 404
    assert upload(alice, b"x", account=bob.account_id).status_code == 404
    anonymous = httpx.post(f"{alice.server.url}/jmap/upload/{alice.account_id}/", content=b"x")
    assert anonymous.status_code == 401


def test_upload_size_limit(tmp_path):
    config = tmp_path / "f.toml"
    config.write_text("[limits]\nmax_size_upload = 1000\n")
    server = start_server(tmp_path / "d", extra_args=["--config", str(config)])
    try:
        alice = server.client("alice@example.com")
        assert alice.session["capabilities"][CORE]["maxSizeUpload"] == 1000
        assert upload(alice, b"x" * 1000).status_code == 201
        too_big = upload(alice, b"x" * 1001)
        assert too_big.status_code == 413
        assert too_big.json()["limit"] == "maxSizeUpload"
        streamed = alice.http.post(
            f"/jmap/upload/{alice.account_id}/", content=iter([b"y" * 600, b"y" * 600])
        )
        assert streamed.status_code == 413 and streamed.json()["limit"] == "maxSizeUpload"
        # nothing half-written stays behind
        assert not list((server.data_dir / "blobs" / "tmp").iterdir())
    finally:
        server.stop()


def test_accounts_cannot_see_each_others_blobs(alice, bob):
    secret = upload(alice, b"alice's secret").json()["blobId"]
    assert bob.http.get(download_url(bob, secret, "s")).status_code == 404
    # not even by naming alice's account
    assert bob.http.get(download_url(bob, secret, "s", account=alice.account_id)).status_code == 404
    copy = bob.fail(
        "Blob/copy",
        {"fromAccountId": alice.account_id, "accountId": bob.account_id, "blobIds": [secret]},
    )
    assert copy["type"] == "fromAccountNotFound"
    # bob uploading the same bytes gets his own reference to the same content
    mine = upload(bob, b"alice's secret").json()["blobId"]
    assert mine == secret
    assert bob.http.get(download_url(bob, mine, "s")).content == b"alice's secret"


def test_blob_copy_between_accounts_the_user_can_use(tmp_path):
    server = start_server(tmp_path / "d")
    try:
        alice = server.client("alice@example.com")
        bob = server.client("bob@example.com")
        server.share("alice@example.com", "bob@example.com")
        blob = upload(alice, b"shared content").json()["blobId"]
        assert bob.http.get(download_url(bob, blob, "s")).status_code == 404
        result = bob.ok(
            "Blob/copy",
            {"fromAccountId": alice.account_id, "blobIds": [blob, "G" + "1" * 64, "bad"]},
        )
        assert result["fromAccountId"] == alice.account_id
        assert result["copied"] == {blob: blob}
        assert set(result["notCopied"]) == {"G" + "1" * 64, "bad"}
        assert all(e["type"] == "notFound" for e in result["notCopied"].values())
        assert bob.http.get(download_url(bob, blob, "s")).content == b"shared content"
        same = bob.fail(
            "Blob/copy",
            {"fromAccountId": bob.account_id, "accountId": "nope", "blobIds": [blob]},
        )
        assert same["type"] == "accountNotFound"
        invalid = bob.fail(
            "Blob/copy",
            {"fromAccountId": alice.account_id, "accountId": bob.account_id, "blobIds": "x"},
        )
        assert invalid["type"] == "invalidArguments"
    finally:
        server.stop()
