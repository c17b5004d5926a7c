"""SMTP inbound benchmark: python -m bench.smtp [--seconds S] [--clients N] [--users U]
[--dkim off|on|both] [--intake-backlog N].

Starts a Fulmar server with its SMTP listener on 127.0.0.1 (a fresh one per DKIM mode) and
reports:

* sustained inbound rate: N concurrent aiosmtplib clients, each on one connection sending
  small messages back to back for S seconds; a message counts once it got its 250 (so it
  is on disk with its delivery job), spread over U accounts; then how long the queue took
  to drain (delivered into the mailboxes);
* the server's CPU time per message (its process and its worker processes, from
  ``/proc``), over the load until the queue drained: on a shared machine the rate is
  noisy, the CPU per message much less so;
* latency from the end of DATA to the StateChange (with EmailDelivery) on a WebSocket of
  the recipient, median and p99: one message at a time, then the same while the N clients
  stream (from a process of its own); with the 250 -> StateChange part of it;
* API latency of another user (Email/query + Email/get + Mailbox/get in one request, from
  a process of its own) idle and while the clients stream: it should stay flat.

``--dkim on`` sends realistic signed mail: every message DKIM-signed like Fulmar's own
outbound mail (rsa-sha256 and ed25519-sha256) by a sender domain whose keys, SPF and DMARC
records are in the ``dns_zone_file`` the server reads, so each message is verified
(dkim=pass, spf=pass, dmarc=pass). Signing is done before the load, in a process pool, for
a pool of ``--pool`` messages that the clients cycle through (a message sent twice has the
same Message-ID and so joins a thread). The server never asks a DNS server
(``dns_offline``).

``--profile PREFIX`` samples the server and its workers with py-spy (``pip install
py-spy``; not a dependency) during the load, Python stacks holding the GIL only, as
collapsed stacks in ``PREFIX-plain.txt`` / ``PREFIX-dkim.txt``.

The client runs on the same machine and takes CPU from the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sqlite3
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import aiosmtplib
import httpx
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from bench.harness import percentile
from smtp_gateway.cli_dns import records
from smtp_gateway.dkim_keys import ED25519, RSA, DkimKey, generate
from smtp_gateway.dkim_sign import sign_with
from tests.conftest import FulmarServer, create_accounts, free_port
from tests.push.pushkit import basic

PASSWORD = "bench-password"
SENDER_DOMAIN = "remote.example"
SENDER = f"bench@{SENDER_DOMAIN}"
CONFIG = (
    'smtp_hostname = "mx.bench.example"\naccess_log = false\nlog_level = "warning"\n'
    "dns_offline = true\n"
)
USING = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"]


def message(n: int, to: str) -> bytes:
    return (
        f"From: Bench <{SENDER}>\r\nTo: {to}\r\nSubject: bench {n}\r\n"
        f"Message-ID: <bench-{n}-{time.time_ns()}@{SENDER_DOMAIN}>\r\n"
        "Date: Wed, 02 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        + "A line of a realistic small message body, about eighty octets long here.\r\n"
        * 20
    ).encode()


class Messages:
    """What the clients send: fresh unsigned messages, or a pool of signed ones."""

    def __init__(self, keys: list[DkimKey] | None, pool: int) -> None:
        self.signed: list[bytes] = []
        if keys:
            raws = [message(n, "bench-list@bench.example") for n in range(pool)]
            with ProcessPoolExecutor(os.cpu_count() or 1) as signers:
                self.signed = list(
                    signers.map(
                        sign_with, raws, [SENDER_DOMAIN] * pool, [keys] * pool, chunksize=64
                    )
                )

    def get(self, n: int, to: str) -> bytes:
        if self.signed:
            return self.signed[n % len(self.signed)]
        return message(n, to)


def zone_file(path: Path, keys: list[DkimKey]) -> None:
    """The sender domain's records as ``fulmar dns`` writes them: MX (which makes the file
    authoritative for the domain), SPF for 127.0.0.1, DKIM and DMARC."""
    lines = records(
        SENDER_DOMAIN,
        f"mx.{SENDER_DOMAIN}",
        keys,
        ("127.0.0.1",),
        ("127.0.0.1",),
        f"dmarc@{SENDER_DOMAIN}",
    )
    path.write_text("\n".join(lines) + "\n")


def pending(data_dir: Path) -> int:
    with sqlite3.connect(f"file:{data_dir / 'fulmar.db'}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT count(*) FROM jobs").fetchone()[0]


def tree_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) of ``pid`` and of its live descendants."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    children = 0.0
    for other in times:
        ancestor = parents.get(other)
        while ancestor and ancestor != pid:
            ancestor = parents.get(ancestor)
        if ancestor == pid:
            children += times[other]
    return times.get(pid, 0.0), children


class Watcher:
    """A WebSocket with push on; records when each StateChange with EmailDelivery arrives."""

    def __init__(self, http_port: int, login: str) -> None:
        self.url = f"ws://127.0.0.1:{http_port}/jmap/ws"
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
    http_port: int,
    smtp_port: int,
    login: str,
    count: int,
    gap: float,
    messages: Messages,
    until: float = float("inf"),
) -> list[tuple[float, float]]:
    """(end of DATA -> StateChange, 250 -> StateChange) in ms, one message at a time,
    ``count`` of them or until ``until`` (``time.perf_counter``)."""
    watcher = Watcher(http_port, login)
    ready = asyncio.Event()
    task = asyncio.create_task(watcher.run(ready))
    await ready.wait()
    samples: list[tuple[float, float]] = []
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp_port, start_tls=False) as client:
        for n in range(count):
            if time.perf_counter() > until:
                break
            await client.mail(SENDER)
            await client.rcpt(login)
            sent = time.perf_counter()
            await client.data(messages.get(n, login))
            accepted = time.perf_counter()
            arrived = await asyncio.wait_for(watcher.arrivals.get(), 30)
            samples.append(((arrived - sent) * 1000, (arrived - accepted) * 1000))
            while not watcher.arrivals.empty():  # a coalesced duplicate, if any
                watcher.arrivals.get_nowait()
            await asyncio.sleep(gap)
    task.cancel()
    return samples


async def stream(
    smtp_port: int, users: list[str], until: float, counts: list[int], messages: Messages
) -> None:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp_port, start_tls=False) as client:
        n = 0
        while time.perf_counter() < until:
            to = users[n % len(users)]
            await client.sendmail(SENDER, [to], messages.get(n, to))
            counts[0] += 1
            n += 1


def api_probe(url: str, login: str, seconds: float, out: multiprocessing.Queue) -> None:
    """In a process of its own (the load's event loop must not delay it): one JMAP request
    after another for ``seconds``; puts the round trips (ms) on ``out``."""

    async def run() -> list[float]:
        auth = {"Authorization": basic(login, PASSWORD)}
        async with httpx.AsyncClient(base_url=url, headers=auth) as http:
            session = (await http.get("/jmap/session")).json()
            account = session["primaryAccounts"]["urn:ietf:params:jmap:mail"]
            body = {
                "using": USING,
                "methodCalls": [
                    ["Email/query", {"accountId": account, "limit": 20,
                                     "sort": [{"property": "receivedAt", "isAscending": False}]},
                     "q"],
                    ["Email/get", {"accountId": account, "properties": ["subject", "from"],
                                   "#ids": {"resultOf": "q", "name": "Email/query",
                                            "path": "/ids"}}, "g"],
                    ["Mailbox/get", {"accountId": account}, "m"],
                ],
            }  # fmt: skip
            samples: list[float] = []
            until = time.perf_counter() + seconds
            while time.perf_counter() < until:
                start = time.perf_counter()
                response = await http.post("/jmap/api/", json=body)
                response.raise_for_status()
                samples.append((time.perf_counter() - start) * 1000)
                await asyncio.sleep(0.02)
            return samples

    out.put(asyncio.run(run()))


def latency_probe(
    http_port: int,
    smtp_port: int,
    login: str,
    seconds: float,
    messages: Messages,
    out: multiprocessing.Queue,
) -> None:
    """``latency`` in a process of its own for ``seconds`` (the load's event loop must not
    delay its clock readings); puts the samples on ``out``."""
    until = time.perf_counter() + seconds
    out.put(asyncio.run(latency(http_port, smtp_port, login, 10**6, 0.05, messages, until)))


def start_probe(server: FulmarServer, login: str, seconds: float):
    queue: multiprocessing.Queue = multiprocessing.Queue()
    url = f"http://127.0.0.1:{server.port}"
    process = multiprocessing.Process(target=api_probe, args=(url, login, seconds, queue))
    process.start()
    return process, queue


async def drained(server: FulmarServer) -> None:
    while pending(server.data_dir):
        await asyncio.sleep(0.05)


async def seed(smtp_port: int, login: str, count: int) -> None:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp_port, start_tls=False) as client:
        for n in range(count):
            await client.sendmail(SENDER, [login], message(n, login))


def start_profile(pid: int, seconds: float, path: str) -> subprocess.Popen[bytes]:
    """py-spy sampling the server and its workers, as collapsed stacks."""
    command = ["py-spy", "record", "--pid", str(pid), "--duration", str(int(seconds)),
               "--subprocesses", "--gil", "--format", "raw", "--output", path]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def throughput(server, smtp_port, users, clients, seconds, watch_login, messages, profile):
    counts = [0]
    spy = start_profile(server.process.pid, seconds, profile) if profile else None
    start = time.perf_counter()
    cpu_start = tree_cpu(server.process.pid)
    until = start + seconds
    load = [
        asyncio.create_task(stream(smtp_port, users, until, counts, messages))
        for _ in range(clients)
    ]
    out: multiprocessing.Queue = multiprocessing.Queue()
    sampler = multiprocessing.Process(
        target=latency_probe,
        args=(server.port, smtp_port, watch_login, seconds, messages, out),
    )
    sampler.start()
    await asyncio.gather(*load)
    accepted_in = time.perf_counter() - start
    samples = await asyncio.to_thread(out.get)
    sampler.join()
    await drained(server)
    drained_in = time.perf_counter() - start
    cpu_end = tree_cpu(server.process.pid)
    cpu = (cpu_end[0] - cpu_start[0], cpu_end[1] - cpu_start[1])
    if spy is not None:
        spy.wait()
    return counts[0], accepted_in, drained_in, samples, cpu


def line(name: str, samples: list[float]) -> str:
    if not samples:
        return f"{name}: no samples"
    return (
        f"{name}: n={len(samples)} median {statistics.median(samples):.1f} ms  "
        f"p99 {percentile(samples, 0.99):.1f} ms"
    )


def latency_lines(name: str, samples: list[tuple[float, float]]) -> list[str]:
    return [
        line(f"end of DATA -> StateChange, {name}", [s[0] for s in samples]),
        line(f"        250 -> StateChange, {name}", [s[1] for s in samples]),
    ]


def run_mode(args: argparse.Namespace, signed: bool) -> None:
    users = [f"user{i}@bench.example" for i in range(args.users)]
    watch, other = "watch@bench.example", "other@bench.example"
    keys = [generate(SENDER_DOMAIN, "bench1r", RSA, time.time())]
    keys.append(generate(SENDER_DOMAIN, "bench1e", ED25519, time.time()))
    messages = Messages(keys if signed else None, args.pool)
    with tempfile.TemporaryDirectory(prefix="fulmar-bench-smtp-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        create_accounts(data_dir, dict.fromkeys([*users, watch, other], PASSWORD))
        zone = Path(tmp) / "remote.zone"
        zone_file(zone, keys)
        backlog = f"smtp_intake_backlog = {args.intake_backlog}\n"
        (Path(tmp) / "bench.toml").write_text(CONFIG + backlog + f'dns_zone_file = "{zone}"\n')
        smtp_port = free_port()
        extra = [
            "--config",
            str(Path(tmp) / "bench.toml"),
            "--smtp-listen",
            f"127.0.0.1:{smtp_port}",
        ]
        server = FulmarServer(data_dir, free_port(), extra_args=extra)
        server.start()
        print(f"== DKIM-signed messages: {'yes' if signed else 'no'}")
        try:
            asyncio.run(seed(smtp_port, other, args.seed))
            asyncio.run(drained(server))
            idle = asyncio.run(latency(server.port, smtp_port, watch, args.samples, 0.01, messages))
            print("\n".join(latency_lines("one at a time", idle)))
            probe, out = start_probe(server, other, 5)
            api_idle = out.get()
            probe.join()
            print(line("API latency of another user, idle", api_idle))
            probe, out = start_probe(server, other, args.seconds)
            count, accepted_in, drained_in, loaded, cpu = asyncio.run(
                throughput(
                    server,
                    smtp_port,
                    users,
                    args.clients,
                    args.seconds,
                    watch,
                    messages,
                    args.profile and f"{args.profile}-{'dkim' if signed else 'plain'}.txt",
                )
            )
            api_loaded = out.get()
            probe.join()
            print(
                f"inbound: {count} messages from {args.clients} clients in {accepted_in:.1f} s: "
                f"{count / accepted_in:.0f} msg/s accepted (durable); all delivered after "
                f"{drained_in:.1f} s: {count / drained_in:.0f} msg/s delivered"
            )
            total = len(loaded) + count
            print(
                f"server CPU per message (load and drain, {total} messages): "
                f"{(cpu[0] + cpu[1]) * 1000 / total:.2f} ms "
                f"(main process {cpu[0] * 1000 / total:.2f} ms, "
                f"worker processes {cpu[1] * 1000 / total:.2f} ms)"
            )
            print("\n".join(latency_lines("while streaming", loaded)))
            print(line("API latency of another user, while streaming", api_loaded))
            if signed:
                print(f"verdicts: {verdicts(server, users[0])}")
        finally:
            server.stop()


def verdicts(server: FulmarServer, login: str) -> str:
    """The Authentication-Results of the last message the watched user got (a check that
    the signed messages were verified, not skipped)."""

    async def get() -> str:
        auth = {"Authorization": basic(login, PASSWORD)}
        async with httpx.AsyncClient(base_url=server.url, headers=auth) as http:
            session = (await http.get("/jmap/session")).json()
            account = session["primaryAccounts"]["urn:ietf:params:jmap:mail"]
            body = {
                "using": USING,
                "methodCalls": [
                    ["Email/query", {"accountId": account, "limit": 1,
                                     "sort": [{"property": "receivedAt", "isAscending": False}]},
                     "q"],
                    ["Email/get", {"accountId": account,
                                   "properties": ["header:Authentication-Results:asText"],
                                   "#ids": {"resultOf": "q", "name": "Email/query",
                                            "path": "/ids"}}, "g"],
                ],
            }  # fmt: skip
            response = (await http.post("/jmap/api/", json=body)).json()
            found = response["methodResponses"][1][1]["list"]
            return found[0]["header:Authentication-Results:asText"] if found else "none"

    return " ".join(asyncio.run(get()).split())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=100, help="messages of the API user")
    parser.add_argument("--dkim", choices=("off", "on", "both"), default="both")
    parser.add_argument("--pool", type=int, default=3000, help="signed messages to cycle")
    parser.add_argument(
        "--intake-backlog", type=int, default=32, help="smtp_intake_backlog (0: no bound)"
    )
    parser.add_argument("--profile", help="py-spy stacks of the load to PREFIX-*.txt")
    args = parser.parse_args()
    for signed in {"off": [False], "on": [True], "both": [False, True]}[args.dkim]:
        run_mode(args, signed)


if __name__ == "__main__":
    main()
