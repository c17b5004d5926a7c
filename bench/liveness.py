"""Another user's latency while a hostile request runs: python -m bench.liveness.

Alice sends one hostile request (a 40 MB Email/import, a 32 KB ``[a] `` Subject, a
500-Mailbox Mailbox/set, ten Email/set creates with a 4 MB attachment); meanwhile Bob sends
/healthz, Mailbox/get and a one-Mailbox Mailbox/set back to back until Alice's answer is in.
Reports Bob's latencies per kind and how long Alice's request took.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from bench.harness import bench_server, percentile

USERS = {"alice@example.com": "alice-password", "bob@example.com": "bob-password"}
USING = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"]


def client(url: str, login: str) -> tuple[httpx.Client, str]:
    http = httpx.Client(base_url=url, auth=(login, USERS[login]), timeout=600)
    session = http.get("/.well-known/jmap").json()
    return http, session["primaryAccounts"]["urn:ietf:params:jmap:mail"]


def call(http: httpx.Client, name: str, args: dict[str, Any]) -> dict[str, Any]:
    body = {"using": USING, "methodCalls": [[name, args, "0"]]}
    response = http.post("/jmap/api/", json=body)
    response.raise_for_status()
    return response.json()["methodResponses"][0][1]


def message(subject: str, body: bytes) -> bytes:
    head = (
        f"From: ann@example.com\r\nTo: bob@example.com\r\nSubject: {subject}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    return head.encode() + body


def importer(raw: bytes) -> Callable[[httpx.Client, str], Callable[[], Any]]:
    def prepare(http: httpx.Client, account: str) -> Callable[[], Any]:
        blob = http.post(
            f"/jmap/upload/{account}/", content=raw, headers={"Content-Type": "message/rfc822"}
        ).json()["blobId"]
        boxes = call(http, "Mailbox/get", {"accountId": account, "ids": None})["list"]
        inbox = next(m["id"] for m in boxes if m["role"] == "inbox")
        emails = {"h": {"blobId": blob, "mailboxIds": {inbox: True}}}
        return lambda: call(http, "Email/import", {"accountId": account, "emails": emails})

    return prepare


def mailboxes(http: httpx.Client, account: str) -> Callable[[], Any]:
    create = {f"m{n}": {"name": f"Box {n}"} for n in range(500)}
    return lambda: call(http, "Mailbox/set", {"accountId": account, "create": create})


def email_creates(http: httpx.Client, account: str) -> Callable[[], Any]:
    attachment = http.post(
        f"/jmap/upload/{account}/",
        content=b"Dull boy.\r\n" * 400_000,
        headers={"Content-Type": "text/plain"},
    ).json()["blobId"]
    boxes = call(http, "Mailbox/get", {"accountId": account, "ids": None})["list"]
    inbox = next(m["id"] for m in boxes if m["role"] == "inbox")
    parts = [
        {"partId": "t", "type": "text/plain"},
        {"blobId": attachment, "type": "text/plain", "name": "report.txt"},
    ]
    create = {
        f"e{n}": {
            "mailboxIds": {inbox: True},
            "subject": f"Report {n}",
            "bodyStructure": {"type": "multipart/mixed", "subParts": parts},
            "bodyValues": {"t": {"value": "See the attached report."}},
        }
        for n in range(10)
    }
    return lambda: call(http, "Email/set", {"accountId": account, "create": create})


SCENARIOS = {
    "Email/import 40 MB plain text": importer(message("huge", b"Dull boy.\r\n" * 3_600_000)),
    "Email/import 32 KB '[a] ' Subject": importer(message("[a] " * 8000, b"Hello.\r\n")),
    "Mailbox/set 500 creates": mailboxes,
    "Email/set 10 creates with a 4 MB attachment": email_creates,
}


def run(name: str, prepare: Callable[[httpx.Client, str], Callable[[], Any]], url: str) -> None:
    alice, alice_account = client(url, "alice@example.com")
    bob, bob_account = client(url, "bob@example.com")
    hostile = prepare(alice, alice_account)
    done = threading.Event()
    took: list[float] = []

    def send() -> None:
        start = time.perf_counter()
        hostile()
        took.append(time.perf_counter() - start)
        done.set()

    probes: dict[str, Callable[[], Any]] = {
        "/healthz": lambda: bob.get("/healthz").raise_for_status(),
        "Mailbox/get": lambda: call(bob, "Mailbox/get", {"accountId": bob_account, "ids": None}),
        "Mailbox/set create": lambda: call(
            bob, "Mailbox/set", {"accountId": bob_account, "create": {"c": {"name": "p"}}}
        ),
    }
    samples: dict[str, list[float]] = {k: [] for k in probes}
    thread = threading.Thread(target=send)
    thread.start()
    time.sleep(0.2)  # let Alice's request reach the server
    while not done.is_set():
        for kind, probe in probes.items():
            start = time.perf_counter()
            probe()
            samples[kind].append((time.perf_counter() - start) * 1000)
    thread.join()
    print(f"{name}: Alice's request took {took[0]:.2f} s")
    for kind, values in samples.items():
        if values:
            print(
                f"    Bob {kind:<20} n={len(values):>5}  median {percentile(values, 0.5):9.1f} ms"
                f"  p99 {percentile(values, 0.99):9.1f} ms  max {max(values):9.1f} ms"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", help="run the scenarios whose name contains this")
    args = parser.parse_args()
    for name, prepare in SCENARIOS.items():
        if args.only and args.only not in name:
            continue
        with bench_server(USERS) as server:
            run(name, prepare, server.url)


if __name__ == "__main__":
    main()
