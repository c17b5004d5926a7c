"""``fulmar backup`` while the server runs and takes writes; ``fulmar restore``; a server on
the restored data serves the same mail, accounts and keys."""

from __future__ import annotations

import stat
import threading

import httpx

from tests.conftest import FulmarServer, free_port, start_server
from tests.mail.conftest import assert_counters_exact, import_raw, mailboxes, message

from .conftest import Fulmar


def mail_by_subject(client) -> dict[str, bytes]:
    """Every Email's subject and its raw message, downloaded."""
    ids = client.ok("Email/query", {})["ids"]
    emails = client.ok("Email/get", {"ids": ids, "properties": ["subject", "blobId"]})["list"]
    raws = {}
    for email in emails:
        response = client.http.get(f"/jmap/download/{client.account_id}/{email['blobId']}/m.eml")
        assert response.status_code == 200, response.text
        raws[email["subject"]] = response.content
    return raws


class Writer(threading.Thread):
    """Imports one message after another until told to stop."""

    def __init__(self, server: FulmarServer) -> None:
        super().__init__(daemon=True)
        self.client = server.client("alice@example.com")
        self.inbox = mailboxes(self.client)["inbox"]
        self.written: list[str] = []
        self.first = threading.Event()
        self.stop = threading.Event()

    def write(self, subject: str) -> None:
        import_raw(self.client, [message(subject, body=f"body of {subject}")], self.inbox)
        self.written.append(subject)

    def run(self) -> None:
        for n in range(2000):  # bounded; stops much sooner
            if self.stop.is_set():
                return
            self.write(f"during {n}")
            self.first.set()


def test_backup_of_a_live_server_restores_into_a_working_server(tmp_path):
    server = start_server(tmp_path / "live")
    alice = server.client("alice@example.com")
    inbox = mailboxes(alice)["inbox"]
    import_raw(alice, [message(f"before {n}", body=f"body {n}") for n in range(20)], inbox)
    vapid = httpx.get(f"{server.url}/jmap/push/vapid-key").content
    live = Fulmar(server.data_dir)
    token = live.ok("token", "create", "alice@example.com").strip()
    dest = tmp_path / "backups" / "monday"
    writer = Writer(server)
    try:
        writer.start()
        assert writer.first.wait(60), "the writer wrote"
        out = live.ok("backup", str(dest))
        written_before_it_ended = len(writer.written)
        writer.stop.set()
        writer.join(60)
        writer.write("after the backup")
        assert "backed up" in out and "vapid.pem" in out
        # a live data directory is not overwritten
        refused = live.fails("restore", str(dest))
        assert "holds data already" in refused and "--force" in refused
        originals = mail_by_subject(alice)
    finally:
        writer.stop.set()
        server.stop()
    assert "Traceback" not in server.log()
    modes = {stat.S_IMODE(p.stat().st_mode) for p in [dest, *dest.rglob("*")]}
    assert modes <= {0o700, 0o600}, "the backup is private too"

    restored_dir = tmp_path / "restored"
    out = Fulmar(restored_dir).ok("restore", str(dest))
    assert "restored" in out
    restored = FulmarServer(restored_dir, free_port())
    restored.start()
    try:
        again = restored.client("alice@example.com")  # the password hash came along
        back = mail_by_subject(again)
        # everything written before the backup began, nothing written after it ended
        assert {f"before {n}" for n in range(20)} | {"during 0"} <= set(back)
        assert "after the backup" not in back
        during = {s for s in back if s.startswith("during ")}
        assert during <= set(writer.written[:written_before_it_ended])
        # the same bytes, every blob the database holds is there
        assert {s: originals[s] for s in back} == back
        assert_counters_exact(again)
        bearer = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{restored.url}/.well-known/jmap", headers=bearer).status_code == 200
        assert httpx.get(f"{restored.url}/jmap/push/vapid-key").content == vapid
    finally:
        restored.stop()
    assert "Traceback" not in restored.log()


def test_backup_and_restore_refusals(fulmar, tmp_path):
    full = tmp_path / "full"
    (full / "something").mkdir(parents=True)
    assert "not an empty folder" in fulmar.fails("backup", str(full))
    assert "inside the data directory" in fulmar.fails("backup", str(fulmar.data_dir / "bk"))
    assert "not a Fulmar backup" in fulmar.fails("restore", str(full))
    assert "holds no Fulmar data" in Fulmar(tmp_path / "typo").fails("backup", str(tmp_path / "b"))


def test_restore_with_force_puts_the_current_data_aside(fulmar, tmp_path):
    fulmar.ok("account", "add", "alice@example.com", "--password", "correct horse")
    fulmar.ok("backup", str(tmp_path / "bk"))
    fulmar.ok("account", "add", "bob@example.com", "--password", "correct horse")
    result = fulmar.run("restore", str(tmp_path / "bk"), "--force")
    assert result.returncode == 0, result.stderr
    (aside,) = [p for p in tmp_path.iterdir() if p.name.startswith("data.before-restore-")]
    assert str(aside) in result.stderr
    listed = fulmar.ok("account", "list")
    assert "alice@example.com" in listed and "bob@example.com" not in listed
    assert "bob@example.com" in Fulmar(aside).ok("account", "list")
