"""``limits.max_size_email``: Email/import and Email/set create answer ``tooLarge``;
``fulmar import`` leaves such messages out and reports them."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import FULMAR, start_server

from .conftest import mailboxes, message, upload

LIMIT = 2000


@pytest.fixture
def limited(tmp_path):
    config = tmp_path / "fulmar.toml"
    config.write_text(f"[limits]\nmax_size_email = {LIMIT}\n")
    server = start_server(tmp_path / "d", extra_args=["--config", str(config)])
    yield server, config
    server.stop()
    assert "Traceback" not in server.log(), server.log()


def _sized(size: int, n: int) -> bytes:
    raw = message(f"sized {n}", "", message_id=f"sized{n}@x")
    return raw + b"x" * (size - len(raw))


def test_import_and_create_refuse_large_messages(limited):
    server, _ = limited
    alice = server.client("alice@example.com")
    inbox = mailboxes(alice)["inbox"]
    emails = {
        name: {"blobId": upload(alice, _sized(size, n)), "mailboxIds": {inbox: True}}
        for n, (name, size) in enumerate([("fits", LIMIT), ("over", LIMIT + 1)])
    }
    result = alice.ok("Email/import", {"emails": emails})
    assert set(result["created"]) == {"fits"}
    assert result["notCreated"]["over"]["type"] == "tooLarge"
    assert result["notCreated"]["over"]["maxSize"] == LIMIT

    def create(body: str) -> dict:
        email = {
            "mailboxIds": {inbox: True},
            "subject": "made here",
            "bodyStructure": {"partId": "1", "type": "text/plain"},
            "bodyValues": {"1": {"value": body}},
        }
        return alice.ok("Email/set", {"create": {"c": email}})

    assert "c" in create("short")["created"]
    refused = create("y" * LIMIT)
    assert refused["created"] is None or "c" not in refused["created"]
    assert refused["notCreated"]["c"]["type"] == "tooLarge"
    assert alice.ok("Email/query", {"calculateTotal": True})["total"] == 2


def test_cli_import_skips_large_messages(limited, tmp_path):
    server, config = limited
    server.stop()
    mbox = tmp_path / "inbox.mbox"
    mbox.write_bytes(
        b"".join(
            b"From sender@example.com Mon Jan  1 00:00:00 2024\n"
            + _sized(size, n).replace(b"\r\n", b"\n")
            + b"\n"
            for n, size in enumerate([500, LIMIT * 3, 600])
        )
    )
    args = ["import", "alice@example.com", str(mbox), "--data-dir", str(server.data_dir)]
    result = subprocess.run(
        [FULMAR, *args, "--config", str(config)],
        env=server.process_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "imported 2, already there 0, unreadable 0, too large 1" in result.stdout
    assert "inbox.mbox#1" in result.stderr
    server.start()
    alice = server.client("alice@example.com")
    subjects = alice.ok(
        "Email/get",
        {"ids": alice.ok("Email/query", {})["ids"], "properties": ["subject"]},
    )["list"]
    assert sorted(s["subject"] for s in subjects) == ["sized 0", "sized 2"]
