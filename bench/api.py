"""JMAP core API throughput and latency: python -m bench.api [--seconds N] [--clients N].

Each client is its own user (the per-user maxConcurrentRequests limit applies), keeps one
HTTP connection open and sends requests back to back.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import httpx

from bench.harness import bench_server, report

CORE = "urn:ietf:params:jmap:core"
MAIL = "urn:ietf:params:jmap:mail"


def scenarios(account: str) -> dict[str, list[list[Any]]]:
    return {
        "Core/echo": [["Core/echo", {"hello": "world"}, "0"]],
        "Mailbox/get (all)": [["Mailbox/get", {"accountId": account, "ids": None}, "0"]],
        "Mailbox/query + get by reference": [
            ["Mailbox/query", {"accountId": account, "sortAsTree": True}, "q"],
            [
                "Mailbox/get",
                {
                    "accountId": account,
                    "#ids": {"resultOf": "q", "name": "Mailbox/query", "path": "/ids"},
                },
                "g",
            ],
        ],
        "Mailbox/set create + destroy": [
            ["Mailbox/set", {"accountId": account, "create": {"c": {"name": "bench"}}}, "s"],
            ["Mailbox/set", {"accountId": account, "destroy": ["#c"]}, "d"],
        ],
    }


async def run_client(url: str, user: str, name: str, seconds: float) -> list[float]:
    async with httpx.AsyncClient(base_url=url, auth=(user, "bench-password"), timeout=30) as http:
        session = (await http.get("/.well-known/jmap")).json()
        calls = scenarios(session["primaryAccounts"][MAIL])[name]
        samples = []
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            response = await http.post(
                "/jmap/api/", json={"using": [CORE, MAIL], "methodCalls": calls}
            )
            response.raise_for_status()
            samples.append((time.perf_counter() - start) * 1000)
        return samples


async def run_scenarios(url: str, users: list[str], seconds: float) -> None:
    for name in scenarios("x"):
        start = time.perf_counter()
        results = await asyncio.gather(*(run_client(url, user, name, seconds) for user in users))
        samples = [s for result in results for s in result]
        print(report(name, samples, time.perf_counter() - start))


def main(seconds: float, clients: int) -> None:
    users = {f"bench{i}@example.com": "bench-password" for i in range(clients)}
    with bench_server(users) as server:
        print(f"{clients} clients, {seconds:.0f} s per scenario, server {server.url}")
        asyncio.run(run_scenarios(server.url, list(users), seconds))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, default=8)
    arguments = parser.parse_args()
    main(arguments.seconds, arguments.clients)
