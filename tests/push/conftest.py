"""Fixtures of the push tests: a real Fulmar server and a real redis-server.

Everything listens on 127.0.0.1 only, on free ports, and every process started here is
stopped here.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.push.pushkit import REDIS_SERVER, TEST_CONFIG, Node, free_port, provision


@dataclass
class PushServer:
    node: Node
    tokens: dict[str, str]


@pytest.fixture(scope="session")
def push_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PushServer]:
    """One server with the test settings, shared by the push tests."""
    data_dir = tmp_path_factory.mktemp("push")
    tokens = provision(data_dir)
    config = data_dir / "fulmar.toml"
    config.write_text(TEST_CONFIG)
    node = Node(data_dir, config)
    node.start()
    yield PushServer(node, tokens)
    node.stop()
    assert "Traceback" not in node.log(), node.log()


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if not os.path.exists(REDIS_SERVER):
        pytest.fail("redis-server is not installed (make test-servers installs it)")
    work = tmp_path_factory.mktemp("redis")
    port = free_port()
    args = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    args += ["--appendonly", "no", "--dir", str(work), "--protected-mode", "yes"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    try:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield RedisServer(port, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
