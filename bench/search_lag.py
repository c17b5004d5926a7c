"""Search lag with a search engine: from an Email/import's answer (the commit) to the first
Email/query that finds the message by a word of its body, against a real server whose
``meilisearch_url`` points at the Meilisearch STAND-IN (``tests.meili_standin``:
Meilisearch cannot run here, so the figure is Fulmar's share of the lag, the queue and
feeder, plus a stand-in that applies writes at once). With FTS5 the lag is zero: the text
is indexed in the committing transaction.

    .venv/bin/python bench/search_lag.py --rounds 50 --burst 200
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import bench_server, report
from tests.conftest import USING
from tests.meili_standin import MeiliStandIn

ADDRESS, PASSWORD = "lag@example.com", "lag-password-1234"


def message(word: str) -> bytes:
    return (
        f"From: a@example.com\r\nTo: {ADDRESS}\r\nSubject: lag {word}\r\n"
        f"Message-ID: <{word}@example.com>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n"
        f"body with {word}\r\n"
    ).encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--burst", type=int, default=200)
    args = parser.parse_args()
    standin = MeiliStandIn().start()
    config = f'meilisearch_url = "{standin.url}"\n'
    try:
        with bench_server({ADDRESS: PASSWORD}, config) as server:
            http = httpx.Client(base_url=server.url, auth=(ADDRESS, PASSWORD), timeout=60)
            session = http.get("/.well-known/jmap").json()
            account = session["primaryAccounts"]["urn:ietf:params:jmap:mail"]

            def call(name: str, arguments: dict) -> dict:
                body = {"using": USING, "methodCalls": [[name, arguments, "c"]]}
                answer = http.post("/jmap/api/", json=body).json()["methodResponses"][0]
                assert answer[0] == name, answer
                return answer[1]

            inbox = next(
                m["id"]
                for m in call("Mailbox/get", {"accountId": account})["list"]
                if m["role"] == "inbox"
            )

            def deliver(words: list[str]) -> float:
                emails = {}
                for n, word in enumerate(words):
                    blob = http.post(f"/jmap/upload/{account}/", content=message(word)).json()
                    emails[f"k{n}"] = {"blobId": blob["blobId"], "mailboxIds": {inbox: True}}
                call("Email/import", {"accountId": account, "emails": emails})
                return time.perf_counter()

            def found(word: str) -> bool:
                query = {"accountId": account, "filter": {"body": word}}
                return bool(call("Email/query", query)["ids"])

            lags = []
            started = time.perf_counter()
            for n in range(args.rounds):
                word = f"lagword{n}x"
                committed = deliver([word])
                while not found(word):
                    time.sleep(0.002)
                lags.append((time.perf_counter() - committed) * 1000)
            print(
                report(
                    "commit → searchable, one message (stand-in)",
                    lags,
                    time.perf_counter() - started,
                )
            )
            words = [f"burst{n}y" for n in range(args.burst)]
            committed = deliver(words)
            while not found(words[-1]) or not found(words[0]):
                time.sleep(0.002)
            burst_ms = (time.perf_counter() - committed) * 1000
            print(
                f"commit → searchable, {args.burst} messages in one import "
                f"(stand-in): {burst_ms:.0f} ms"
            )
    finally:
        standin.close()


if __name__ == "__main__":
    main()
