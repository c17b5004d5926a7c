"""``fulmar import``: what is not mail is refused; .eml, .gz/.xz, --mailbox, role names."""

from __future__ import annotations

import gzip
import lzma

import pytest

from jmap.store.base import DataStore

PASSWORD = "correct horse"
ALICE = "alice@example.com"


def message(subject: str) -> bytes:
    return (
        f"From: Ann <ann@example.com>\nTo: {ALICE}\nSubject: {subject}\n"
        f"Date: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <{subject.replace(' ', '.')}@x>\n"
        "\nHello.\n"
    ).encode()


def mbox(*subjects: str) -> bytes:
    return b"".join(
        b"From ann@example.com Mon Jan  1 00:00:00 2024\n" + message(s) + b"\n" for s in subjects
    )


@pytest.fixture
def alice(fulmar):
    fulmar.ok("account", "add", ALICE, "--password", PASSWORD)
    return fulmar


def placed(fulmar) -> tuple[dict[str, str], dict[str, list[str]]]:
    """(mailbox path -> role, subjects by mailbox path) as stored."""

    async def look(data: DataStore):
        principal = await data.principal_by_login(ALICE)
        assert principal is not None
        (account,) = await data.accounts_for(principal.id)
        _, boxes = await data.get(account.id, "Mailbox", None)
        _, emails = await data.get(account.id, "Email", None)
        return boxes, emails

    boxes, emails = fulmar.store(look)
    by_id = {m["id"]: m for m in boxes}

    def path(box: dict) -> str:
        parent = by_id.get(box["parentId"])
        return f"{path(parent)}/{box['name']}" if parent else box["name"]

    roles = {path(m): m["role"] for m in boxes}
    subjects: dict[str, list[str]] = {}
    for email in emails:
        for box_id in email["mailboxIds"]:
            subjects.setdefault(path(by_id[box_id]), []).append(email["subject"])
    return roles, {k: sorted(v) for k, v in subjects.items()}


STANDARD = {
    "Inbox": "inbox",
    "Drafts": "drafts",
    "Sent": "sent",
    "Archive": "archive",
    "Junk": "junk",
    "Trash": "trash",
}


def test_what_is_not_mail_is_refused_and_nothing_is_imported(alice, tmp_path):
    good = tmp_path / "inbox.mbox"
    good.write_bytes(mbox("fine"))
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/bin/sh\n")
    binary = tmp_path / "photo.jpg"
    binary.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4)
    folder = tmp_path / "Documents"
    folder.mkdir()
    (folder / "notes.txt").write_text("not mail\n")
    packed_text = tmp_path / "notes.gz"
    packed_text.write_bytes(gzip.compress(b"just some notes\nno mail here\n"))
    broken = tmp_path / "broken.mbox.gz"
    broken.write_bytes(gzip.compress(mbox("lost"))[:40])
    for bad, why in (
        (passwd, "not an mbox file"),
        (binary, "binary"),
        (folder, "not a Maildir"),
        (packed_text, "not an mbox file"),
        (broken, "damaged"),
    ):
        error = alice.fails("import", ALICE, str(good), str(bad))
        assert str(bad) in error and why in error, error
        assert str(good) not in error
    # all at once: each is named, in one line
    error = alice.fails("import", ALICE, str(passwd), str(binary), str(folder))
    assert all(str(p) in error for p in (passwd, binary, folder))
    assert placed(alice) == (STANDARD, {}), "nothing was imported"


def test_single_messages_compressed_mboxes_and_role_names(alice, tmp_path):
    eml = tmp_path / "note.eml"
    eml.write_bytes(message("single"))
    crlf = tmp_path / "windows.eml"
    crlf.write_bytes(message("crlf").replace(b"\n", b"\r\n"))
    saved = tmp_path / "saved.EML"  # saved from a mail program, with an mbox "From " line
    saved.write_bytes(mbox("saved"))
    inbox = tmp_path / "inbox.mbox.gz"
    inbox.write_bytes(gzip.compress(mbox("gz one", "gz two")))
    archive = tmp_path / "archive.mbox.xz"
    archive.write_bytes(lzma.compress(mbox("xz old")))
    sent = tmp_path / "SENT.mbox"
    sent.write_bytes(mbox("sent one"))
    out = alice.ok("import", ALICE, *map(str, (eml, crlf, saved, inbox, archive, sent)))
    assert "imported 7, already there 0, unreadable 0" in out
    roles, subjects = placed(alice)
    assert roles == STANDARD, "no second 'archive' beside Archive, no 'SENT' beside Sent"
    assert subjects == {
        "Inbox": ["crlf", "gz one", "gz two", "saved", "single"],
        "Archive": ["xz old"],
        "Sent": ["sent one"],
    }
    again = alice.ok("import", ALICE, str(eml), str(inbox))
    assert "imported 0, already there 3" in again


def test_mailbox_option_chooses_the_target(alice, tmp_path):
    maildir = tmp_path / "Maildir"
    for folder in ("", ".Work"):
        for sub in ("cur", "new", "tmp"):
            (maildir / folder / sub).mkdir(parents=True, exist_ok=True)
    (maildir / "new" / "1.host").write_bytes(message("top"))
    (maildir / ".Work" / "cur" / "2.host:2,S").write_bytes(message("work"))
    other = tmp_path / "other.mbox"
    other.write_bytes(mbox("other"))
    alice.ok("import", ALICE, str(maildir), str(other), "--mailbox", "Old/2023")
    eml = tmp_path / "x.eml"
    eml.write_bytes(message("to the archive"))
    alice.ok("import", ALICE, str(eml), "--mailbox", "archive")
    roles, subjects = placed(alice)
    assert roles == {**STANDARD, "Old": None, "Old/2023": None, "Old/2023/Work": None}
    assert subjects == {
        "Old/2023": ["other", "top"],
        "Old/2023/Work": ["work"],
        "Archive": ["to the archive"],
    }
    assert "mailbox" in alice.fails("import", ALICE, str(eml), "--mailbox", " / ")


def test_an_account_without_an_inbox_role(alice, tmp_path):
    """A user may take the inbox role away (RFC 8621 §2: role is mutable): mail still goes
    to the mailbox named Inbox, which is made when there is none."""

    async def change_inbox(data: DataStore, **changes: object) -> None:
        principal = await data.principal_by_login(ALICE)
        assert principal is not None
        (account,) = await data.accounts_for(principal.id)
        async with data.transaction(account.id) as tx:
            (inbox,) = [m for m in await tx.all("Mailbox") if m["name"] == "Inbox"]
            await tx.update("Mailbox", {**inbox, **changes}, set(changes))

    eml = tmp_path / "a.eml"
    eml.write_bytes(message("first"))
    alice.store(lambda data: change_inbox(data, role=None))
    assert "imported 1" in alice.ok("import", ALICE, str(eml))
    roles, subjects = placed(alice)
    assert roles == {**STANDARD, "Inbox": None}
    assert subjects == {"Inbox": ["first"]}
    # no mailbox is called Inbox any more either: one is made
    alice.store(lambda data: change_inbox(data, name="Old inbox"))
    eml.write_bytes(message("second"))
    assert "imported 1" in alice.ok("import", ALICE, str(eml))
    roles, subjects = placed(alice)
    assert roles["Inbox"] is None and roles["Old inbox"] is None
    assert subjects == {"Old inbox": ["first"], "Inbox": ["second"]}
