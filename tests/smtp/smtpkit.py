"""Helpers of the SMTP tests: a real ``fulmar serve`` with its SMTP listener on a free
127.0.0.1 port, JMAP clients, raw SMTP sockets and test messages."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from tests.conftest import Client, FulmarServer, free_port
from tests.push.pushkit import PASSWORD, JmapSocket, provision

ALICE, BOB, JORG = "alice@example.com", "bob@example.com", "jörg@example.com"
CAROL = "carol@other.example"
USERS = (ALICE, BOB, JORG, CAROL)
HOSTNAME = "mx.example.com"

#: small limits so the tests can pass them quickly
TEST_CONFIG = f"""
smtp_hostname = "{HOSTNAME}"
dns_offline = true                  # tests never touch the network
worker_processes = 1
push_poll_seconds = 0.5

[limits]
max_size_email = 200000
"""


@dataclass
class SmtpServer:
    data_dir: Path
    config: str = TEST_CONFIG
    smtp_port: int = field(default_factory=free_port)
    http: FulmarServer | None = None

    def start(self) -> None:
        path = self.data_dir / "fulmar.toml"
        path.write_text(self.config)
        if self.http is None:
            self.http = FulmarServer(
                self.data_dir,
                free_port(),
                extra_args=["--config", str(path), "--smtp-listen", f"127.0.0.1:{self.smtp_port}"],
            )
        self.http.start()

    def stop(self) -> None:
        assert self.http is not None
        self.http.stop()

    def kill(self) -> None:
        """SIGKILL: no shutdown of any kind."""
        assert self.http is not None and self.http.process is not None
        os.kill(self.http.process.pid, signal.SIGKILL)
        self.http.process.wait()
        self.http.process = None

    def log(self) -> str:
        return self.http.log() if self.http else ""

    @property
    def ws_url(self) -> str:
        assert self.http is not None
        return f"ws://127.0.0.1:{self.http.port}/jmap/ws"

    def client(self, login: str) -> Client:
        assert self.http is not None
        return Client(self.http, login, PASSWORD)

    def socket(self, login: str = ALICE) -> Any:
        return JmapSocket.open(self, login)

    def pending_jobs(self) -> int:
        """Jobs left in the queue (read straight from the database, read-only)."""
        uri = f"file:{self.data_dir / 'fulmar.db'}?mode=ro"
        with sqlite3.connect(uri, uri=True) as conn:
            return conn.execute("SELECT count(*) FROM jobs").fetchone()[0]


def start_smtp_server(data_dir: Path, config: str = TEST_CONFIG, users=USERS) -> SmtpServer:
    provision(data_dir, users)
    server = SmtpServer(data_dir, config)
    server.start()
    return server


def message(
    subject: str,
    to: str = ALICE,
    sender: str = "someone@remote.example",
    body: str = "Hello there.\r\n",
    message_id: str | None = None,
    extra: str = "",
) -> bytes:
    message_id = message_id or make_msgid(domain="remote.example")
    text = (
        f"From: Someone <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: {message_id}\r\nDate: Wed, 02 Dec 2026 10:00:00 +0000\r\n{extra}"
        f"\r\n{body}"
    )
    return text.encode()


def emails(client: Client, properties: list[str] | None = None) -> list[dict[str, Any]]:
    """Every Email of the client's account (newest first)."""
    props = properties or ["subject", "mailboxIds", "messageId", "keywords", "blobId"]
    account = client.account_id
    response = client.request(
        [
            ["Email/query", {"accountId": account, "limit": 1000}, "q"],
            [
                "Email/get",
                {
                    "accountId": account,
                    "#ids": {"resultOf": "q", "name": "Email/query", "path": "/ids"},
                    "properties": props,
                },
                "g",
            ],
        ]
    )
    assert response.status_code == 200, response.text
    return response.json()["methodResponses"][1][1]["list"]


def mailbox_roles(client: Client) -> dict[str, str | None]:
    """Mailbox id -> role."""
    _, result = client.call("Mailbox/get", {"accountId": client.account_id})
    return {m["id"]: m["role"] for m in result["list"]}


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Poll until ``predicate()`` is truthy (liveness by ordering: the bound only stops a
    broken run from hanging)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true")
        time.sleep(0.05)


class RawSmtp:
    """A plain socket speaking SMTP line by line (for what real clients never send)."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> str:
        """One reply line (without CRLF); "" at end of stream."""
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                rest, self.buffer = self.buffer, b""
                return rest.decode("utf-8", "replace")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line.decode("utf-8", "replace")

    def reply(self) -> list[str]:
        """One whole (possibly multi-line) reply."""
        lines = [self.line()]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self.line())
        return lines

    def command(self, line: str | bytes) -> list[str]:
        self.send((line.encode() if isinstance(line, str) else line) + b"\r\n")
        return self.reply()

    def eof(self) -> bool:
        """True once the server has closed the connection (after any pending lines)."""
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, TimeoutError):
            return False


def run(coro: Any) -> Any:
    return asyncio.run(coro)
