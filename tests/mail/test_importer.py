"""``fulmar import``: mbox and Maildir into an account, re-runnable, unreadable ones reported."""

from __future__ import annotations

import subprocess

from tests.conftest import FULMAR, USERS, FulmarServer, backend_env, create_accounts, free_port

from .conftest import assert_counters_exact, mailboxes, message


def run_import(data_dir, *paths):
    return subprocess.run(
        [FULMAR, "import", "alice@example.com", *map(str, paths), "--data-dir", str(data_dir)],
        env=backend_env(data_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_import_mbox_and_maildir(tmp_path):
    data_dir = tmp_path / "d"
    data_dir.mkdir()
    create_accounts(data_dir, USERS)
    mbox = tmp_path / "inbox.mbox"
    mbox.write_bytes(
        b"".join(
            b"From sender@example.com Mon Jan  1 00:00:00 2024\n"
            + message(f"mbox {n}", message_id=f"mbox{n}@x").replace(b"\r\n", b"\n")
            + b"\n"
            for n in range(3)
        )
    )
    maildir = tmp_path / "Maildir"
    for folder in ("", ".Work.Projects"):
        for sub in ("cur", "new", "tmp"):
            (maildir / folder / sub).mkdir(parents=True, exist_ok=True)
    (maildir / "new" / "1.host").write_bytes(message("new one", message_id="n1@x"))
    (maildir / "cur" / "2.host:2,SF").write_bytes(message("seen flagged", message_id="n2@x"))
    (maildir / ".Work.Projects" / "cur" / "3.host:2,R").write_bytes(
        message("project", message_id="n3@x")
    )
    (maildir / "cur" / "4.host:2,S").write_bytes(b"")  # unreadable: empty

    first = run_import(data_dir, mbox, maildir)
    assert first.returncode == 0, first.stderr
    assert "imported 6, already there 0, unreadable 1" in first.stdout
    assert "4.host" in first.stderr
    again = run_import(data_dir, mbox, maildir)
    assert "imported 0, already there 6, unreadable 1" in again.stdout

    server = FulmarServer(data_dir, free_port())
    server.start()
    try:
        alice = server.client("alice@example.com")
        boxes = mailboxes(alice)
        assert {"Work", "Projects"} <= set(boxes)
        (projects,) = alice.ok("Mailbox/get", {"ids": [boxes["Projects"]]})["list"]
        assert projects["parentId"] == boxes["Work"] and projects["totalEmails"] == 1
        ids = alice.ok("Email/query", {"filter": {"inMailbox": boxes["inbox"]}})["ids"]
        emails = alice.ok("Email/get", {"ids": ids, "properties": ["subject", "keywords"]})["list"]
        by_subject = {e["subject"]: e["keywords"] for e in emails}
        assert by_subject == {
            "mbox 0": {},
            "mbox 1": {},
            "mbox 2": {},
            "new one": {},
            "seen flagged": {"$seen": True, "$flagged": True},
        }
        assert_counters_exact(alice)
    finally:
        server.stop()
    assert "Traceback" not in server.log()


def test_import_unknown_address(tmp_path):
    data_dir = tmp_path / "d"
    data_dir.mkdir()
    create_accounts(data_dir, USERS)
    mbox = tmp_path / "x.mbox"
    mbox.write_bytes(b"")
    result = subprocess.run(
        [FULMAR, "import", "nobody@example.com", str(mbox), "--data-dir", str(data_dir)],
        env=backend_env(data_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "nobody@example.com" in result.stderr
