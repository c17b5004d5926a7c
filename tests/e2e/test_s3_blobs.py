"""The real server with its blobs in S3 (``s3_url`` pointing at moto in server mode, a real
S3-compatible HTTP server, not AWS): upload, Email/import, streamed downloads of the message
and of an attachment, the orphan sweep, a restart, and the CLI on the same bucket."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import os
import subprocess
import time
from pathlib import Path

import pytest
from minio import Minio

from jmap.config import load_config
from jmap.housekeeping import sweep_orphan_blobs
from jmap.store.blob_factory import blob_store
from jmap.store.s3 import key_of
from tests.conftest import FULMAR, FulmarServer, free_port, open_test_store, start_server
from tests.mail.conftest import mailboxes, upload
from tests.s3servers import S3Server, moto_s3, start_moto

__all__ = ["moto_s3"]

ATTACHMENT = os.urandom(700_000)


def raw_message() -> bytes:
    encoded = base64.encodebytes(ATTACHMENT).replace(b"\n", b"\r\n")
    return (
        b"From: Ann <ann@example.com>\r\nTo: Alice <alice@example.com>\r\n"
        b"Subject: blobs in S3\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
        b"Message-ID: <s3-e2e@example.com>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
        b'--b\r\nContent-Type: application/octet-stream; name="data.bin"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"--b--\r\n"
    )


def streamed_download(client, blob_id: str) -> tuple[bytes, int]:
    """The body of a download read as it streams, and the number of pieces it came in."""
    url = f"/jmap/download/{client.account_id}/{blob_id}/f.bin"
    pieces = []
    with client.http.stream("GET", url) as response:
        assert response.status_code == 200, response.read()
        assert int(response.headers["content-length"]) > 0
        pieces = list(response.iter_raw())
    return b"".join(pieces), len(pieces)


def bucket_client(s3: S3Server) -> Minio:
    return Minio(f"127.0.0.1:{s3.port}", s3.access_key, s3.secret_key, secure=False)


def blob_files(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "blobs").rglob("*") if p.is_file()]


@pytest.fixture
def s3_server(moto_s3: S3Server, tmp_path: Path):
    bucket = "e2e-" + hashlib.sha256(str(tmp_path).encode()).hexdigest()[:16]
    env = {"FULMAR_S3_URL": moto_s3.url(bucket)}
    server = start_server(tmp_path / "fulmar", env=env)
    yield server, bucket
    server.stop()
    assert "Traceback" not in server.log(), server.log()


def test_upload_import_download_sweep_restart(moto_s3: S3Server, s3_server):
    server, bucket = s3_server
    alice = server.client("alice@example.com")
    s3 = bucket_client(moto_s3)
    raw = raw_message()

    message_blob = upload(alice, raw)
    assert s3.stat_object(bucket, key_of(message_blob)).size == len(raw)
    inbox = mailboxes(alice)["inbox"]
    created = alice.ok(
        "Email/import", {"emails": {"m": {"blobId": message_blob, "mailboxIds": {inbox: True}}}}
    )["created"]["m"]
    email = alice.ok("Email/get", {"ids": [created["id"]], "properties": ["blobId", "attachments"]})
    (found,) = email["list"]
    assert found["blobId"] == message_blob
    (attachment,) = found["attachments"]

    body, pieces = streamed_download(alice, message_blob)
    assert body == raw and pieces > 1  # streamed in chunks, not one buffer
    part, _ = streamed_download(alice, attachment["blobId"])
    assert part == ATTACHMENT

    kept_upload = upload(alice, b"an upload nobody imported yet", "text/plain")
    # bytes a failed write left behind: in the bucket, held by no account
    orphan_bytes = b"left behind by a transaction that failed"
    orphan = "G" + hashlib.sha256(orphan_bytes).hexdigest()
    s3.put_object(bucket, key_of(orphan), io.BytesIO(orphan_bytes), len(orphan_bytes))
    assert blob_files(server.data_dir) == []  # nothing went to the embedded blob folder

    server.stop()
    config = load_config(environ={"FULMAR_S3_URL": moto_s3.url(bucket)}, data_dir=server.data_dir)

    async def sweep() -> int:
        data = open_test_store(server.data_dir)
        await data.open()
        try:
            async with blob_store(config) as blobs:
                return await sweep_orphan_blobs(data, blobs, time.time() + 5)
        finally:
            await data.close()

    assert asyncio.run(sweep()) == 1
    keys = {o.object_name for o in s3.list_objects(bucket, prefix="blobs/", recursive=True)}
    assert key_of(orphan) not in keys
    assert {key_of(message_blob), key_of(kept_upload)} <= keys

    server.start()
    again, _ = streamed_download(alice, message_blob)
    assert again == raw
    missing = alice.http.get(f"/jmap/download/{alice.account_id}/{orphan}/x")
    assert missing.status_code == 404


def test_cli_import_and_remove_use_the_bucket(moto_s3: S3Server, tmp_path: Path):
    bucket = "cli-" + hashlib.sha256(str(tmp_path).encode()).hexdigest()[:16]
    server = start_server(tmp_path / "fulmar", env={"FULMAR_S3_URL": moto_s3.url(bucket)})
    env = server.process_env()
    server.stop()  # the data directory exists now; the CLI works on it alone
    eml = tmp_path / "one.eml"
    eml.write_bytes(raw_message())
    data_dir = ["--data-dir", str(server.data_dir)]

    def fulmar(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [FULMAR, *args, *data_dir], env=env, capture_output=True, text=True, timeout=120
        )

    imported = fulmar("import", "alice@example.com", str(eml))
    assert imported.returncode == 0, imported.stderr
    key = key_of("G" + hashlib.sha256(eml.read_bytes()).hexdigest())
    s3 = bucket_client(moto_s3)
    assert s3.stat_object(bucket, key).size == eml.stat().st_size
    assert blob_files(server.data_dir) == []
    removed = fulmar("account", "remove", "alice@example.com", "--yes")
    assert removed.returncode == 0, removed.stderr
    keys = {o.object_name for o in s3.list_objects(bucket, recursive=True)}
    assert key not in keys
    refused = fulmar("backup", str(tmp_path / "backup"))
    assert refused.returncode != 0 and "S3 bucket" in refused.stderr


def test_serve_with_an_unreachable_s3_fails_clearly(tmp_path: Path):
    port = free_port()  # nothing listens there
    server = FulmarServer(
        tmp_path, free_port(), env={"FULMAR_S3_URL": f"http://k:s@127.0.0.1:{port}/b-1"}
    )
    with pytest.raises(RuntimeError, match="server exited"):
        server.start()
    log = server.log()
    assert (
        f"cannot use the blob store: S3 bucket b-1 at http://127.0.0.1:{port}: unreachable" in log
    )
    assert "Traceback" not in log


def test_serve_with_a_malformed_s3_url_fails_clearly(tmp_path: Path):
    server = FulmarServer(tmp_path, free_port(), env={"FULMAR_S3_URL": "http://k:sec@127.0.0.1:9/"})
    with pytest.raises(RuntimeError, match="server exited"):
        server.start()
    assert "s3_url needs the bucket" in server.log() and "sec@" not in server.log()


def test_s3_going_away_answers_503_not_500(tmp_path: Path):
    """While S3 is down, uploads and downloads answer 503 with Retry-After (never a 500 or a
    traceback), and the rest of the API goes on."""
    s3 = start_moto(tmp_path)
    try:
        server = start_server(tmp_path / "fulmar", env={"FULMAR_S3_URL": s3.url("going-away")})
        alice = server.client("alice@example.com")
        blob = upload(alice, b"stored while S3 was up", "text/plain")
    finally:
        s3.stop()
    try:
        refused = alice.http.post(f"/jmap/upload/{alice.account_id}/", content=b"new bytes")
        assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
        got = alice.http.get(f"/jmap/download/{alice.account_id}/{blob}/f.txt")
        assert got.status_code == 503
        assert alice.ok("Mailbox/get", {"ids": None})["list"]  # the data role still answers
    finally:
        server.stop()
    assert "the blob store failed: S3 bucket going-away" in server.log()
    assert "Traceback" not in server.log()
