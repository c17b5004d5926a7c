"""``fulmar migrate``: an embedded deployment, populated through the real server over HTTP,
copied to a MongoDB emulator (nx-27017, mongoeco: emulators, no MongoDB server runs here)
and its blobs to moto's S3 server; the real server then runs on the copy and a client goes
on from the states it held. Also: kill -9 and resume, crashes at every write, tampering,
and targets that hold other data."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from minio import Minio
from pymongo import AsyncMongoClient, MongoClient

from jmap.migrate import Migration
from jmap.migrate_source import SqliteSource, blob_files
from jmap.migrate_verify import verify
from jmap.store.mongo_mail import MongoMailStore
from jmap.store.s3 import key_of
from tests.conftest import FULMAR, Client, FulmarServer, free_port, start_server
from tests.mail.conftest import mailboxes, message, upload
from tests.mongo.servers import BACKEND_ENV, MONGOECO, NX27017
from tests.s3servers import S3Server, moto_s3

__all__ = ["moto_s3"]

ALICE, BOB = "alice@example.com", "bob@example.com"
ATTACHMENT = os.urandom(300_000)
EMAIL_PROPS = ["id", "blobId", "threadId", "mailboxIds", "keywords", "subject", "bodyValues"]


def with_attachment(subject: str) -> bytes:
    encoded = base64.encodebytes(ATTACHMENT).replace(b"\n", b"\r\n")
    return (
        b"From: Ann <ann@example.com>\r\nTo: Alice <alice@example.com>\r\n"
        b"Subject: " + subject.encode() + b"\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
        b"Message-ID: <attach@example.com>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nThe quarterly figures, attached.\r\n"
        b'--b\r\nContent-Type: application/octet-stream; name="figures.bin"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"--b--\r\n"
    )


def fulmar(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FULMAR, *args], capture_output=True, text=True, env=env or clean_env(), timeout=300
    )


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FULMAR_")}
    env["FULMAR_SMTP_LISTEN"] = ""
    return {**env, **extra}


def db_url(base: str, name: str) -> str:
    return base.replace("/?", f"/{name}?")


def import_emails(client: Client, raws: list[bytes], mailbox_id: str, **extra: Any) -> list[str]:
    emails = {
        f"k{n}": {"blobId": upload(client, raw), "mailboxIds": {mailbox_id: True}, **extra}
        for n, raw in enumerate(raws)
    }
    result = client.ok("Email/import", {"emails": emails})
    assert not result["notCreated"], result["notCreated"]
    return [result["created"][f"k{n}"]["id"] for n in range(len(raws))]


QUERY = {
    "sort": [{"property": "receivedAt", "isAscending": False}],
    "collapseThreads": True,
}


def observe(client: Client, old: dict[str, str]) -> dict[str, Any]:
    """What a client sees: states, /changes from its old states, query, bodies, counters."""
    seen: dict[str, Any] = {}
    for type_name in ("Email", "Mailbox", "Thread"):
        seen[type_name] = client.ok(
            f"{type_name}/get", {"ids": [] if type_name != "Mailbox" else None}
        )
        seen[f"{type_name}/changes"] = client.ok(
            f"{type_name}/changes", {"sinceState": old[type_name]}
        )
    seen["query"] = client.ok("Email/query", QUERY)
    seen["search"] = client.ok("Email/query", {"filter": {"text": "quarterly"}})
    ids = client.ok("Email/query", {})["ids"]
    seen["emails"] = client.ok(
        "Email/get", {"ids": ids, "properties": EMAIL_PROPS, "fetchAllBodyValues": True}
    )
    return seen


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An embedded deployment made through the real server, and what its clients saw."""
    saved = os.environ.get(BACKEND_ENV)
    os.environ[BACKEND_ENV] = "sqlite"  # the source is embedded, whatever the suite runs on
    try:
        data_dir = tmp_path_factory.mktemp("embedded")
        server = start_server(data_dir)
    finally:
        if saved is None:
            del os.environ[BACKEND_ENV]
        else:
            os.environ[BACKEND_ENV] = saved
    try:
        alice, bob = server.client(ALICE), server.client(BOB)
        boxes = mailboxes(alice)
        created = alice.ok(
            "Mailbox/set", {"create": {"p": {"name": "Projects", "parentId": None}}}
        )["created"]
        projects = created["p"]["id"]
        first = import_emails(
            alice,
            [
                message("Plan", "first draft", message_id="plan@example.com"),
                message(
                    "Re: Plan",
                    "second",
                    message_id="re@example.com",
                    in_reply_to="plan@example.com",
                ),
            ],
            boxes["inbox"],
        )
        old = {
            t: alice.ok(f"{t}/get", {"ids": []})["state"] for t in ("Email", "Mailbox", "Thread")
        }
        # after the old states: more changes for /changes to report
        attached = import_emails(
            alice, [with_attachment("Figures")], projects, keywords={"$flagged": True}
        )
        import_emails(alice, [message(f"Note {n}", f"note {n}") for n in range(3)], boxes["inbox"])
        alice.ok(
            "Email/set", {"update": {first[0]: {"keywords/$seen": True}}, "destroy": [first[1]]}
        )
        alice.ok("Mailbox/set", {"update": {projects: {"name": "Projects 2024"}}})
        upload(alice, b"an upload no Email holds yet", "application/octet-stream")
        import_emails(bob, [message("For Bob", "hello bob")], mailboxes(bob)["inbox"])
        email = alice.ok("Email/get", {"ids": attached, "properties": ["attachments"]})
        attachment_blob = email["list"][0]["attachments"][0]["blobId"]
        env = clean_env()
        for args in (("domain", "add", "example.com"), ("alias", "add", "info@example.com", ALICE)):
            done = fulmar(*args, "--data-dir", str(data_dir), env=env)
            assert done.returncode == 0, done.stderr
        token = fulmar("token", "create", ALICE, "--label", "phone", "--data-dir", str(data_dir))
        assert token.returncode == 0, token.stderr
        seen = observe(alice, old)
        seen_bob = bob.ok("Email/query", {})
    finally:
        assert server.stop() is not None
    assert "Traceback" not in server.log()
    return {
        "data_dir": data_dir,
        "old": old,
        "seen": seen,
        "seen_bob": seen_bob,
        "token": token.stdout.strip(),
        "attachment_blob": attachment_blob,
        "attached": attached[0],
    }


@pytest.fixture(params=[NX27017, MONGOECO])
def mongo_base(request: pytest.FixtureRequest) -> str:
    fixture = "mongo_nx27017_url" if request.param == NX27017 else "mongo_mongoeco_url"
    return request.getfixturevalue(fixture)


def name_for(path: Path, what: str) -> str:
    return what + hashlib.sha1(str(path).encode()).hexdigest()[:12]


def migrate(data_dir: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return fulmar("migrate", "--data-dir", str(data_dir), "--to-mongodb", url, *extra)


def test_migrate_then_serve_from_mongodb_and_s3(
    deployment, mongo_base, moto_s3: S3Server, tmp_path
):
    url = db_url(mongo_base, name_for(tmp_path, "m"))
    s3 = moto_s3.url(name_for(tmp_path, "b"))
    done = migrate(deployment["data_dir"], url, "--to-s3", s3, "--all-blobs")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verification passed" in done.stdout
    assert "mongodb_url" in done.stdout and "s3_url" in done.stdout
    assert "MISMATCH" not in done.stderr
    files = {blob_id for blob_id, _ in blob_files(deployment["data_dir"])}
    client: MongoClient[Any] = MongoClient(url)
    journal = {d["_id"] for d in client.get_default_database().blob_writes.find({})}
    client.close()
    assert files and journal == files  # the new deployment's orphan sweep sees each once

    # a new node: nothing in its data directory, everything in MongoDB and S3
    node = FulmarServer(
        tmp_path / "node", free_port(), env={"FULMAR_MONGODB_URL": url, "FULMAR_S3_URL": s3}
    )
    (tmp_path / "node").mkdir()
    node.start()
    try:
        alice = node.client(ALICE)
        after = observe(alice, deployment["old"])
        before = deployment["seen"]
        for key in before:
            assert after[key] == before[key], key
        assert after["Email/changes"]["created"], "the old state has changes to tell"
        assert after["search"]["ids"] == [deployment["attached"]]
        assert node.client(BOB).ok("Email/query", {}) == deployment["seen_bob"]
        download = alice.http.get(
            f"/jmap/download/{alice.account_id}/{deployment['attachment_blob']}/f.bin"
        )
        assert download.status_code == 200 and download.content == ATTACHMENT
        bearer = alice.http.get(
            "/.well-known/jmap",
            auth=None,
            headers={"Authorization": f"Bearer {deployment['token']}"},
        )
        assert bearer.status_code == 200
        # and it goes on: a new change on the new backend follows the old states
        alice.ok("Email/set", {"update": {before["query"]["ids"][0]: {"keywords/$seen": True}}})
        changes = alice.ok("Email/changes", {"sinceState": before["Email"]["state"]})
        assert changes["updated"] == [before["query"]["ids"][0]]
    finally:
        node.stop()
    assert "Traceback" not in node.log(), node.log()
    domains = fulmar("domain", "list", env=clean_env(FULMAR_MONGODB_URL=url))
    assert "example.com" in domains.stdout, domains.stdout + domains.stderr


def test_rerun_is_a_no_op_and_tampering_fails_verification(deployment, mongo_nx27017_url, tmp_path):
    url = db_url(mongo_nx27017_url, name_for(tmp_path, "t"))
    assert migrate(deployment["data_dir"], url).returncode == 0
    again = migrate(deployment["data_dir"], url)
    assert again.returncode == 0, again.stderr
    assert "nothing to copy" in again.stdout
    assert "verification passed" in again.stdout

    async def tamper(change: Any) -> None:
        client = AsyncMongoClient(url)
        await change(client.get_default_database())
        await client.close()

    alice_account = deployment["seen"]["query"]["accountId"]

    async def drop_one_email(db: Any) -> None:
        doc = await db.objects.find_one({"type": "Email", "account_id": alice_account})
        await db.objects.delete_one({"_id": doc["_id"]})

    asyncio.run(tamper(drop_one_email))
    failed = migrate(deployment["data_dir"], url)
    assert failed.returncode == 1
    assert "MISMATCH" in failed.stderr and "5 Email in the source, 4 in the target" in failed.stderr

    async def move_a_state(db: Any) -> None:
        await db.type_state.update_one({"type": "Mailbox"}, {"$inc": {"modseq": 1}})

    asyncio.run(tamper(move_a_state))
    failed = migrate(deployment["data_dir"], url)
    assert failed.returncode == 1
    assert "Mailbox state" in failed.stderr


def test_refuses_a_target_holding_other_data(deployment, mongo_nx27017_url, tmp_path):
    url = db_url(mongo_nx27017_url, name_for(tmp_path, "o"))
    other = FulmarServer(tmp_path / "other", free_port(), env={"FULMAR_MONGODB_URL": url})
    (tmp_path / "other").mkdir()
    other.start()  # a deployment of its own, run on MongoDB
    other.stop()
    provision = fulmar(
        "account",
        "add",
        "carol@example.com",
        "--password",
        "carol-password-1",
        env=clean_env(FULMAR_MONGODB_URL=url),
    )
    assert provision.returncode == 0, provision.stderr
    refused = migrate(deployment["data_dir"], url)
    assert refused.returncode != 0
    assert "did not write" in refused.stderr and "nothing was changed" in refused.stderr

    # a target made by migrating another deployment is refused too
    second = db_url(mongo_nx27017_url, name_for(tmp_path, "s"))
    assert migrate(deployment["data_dir"], second).returncode == 0
    copy = tmp_path / "copy"
    fulmar("backup", str(copy), "--data-dir", str(deployment["data_dir"]))
    refused = migrate(copy, second)
    assert refused.returncode != 0 and "another deployment" in refused.stderr


def test_bad_arguments(deployment, tmp_path):
    bad = migrate(deployment["data_dir"], "http://127.0.0.1:1/")
    assert bad.returncode != 0 and "mongodb://" in bad.stderr
    bad = migrate(deployment["data_dir"], "mongodb://127.0.0.1:1/", "--to-s3", "ftp://x")
    assert bad.returncode != 0 and "--to-s3" in bad.stderr
    empty = migrate(tmp_path, "mongodb://127.0.0.1:1/")
    assert empty.returncode != 0 and "holds no Fulmar data" in empty.stderr


def test_kill_9_then_resume(deployment, mongo_nx27017_url, moto_s3: S3Server, tmp_path):
    url = db_url(mongo_nx27017_url, name_for(tmp_path, "k"))
    s3 = moto_s3.url(name_for(tmp_path, "kb"))
    process = subprocess.Popen(
        [
            FULMAR,
            "migrate",
            "--data-dir",
            str(deployment["data_dir"]),
            "--to-mongodb",
            url,
            "--to-s3",
            s3,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=clean_env(),
    )
    assert process.stdout is not None
    for line in process.stdout:  # killed once the accounts are being copied
        if line.startswith("accounts"):
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    resumed = migrate(deployment["data_dir"], url, "--to-s3", s3, "--all-blobs")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "verification passed" in resumed.stdout
    assert "in the bucket already" in resumed.stdout  # the blobs of the killed run were kept
    bucket = Minio(
        f"127.0.0.1:{moto_s3.port}", moto_s3.access_key, moto_s3.secret_key, secure=False
    )
    victim, _ = next(blob_files(deployment["data_dir"]))
    bucket.remove_object(name_for(tmp_path, "kb"), key_of(victim))  # tampered: a blob gone
    failed = migrate(deployment["data_dir"], url, "--to-s3", s3, "--all-blobs")
    assert failed.returncode == 1
    assert "in the bucket" in failed.stderr and f"blob {victim} is missing" in failed.stderr


class CrashAfter:
    """A reporter that stops the run (as a crash would) after ``n`` target writes."""

    def __init__(self, n: int) -> None:
        self.left = n

    def start(self, task: str, total: int | None) -> None:
        pass

    def advance(self, task: str, n: int = 1) -> None:
        if task == "written":
            self.left -= 1
            if self.left < 0:
                raise ConnectionError("crash")

    def note(self, text: str) -> None:
        pass


def test_crash_at_every_write_then_resume_copies_exactly(deployment, mongo_nx27017_url, tmp_path):
    url = db_url(mongo_nx27017_url, name_for(tmp_path, "c"))

    async def run(reporter: Any) -> Any:
        source = SqliteSource(deployment["data_dir"])
        target = MongoMailStore(url)
        await target.open()
        try:
            await Migration(source, target, None, reporter).run()
            return await verify(source, target.db, None, None)
        finally:
            await target.close()
            source.close()

    crashes = 0
    while True:  # each run gets one write further than the last before it crashes
        try:
            result = asyncio.run(run(CrashAfter(crashes)))
        except ConnectionError:
            crashes += 1
            continue
        break
    assert crashes > 5
    assert result.ok, result.mismatches
    assert result.objects["Email"] == 6


def test_writes_after_the_copy_are_detected(deployment, mongo_nx27017_url, tmp_path):
    url = db_url(mongo_nx27017_url, name_for(tmp_path, "w"))
    copy = tmp_path / "copy"
    assert fulmar("backup", str(copy), "--data-dir", str(deployment["data_dir"])).returncode == 0

    async def run(copy_first: bool) -> Any:
        source = SqliteSource(copy)
        target = MongoMailStore(url)
        await target.open()
        try:
            if copy_first:
                await Migration(source, target, None, CrashAfter(10**9)).run()
            return await verify(source, target.db, None, None)
        finally:
            await target.close()
            source.close()

    assert asyncio.run(run(True)).ok
    server = FulmarServer(copy, free_port())  # the server left running: a write after the copy
    server.start()
    server.client(ALICE).ok("Mailbox/set", {"create": {"n": {"name": "Late", "parentId": None}}})
    server.stop()
    removed = fulmar("account", "remove", BOB, "--yes", "--data-dir", str(copy))
    assert removed.returncode == 0, removed.stderr
    result = asyncio.run(run(False))
    assert not result.ok
    assert any("changed in the source after it was copied" in m for m in result.mismatches)
    assert any("Mailbox state" in m for m in result.mismatches)
    assert any("principals: 1 in the source, 2 in the target" in m for m in result.mismatches)
    again = asyncio.run(run(True))  # run again: the changed account is copied again, bob's
    assert again.ok, again.mismatches  # account, principal and grant are gone from the target
    assert again.totals["principals"] == 1
