"""``fulmar serve --roles`` on the embedded backends (one SQLite data directory shared by
the nodes' processes): each node starts only what its roles say."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from collections import Counter

import aiosmtplib
import httpx
import pytest

from tests.conftest import Client, FulmarServer, free_port
from tests.mongo.servers import sqlite_only
from tests.push.pushkit import PASSWORD, provision
from tests.smtp.smtpkit import ALICE, TEST_CONFIG, emails, message, run, wait_until

pytestmark = sqlite_only


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


async def _send(port: int, raw: bytes) -> None:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False) as client:
        await client.sendmail("someone@remote.example", [ALICE], raw)


@pytest.fixture
def folder(tmp_path):
    provision(tmp_path, (ALICE,))
    (tmp_path / "fulmar.toml").write_text(TEST_CONFIG)
    return tmp_path


def node(folder, *args: str) -> FulmarServer:
    return FulmarServer(folder, free_port(), ["--config", str(folder / "fulmar.toml"), *args])


def test_mail_waits_in_the_queue_for_a_worker_node(folder):
    ignored_smtp, smtp_port = free_port(), free_port()
    api = node(folder, "--roles", "api", "--smtp-listen", f"127.0.0.1:{ignored_smtp}")
    smtp = node(folder, "--roles", "smtp", "--smtp-listen", f"127.0.0.1:{smtp_port}")
    worker = node(folder, "--roles", "worker")
    servers = [api, smtp]
    try:
        api.start()
        smtp.start()
        assert _refused(ignored_smtp)  # an API node takes no SMTP port, even when given one
        alice = Client(api, ALICE, PASSWORD)
        assert alice.session["primaryAccounts"]
        run(_send(smtp_port, message("waiting for a worker")))
        # accepted means queued: no node running so far delivers it
        assert _pending(folder) == 1
        assert not [e for e in emails(alice) if e["subject"] == "waiting for a worker"]
        worker.start()
        servers.append(worker)
        wait_until(lambda: [e for e in emails(alice) if e["subject"] == "waiting for a worker"])
        wait_until(lambda: _pending(folder) == 0)
    finally:
        for server in servers:
            server.stop()
    for server in servers:
        assert "Traceback" not in server.log(), server.log()


def test_two_worker_nodes_deliver_each_message_once(folder):
    """Two worker processes race for every job of the shared queue (SQLite's own locking
    and the account's modseq guard across processes: no emulator involved)."""
    smtp_port = free_port()
    api = node(folder, "--roles", "api")
    smtp = node(folder, "--roles", "smtp", "--smtp-listen", f"127.0.0.1:{smtp_port}")
    workers = [node(folder, "--roles", "worker") for _ in range(2)]
    servers = [api, smtp, *workers]
    subjects = [f"once {n}" for n in range(12)]

    async def send_all() -> None:
        await asyncio.gather(*(_send(smtp_port, message(s)) for s in subjects))

    started = []
    try:
        for server in servers:
            server.start()
            started.append(server)
        run(send_all())
        wait_until(lambda: _pending(folder) == 0, timeout=120)
        alice = Client(api, ALICE, PASSWORD)
        counts = Counter(e["subject"] for e in emails(alice))
        assert {s: counts[s] for s in subjects} == dict.fromkeys(subjects, 1)
    finally:
        for server in started:
            server.stop()
    for server in started:
        assert "Traceback" not in server.log(), server.log()


def test_a_worker_node_answers_probes_and_404_for_jmap(folder):
    worker = node(folder, "--roles", "worker")
    worker.start()
    try:
        assert httpx.get(f"{worker.url}/healthz").json()["status"] == "ok"
        response = httpx.get(f"{worker.url}/.well-known/jmap", auth=(ALICE, PASSWORD))
        assert response.status_code == 404
        assert response.json()["detail"] == "This node serves no JMAP API (its roles: worker)."
        # a WebSocket upgrade is refused, not served
        with socket.create_connection(("127.0.0.1", worker.port), timeout=10) as sock:
            sock.sendall(
                b"GET /jmap/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                b"Sec-WebSocket-Protocol: jmap\r\n\r\n"
            )
            status = sock.recv(100).split(b"\r\n")[0]
        assert b" 101 " not in status and status.startswith(b"HTTP/1.1 4"), status
    finally:
        worker.stop()
    assert "Traceback" not in worker.log(), worker.log()


def _pending(folder) -> int:
    with sqlite3.connect(f"file:{folder / 'fulmar.db'}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT count(*) FROM jobs WHERE queue = 'inbound'").fetchone()[0]
