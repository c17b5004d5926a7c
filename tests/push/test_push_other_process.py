"""Writes by another process on the same data directory reach push clients promptly
(issue 7.23): the server watches the database's write-ahead log instead of waiting for its
periodic poll.

The poll is set to an hour here, so only the watcher can deliver in time; the timeouts are
generous overall limits, not measurements.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.push.pushkit import FULMAR, JmapSocket, Node, basic, provision

ALICE = "alice@example.com"
MBOX = b"""From sender@example.com Mon Jan  1 00:00:00 2024
From: Sender <sender@example.com>
To: alice@example.com
Subject: Imported while you watch
Message-ID: <imported-while-watching@example.com>
Date: Mon, 1 Jan 2024 00:00:00 +0000

Hello from another process.
"""


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    provision(tmp_path, (ALICE,))
    config = tmp_path / "fulmar.toml"
    config.write_text("push_poll_seconds = 3600\n")
    node = Node(tmp_path, config)
    node.start()
    yield node
    node.stop()
    assert "Traceback" not in node.log(), node.log()


def fulmar_import(node: Node, tmp_path: Path) -> None:
    """The real ``fulmar import`` executable: a separate process, no bus to the server."""
    mbox = tmp_path / "in.mbox"
    mbox.write_bytes(MBOX)
    subprocess.run(
        [FULMAR, "import", ALICE, str(mbox), "--data-dir", str(node.data_dir)],
        check=True,
        capture_output=True,
        timeout=120,
    )


def test_import_by_another_process_reaches_a_websocket_client(node, tmp_path):
    async def run() -> dict:
        async with await JmapSocket.open(node, ALICE) as ws:
            await ws.enable_push(["Email"])
            await asyncio.to_thread(fulmar_import, node, tmp_path)
            return await ws.next_type("StateChange", timeout=30)

    change = asyncio.run(run())
    account_id = node.client(ALICE).account_id
    assert "Email" in change["changed"][account_id]


def test_import_by_another_process_reaches_an_eventsource_client(node, tmp_path):
    account_id = node.client(ALICE).account_id

    async def run() -> str:
        headers = {"Authorization": basic(ALICE)}
        url = f"{node.url}/jmap/eventsource/?types=Email&closeafter=state&ping=0"
        async with (
            httpx.AsyncClient(timeout=30) as http,
            http.stream("GET", url, headers=headers) as stream,
        ):
            assert stream.status_code == 200
            lines = stream.aiter_lines()
            assert await anext(lines) == ": ready"
            await asyncio.to_thread(fulmar_import, node, tmp_path)
            async with asyncio.timeout(30):
                return "\n".join([line async for line in lines])

    body = asyncio.run(run())
    assert "event: state" in body and account_id in body and "Email" in body
