"""Servers the tests run as processes of their own on 127.0.0.1: a free port, a log file,
waiting until the port answers (or the process dies), and stopping."""

from __future__ import annotations

import itertools
import os
import random
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: ports for the servers tests start: below the kernel's ephemeral range (32768-60999 on
#: Linux, where ``bind(0)`` and outgoing connections take theirs), split into one slice per
#: pytest-xdist worker, so that no two test processes pick one port between choosing it
#: and binding it (``bind(0)``, released and bound again later, let them)
PORTS = range(10000, 32000)


def _port_slice() -> range:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    number = int(worker[2:]) if worker[2:].isdigit() else 0
    count = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    size = len(PORTS) // count
    return PORTS[number * size : (number + 1) * size]


_slice = _port_slice()
#: where this process starts in its slice: another session on the machine starts elsewhere
_next_port = itertools.count(random.Random(os.getpid()).randrange(len(_slice)))


def free_port() -> int:
    """A port of this process's slice that nothing is bound to now."""
    for _ in range(len(_slice)):
        port = _slice[next(_next_port) % len(_slice)]
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {_slice}")


def wait_for_port(
    port: int, timeout: float, name: str, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Return once 127.0.0.1:``port`` accepts a connection; raise if ``process`` (when this
    process started the server) exits first, or when the timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{name} exited")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{name} does not accept connections on 127.0.0.1:{port}")


@dataclass
class ServerProcess:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, timeout: float = 60) -> None:
        try:
            wait_for_port(self.port, timeout, self.name, self.process)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}:\n{self.log()[-4000:]}") from None

    def stop(self, timeout: float = 15) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def spawn(command: list[str], log_path: Path, **popen: Any) -> subprocess.Popen[bytes]:
    """Start ``command`` with its output (both streams) going to ``log_path``."""
    with log_path.open("wb") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, **popen)
