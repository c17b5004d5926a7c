"""What every benchmark needs: a server of its own, users, and percentile reports."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import FulmarServer, create_accounts, free_port


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(name: str, samples_ms: list[float], elapsed_s: float) -> str:
    """One line: count, rate, median and p99 latency."""
    median = statistics.median(samples_ms)
    p99 = percentile(samples_ms, 0.99)
    rate = len(samples_ms) / elapsed_s
    count = len(samples_ms)
    return f"{name:<50} n={count:>6}  {rate:>8.0f}/s  median {median:6.2f} ms  p99 {p99:6.2f} ms"


@contextmanager
def bench_server(users: dict[str, str], config: str = "") -> Iterator[FulmarServer]:
    """A server with embedded storage in a temporary directory, with ``users`` created."""
    with tempfile.TemporaryDirectory(prefix="fulmar-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        create_accounts(data_dir, users)
        extra = []
        if config:
            config_path = Path(tmp) / "bench.toml"
            config_path.write_text(config)
            extra = ["--config", str(config_path)]
        server = FulmarServer(data_dir, free_port(), extra_args=extra)
        server.start()
        try:
            yield server
        finally:
            server.stop()


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start
