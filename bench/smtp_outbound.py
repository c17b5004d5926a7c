"""Outbound benchmark: python -m bench.smtp_outbound [--messages N] [--batch N].

Starts an aiosmtpd sink and a Fulmar server on 127.0.0.1 whose ``smtp_routes`` send
``example.net`` to the sink, writes N drafts, then submits them with EmailSubmission/set
(``--batch`` per request) and reports the outbound throughput: messages accepted by the
sink per second, from the first submission to the last message received, and the latency
from a submission's commit to its arrival at the sink (median, p99).
"""

from __future__ import annotations

import argparse
import threading
import time

import httpx
from aiosmtpd.controller import Controller

from bench.harness import bench_server, percentile
from tests.conftest import free_port

USERS = {"alice@example.com": "bench-password"}
USING = [
    "urn:ietf:params:jmap:core",
    "urn:ietf:params:jmap:mail",
    "urn:ietf:params:jmap:submission",
]


class Counter:
    def __init__(self, expected: int) -> None:
        self.arrivals: dict[str, float] = {}
        self.expected = expected
        self.done = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        subject = next(
            (line for line in envelope.content.split(b"\r\n") if line.startswith(b"Subject: ")),
            b"",
        )
        self.arrivals[subject.decode()[9:]] = time.perf_counter()
        if len(self.arrivals) >= self.expected:
            self.done.set()
        return "250 2.0.0 Ok"


def call(http: httpx.Client, account: str, name: str, args: dict) -> dict:
    body = {"using": USING, "methodCalls": [[name, {"accountId": account, **args}, "c"]]}
    ((got, result, _),) = http.post("/jmap/api/", json=body).json()["methodResponses"]
    assert got == name, result
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    counter = Counter(args.messages)
    port = free_port()
    sink = Controller(counter, hostname="127.0.0.1", port=port)
    sink.start()
    config = f'smtp_routes = {{ "example.net" = "127.0.0.1:{port}" }}\n'
    try:
        with bench_server(USERS, config) as server:
            http = httpx.Client(base_url=server.url, auth=next(iter(USERS.items())), timeout=120)
            account = http.get("/.well-known/jmap").json()["primaryAccounts"][USING[2]]
            mailboxes = call(http, account, "Mailbox/get", {"ids": None})["list"]
            drafts = next(m["id"] for m in mailboxes if m["role"] == "drafts")
            identity = call(http, account, "Identity/get", {"ids": None})["list"][0]["id"]
            email_ids = []
            for start in range(0, args.messages, args.batch):
                create = {
                    str(n): {
                        "mailboxIds": {drafts: True},
                        "from": [{"email": "alice@example.com"}],
                        "to": [{"email": f"rcpt{n % 10}@example.net"}],
                        "subject": f"m{n}",
                        "bodyValues": {"1": {"value": "Hello, this is a benchmark.\n" * 20}},
                        "textBody": [{"partId": "1", "type": "text/plain"}],
                    }
                    for n in range(start, min(start + args.batch, args.messages))
                }
                created = call(http, account, "Email/set", {"create": create})["created"]
                email_ids += [(f"m{k}", v["id"]) for k, v in created.items()]
            committed: dict[str, float] = {}
            began = time.perf_counter()
            for start in range(0, len(email_ids), args.batch):
                chunk = email_ids[start : start + args.batch]
                create = {
                    subject: {"identityId": identity, "emailId": email_id}
                    for subject, email_id in chunk
                }
                call(http, account, "EmailSubmission/set", {"create": create})
                now = time.perf_counter()
                committed.update(dict.fromkeys((s for s, _ in chunk), now))
            if not counter.done.wait(600):
                raise SystemExit(f"only {len(counter.arrivals)} of {args.messages} arrived")
            elapsed = max(counter.arrivals.values()) - began
            latencies = [(counter.arrivals[s] - committed[s]) * 1000 for s in committed]
            print(
                f"outbound to a local sink: {args.messages} messages in {elapsed:.2f} s = "
                f"{args.messages / elapsed:.0f}/s; commit to sink: median "
                f"{sorted(latencies)[len(latencies) // 2]:.0f} ms, p99 "
                f"{percentile(latencies, 0.99):.0f} ms"
            )
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
