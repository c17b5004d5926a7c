"""SMTP inbound benchmark: python -m bench.smtp [--seconds S] [--clients N] [--users U].

Starts a Fulmar server with its SMTP listener on 127.0.0.1 and reports:

* sustained inbound rate: N concurrent aiosmtplib clients, each on one connection sending
  small messages back to back for S seconds; a message counts once it got its 250 (so it
  is on disk with its delivery job), spread over U accounts; then how long the queue took
  to drain (delivered into the mailboxes);
* latency from the 250 at the end of DATA to the StateChange (with EmailDelivery) on a
  WebSocket of the recipient, median and p99: one message at a time, then the same while
  the N clients stream.

The client runs on the same machine and takes CPU from the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import aiosmtplib
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from bench.harness import percentile
from tests.conftest import FulmarServer, create_accounts, free_port
from tests.push.pushkit import basic

PASSWORD = "bench-password"
CONFIG = 'smtp_hostname = "mx.bench.example"\naccess_log = false\nlog_level = "warning"\n'


def message(n: int, to: str) -> bytes:
    return (
        f"From: Bench <bench@remote.example>\r\nTo: {to}\r\nSubject: bench {n}\r\n"
        f"Message-ID: <bench-{n}-{time.time_ns()}@remote.example>\r\n"
        "Date: Wed, 02 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        + "A line of a realistic small message body, about eighty octets long here.\r\n"
        * 20
    ).encode()


def pending(data_dir: Path) -> int:
    with sqlite3.connect(f"file:{data_dir / 'fulmar.db'}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT count(*) FROM jobs").fetchone()[0]


class Watcher:
    """A WebSocket with push on; records when each StateChange with EmailDelivery arrives."""

    def __init__(self, server: FulmarServer, login: str) -> None:
        self.url = f"ws://127.0.0.1:{server.port}/jmap/ws"
        self.login = login
        self.arrivals: asyncio.Queue[float] = asyncio.Queue()

    async def run(self, ready: asyncio.Event) -> None:
        headers = {"Authorization": basic(self.login, PASSWORD)}
        async with connect(
            self.url, subprotocols=[Subprotocol("jmap")], additional_headers=headers
        ) as ws:
            await ws.send(
                json.dumps({"@type": "WebSocketPushEnable", "dataTypes": ["EmailDelivery"]})
            )
            ready.set()
            async for frame in ws:
                change = json.loads(frame)
                if change.get("@type") == "StateChange":
                    self.arrivals.put_nowait(time.perf_counter())


async def latency(
    server: FulmarServer,
    smtp_port: int,
    login: str,
    count: int,
    gap: float,
    samples: list[float] | None = None,
) -> list[float]:
    watcher = Watcher(server, login)
    ready = asyncio.Event()
    task = asyncio.create_task(watcher.run(ready))
    await ready.wait()
    samples = [] if samples is None else samples
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp_port, start_tls=False) as client:
        for n in range(count):
            await client.sendmail("bench@remote.example", [login], message(n, login))
            accepted = time.perf_counter()
            arrived = await asyncio.wait_for(watcher.arrivals.get(), 30)
            samples.append((arrived - accepted) * 1000)
            while not watcher.arrivals.empty():  # a coalesced duplicate, if any
                watcher.arrivals.get_nowait()
            await asyncio.sleep(gap)
    task.cancel()
    return samples


async def stream(smtp_port: int, users: list[str], until: float, counts: list[int]) -> None:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp_port, start_tls=False) as client:
        n = 0
        while time.perf_counter() < until:
            to = users[n % len(users)]
            await client.sendmail("bench@remote.example", [to], message(n, to))
            counts[0] += 1
            n += 1


async def throughput(server, smtp_port, users, clients, seconds, watch_login):
    counts = [0]
    start = time.perf_counter()
    until = start + seconds
    load = [asyncio.create_task(stream(smtp_port, users, until, counts)) for _ in range(clients)]
    samples: list[float] = []
    under_load = asyncio.create_task(latency(server, smtp_port, watch_login, 10**6, 0.05, samples))
    await asyncio.gather(*load)
    accepted_in = time.perf_counter() - start
    under_load.cancel()
    while pending(server.data_dir):
        await asyncio.sleep(0.05)
    drained_in = time.perf_counter() - start
    return counts[0], accepted_in, drained_in, samples


def line(name: str, samples: list[float]) -> str:
    if not samples:
        return f"{name}: no samples"
    return (
        f"{name}: n={len(samples)} median {statistics.median(samples):.1f} ms  "
        f"p99 {percentile(samples, 0.99):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    users = [f"user{i}@bench.example" for i in range(args.users)]
    watch = "watch@bench.example"
    with tempfile.TemporaryDirectory(prefix="fulmar-bench-smtp-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        create_accounts(data_dir, dict.fromkeys([*users, watch], PASSWORD))
        (Path(tmp) / "bench.toml").write_text(CONFIG)
        smtp_port = free_port()
        extra = [
            "--config",
            str(Path(tmp) / "bench.toml"),
            "--smtp-listen",
            f"127.0.0.1:{smtp_port}",
        ]
        server = FulmarServer(data_dir, free_port(), extra_args=extra)
        server.start()
        try:
            idle = asyncio.run(latency(server, smtp_port, watch, args.samples, 0.01))
            print(line("250 -> StateChange, one at a time", idle))
            count, accepted_in, drained_in, loaded = asyncio.run(
                throughput(server, smtp_port, users, args.clients, args.seconds, watch)
            )
            print(
                f"inbound: {count} messages from {args.clients} clients in {accepted_in:.1f} s: "
                f"{count / accepted_in:.0f} msg/s accepted (durable); all delivered after "
                f"{drained_in:.1f} s: {count / drained_in:.0f} msg/s delivered"
            )
            print(line("250 -> StateChange, while streaming", loaded))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
