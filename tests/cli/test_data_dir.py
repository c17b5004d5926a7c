"""The data directory: only ``serve`` creates one, and everything in it is private."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import httpx

from tests.conftest import FulmarServer, free_port

from .conftest import Fulmar

PASSWORD = "correct horse"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def commands(mbox: Path) -> list[tuple[str, ...]]:
    """Every command that works on an existing data directory."""
    alice = "alice@example.com"
    return [
        ("account", "add", alice, "--password", PASSWORD),
        ("account", "list"),
        ("account", "passwd", alice, "--password", PASSWORD),
        ("account", "remove", alice, "--yes"),
        ("account", "share", alice, "--with", "bob@example.com"),
        ("token", "create", alice),
        ("token", "revoke", "fmt_whatever"),
        ("import", alice, str(mbox)),
    ]


def test_commands_refuse_a_folder_without_fulmar_data(tmp_path):
    """A mistyped --data-dir or FULMAR_DATA_DIR must not start a new, empty database."""
    mbox = tmp_path / "inbox.mbox"
    mbox.write_bytes(b"From a@example.com Mon Jan  1 00:00:00 2024\nSubject: x\n\nhi\n")
    typo = tmp_path / "dta"
    empty = tmp_path / "empty"
    empty.mkdir()
    for where in (typo, empty):
        fulmar = Fulmar(where)
        for args in commands(mbox):
            message = fulmar.fails(*args)
            assert "holds no Fulmar data" in message and str(where) in message, args
        env = {"FULMAR_DATA_DIR": str(where)}
        message = fulmar.fails("account", "list", env=env, data_dir=False)
        assert "holds no Fulmar data" in message
    assert not typo.exists(), "nothing was created"
    assert list(empty.iterdir()) == [], "nothing was written"


def test_serve_creates_a_private_data_directory_and_says_so(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    data_dir = tmp_path / "srv" / "data"
    # the last --data-dir wins: the server's log stays outside the data directory
    server = FulmarServer(logs, free_port(), extra_args=["--data-dir", str(data_dir)])
    server.start()
    try:
        log = server.log()
        assert f"Creating a new data directory: {data_dir}" in log
        address = re.search(r"address: +(\S+)", log)
        password = re.search(r"password: +(\S+)", log)
        assert address and password, log
        auth = (address.group(1), password.group(1))
        session = httpx.get(f"{server.url}/.well-known/jmap", auth=auth).json()
        account_id = next(iter(session["accounts"]))
        upload = httpx.post(
            f"{server.url}/jmap/upload/{account_id}/",
            content=b"private bytes",
            auth=auth,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert upload.status_code == 201, upload.text
        blob = upload.json()["blobId"]
        # everything Fulmar wrote, while it runs (the -wal and -shm exist only then)
        folders = [data_dir, data_dir / "blobs", data_dir / "blobs" / "tmp"]
        folders += [data_dir / "blobs" / blob[1:3], data_dir / "blobs" / blob[1:3] / blob[3:5]]
        files = [data_dir / name for name in ("fulmar.db", "fulmar.db-wal", "fulmar.db-shm")]
        files += [data_dir / "vapid.pem", folders[-1] / blob[1:]]
        assert {str(p): oct(mode(p)) for p in folders} == {str(p): "0o700" for p in folders}
        assert {str(p): oct(mode(p)) for p in files} == {str(p): "0o600" for p in files}
    finally:
        server.stop()
    assert "Traceback" not in server.log()
    # a second start finds its data and says nothing of creating
    assert address.group(1) in Fulmar(data_dir).ok("account", "list")


def test_an_existing_data_directory_is_made_private(fulmar):
    """Data directories made before (world-readable) are fixed when opened."""
    fulmar.ok("account", "add", "alice@example.com", "--password", PASSWORD)
    database = fulmar.data_dir / "fulmar.db"
    fulmar.data_dir.chmod(0o755)
    database.chmod(0o644)
    fulmar.ok("account", "list")
    assert (oct(mode(fulmar.data_dir)), oct(mode(database))) == ("0o700", "0o600")
