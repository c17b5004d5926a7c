"""Push benchmark: python -m bench.push [--changes N] [--connections N].

Starts a redis-server and two Fulmar nodes (A and B) sharing one data directory, all on
127.0.0.1, then reports:

* push latency: from sending a Mailbox/set over HTTP to node A to the StateChange arriving
  on a WebSocket connected to node B (through Redis), median and p99 over N changes, one at
  a time;
* memory: node B's resident set size (VmRSS) before and after opening N idle WebSocket
  connections, then after enabling push on all of them, per 1,000 connections.

Everything it starts it stops. Needs /usr/bin/redis-server (make test-servers).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from jmap.provision import add_account
from jmap.store.sqlite import SqliteDataStore

FULMAR = str(Path(sys.executable).parent / "fulmar")
USING = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"]
LOGIN, PASSWORD = "bench@example.com", "bench-password"
CONFIG = "push_max_connections = 100000\naccess_log = false\n"
#: offer permessage-deflate, as browsers do (``--no-deflate``: don't)
DEFLATE = True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def wait_until(check: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, httpx.HTTPError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start")


def start_redis(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    args += ["--appendonly", "no", "--dir", str(work)]
    process = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def pong() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    wait_until(pong, "redis-server")
    return process, f"redis://127.0.0.1:{port}/0"


def start_node(data_dir: Path, config: Path, redis_url: str, log: Path) -> tuple[Any, str]:
    port = free_port()
    args = [FULMAR, "serve", "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{port}"]
    args += ["--config", str(config), "--redis-url", redis_url]
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: httpx.get(url + "/healthz", timeout=1).status_code == 200, "fulmar")
    return process, url


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def open_socket(url: str, auth: str) -> ClientConnection:
    return await connect(
        url.replace("http://", "ws://") + "/jmap/ws",
        subprotocols=[Subprotocol("jmap")],
        additional_headers={"Authorization": auth},
        ping_interval=None,
        max_queue=None,
        compression="deflate" if DEFLATE else None,
    )


async def enable_push(ws: ClientConnection) -> None:
    await ws.send(json.dumps({"@type": "WebSocketPushEnable", "dataTypes": None}))
    await ws.send(json.dumps({"@type": "Request", "id": "x", "using": USING, "methodCalls": []}))
    while json.loads(await ws.recv()).get("requestId") != "x":
        pass


async def latency(url_a: str, url_b: str, auth: str, changes: int) -> list[float]:
    """Milliseconds from sending each /set to A until its StateChange arrived on B (stamped
    by a reader that runs all along, so the HTTP response's own time does not count)."""
    async with httpx.AsyncClient(base_url=url_a, auth=(LOGIN, PASSWORD), timeout=10) as http:
        session = (await http.get("/.well-known/jmap")).json()
        account = session["primaryAccounts"]["urn:ietf:params:jmap:mail"]
        ws = await open_socket(url_b, auth)
        await enable_push(ws)
        arrived: dict[str, float] = {}
        new_arrival = asyncio.Event()

        async def read() -> None:
            async for raw in ws:
                now = time.perf_counter()
                state = json.loads(raw).get("changed", {}).get(account, {}).get("Mailbox")
                if state:
                    arrived[state] = now
                    new_arrival.set()

        reader = asyncio.create_task(read())
        samples = []
        for i in range(changes):
            create = {"accountId": account, "create": {"m": {"name": f"b{i}"}}}
            body = {"using": USING, "methodCalls": [["Mailbox/set", create, "c"]]}
            start = time.perf_counter()
            response = await http.post("/jmap/api/", json=body)
            state = response.json()["methodResponses"][0][1]["newState"]
            async with asyncio.timeout(10):
                while state not in arrived:
                    new_arrival.clear()
                    await new_arrival.wait()
            samples.append((arrived[state] - start) * 1000)
        reader.cancel()
        await ws.close()
    return samples


async def memory(url_b: str, pid_b: int, auth: str, count: int) -> dict[str, float]:
    await asyncio.sleep(1)
    before = rss_kib(pid_b)
    sockets: list[ClientConnection] = []
    for start in range(0, count, 100):
        batch = [open_socket(url_b, auth) for _ in range(start, min(count, start + 100))]
        sockets += await asyncio.gather(*batch)
    await asyncio.sleep(2)
    idle = rss_kib(pid_b)
    for start in range(0, count, 100):
        await asyncio.gather(*(enable_push(ws) for ws in sockets[start : start + 100]))
    await asyncio.sleep(2)
    pushing = rss_kib(pid_b)
    await asyncio.gather(*(ws.close() for ws in sockets))
    per = 1000 / count / 1024
    return {
        "rss_before_mib": before / 1024,
        "idle_delta_mib_per_1000": (idle - before) * per,
        "push_enabled_delta_mib_per_1000": (pushing - before) * per,
    }


def provision(data_dir: Path) -> None:
    async def run() -> None:
        data = SqliteDataStore(data_dir / "fulmar.db")
        await data.open()
        try:
            await add_account(data, LOGIN, PASSWORD)
        finally:
            await data.close()

    asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=300)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--no-deflate", action="store_true", help="don't offer compression")
    args = parser.parse_args()
    global DEFLATE
    DEFLATE = not args.no_deflate
    auth = "Basic " + base64.b64encode(f"{LOGIN}:{PASSWORD}".encode()).decode()
    with tempfile.TemporaryDirectory(prefix="fulmar-bench-push-") as tmp:
        work = Path(tmp)
        data_dir = work / "data"
        data_dir.mkdir()
        provision(data_dir)
        config = work / "bench.toml"
        config.write_text(CONFIG)
        redis, redis_url = start_redis(work)
        processes = [redis]
        try:
            node_a, url_a = start_node(data_dir, config, redis_url, work / "a.log")
            processes.append(node_a)
            node_b, url_b = start_node(data_dir, config, redis_url, work / "b.log")
            processes.append(node_b)
            samples = asyncio.run(latency(url_a, url_b, auth, args.changes))
            mem = asyncio.run(memory(url_b, node_b.pid, auth, args.connections))
        finally:
            for process in reversed(processes):
                stop(process)
    result = {
        "changes": len(samples),
        "latency_median_ms": round(statistics.median(samples), 2),
        "latency_p99_ms": round(percentile(samples, 0.99), 2),
        "connections": args.connections,
        "permessage_deflate": DEFLATE,
        **{k: round(v, 1) for k, v in mem.items()},
        "cpus": os.cpu_count(),
    }
    print(
        f"push latency HTTP /set on A -> StateChange on WebSocket on B (via Redis): "
        f"n={result['changes']} median {result['latency_median_ms']} ms "
        f"p99 {result['latency_p99_ms']} ms"
    )
    print(
        f"node B RSS {result['rss_before_mib']} MiB; per 1,000 idle WebSockets "
        f"+{result['idle_delta_mib_per_1000']} MiB, with push enabled "
        f"+{result['push_enabled_delta_mib_per_1000']} MiB"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
