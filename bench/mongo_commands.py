"""MongoDB commands per JMAP request, counted with pymongo's command monitoring: inbox listing
(Email/query + Email/get), a text search, Email/get, and delivery (Email/import).

The count is what carries over to a real cluster (latency on an emulator does not). The
server runs in this process (uvicorn on 127.0.0.1) against a MongoDB-protocol server: an
emulator started here (labelled), or ``--url`` a real MongoDB.

    .venv/bin/python bench/mongo_commands.py [--emulator mongo-emulator-mongoeco] [--url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from pymongo import monitoring

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jmap.app import create_app
from jmap.config import load_config
from jmap.provision import add_account
from jmap.store.factory import open_data_store
from tests.conftest import free_port
from tests.mongo.servers import EMULATORS, MONGOECO, start_emulator

ADDRESS, PASSWORD = "bench@example.com", "bench-password"
USING = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"]
LIST_PROPERTIES = ["threadId", "mailboxIds", "keywords", "from", "subject", "receivedAt",
                   "preview", "hasAttachment", "size"]  # fmt: skip


class Commands(monitoring.CommandListener):
    """Counts the commands the driver sends, by name."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.counts[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def message(n: int) -> bytes:
    return (
        f"From: Sender {n} <s{n}@example.org>\r\nTo: {ADDRESS}\r\n"
        f"Subject: invoice number {n}\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
        f"Message-ID: <m{n}@bench.example>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Quarterly report {n}: all is well.\r\n"
    ).encode()


async def measure(url: str, data_dir: Path, emails: int) -> dict[str, Counter[str]]:
    listener = Commands()
    monitoring.register(listener)
    data = open_data_store(data_dir / "fulmar.db", url)
    await data.open()
    await add_account(data, ADDRESS, PASSWORD)
    await data.close()
    port = free_port()
    config = load_config(data_dir=data_dir, listen=f"127.0.0.1:{port}", mongodb_url=url)
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    figures: dict[str, Counter[str]] = {}
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", auth=(ADDRESS, PASSWORD), timeout=120
        ) as http:
            session = (await http.get("/.well-known/jmap")).json()
            account = session["primaryAccounts"]["urn:ietf:params:jmap:mail"]

            async def api(calls: list[Any]) -> list[Any]:
                response = await http.post(
                    "/jmap/api/", json={"using": USING, "methodCalls": calls}
                )
                response.raise_for_status()
                return response.json()["methodResponses"]

            ((_, boxes, _),) = await api(
                [["Mailbox/get", {"accountId": account, "ids": None}, "m"]]
            )
            inbox = next(m["id"] for m in boxes["list"] if m["role"] == "inbox")

            async def counted(name: str, calls: list[Any]) -> list[Any]:
                listener.counts.clear()
                result = await api(calls)
                figures[name] = Counter(listener.counts)
                return result

            for n in range(emails):
                blob = await http.post(
                    f"/jmap/upload/{account}/", content=message(n),
                    headers={"Content-Type": "message/rfc822"},
                )  # fmt: skip
                calls = [
                    [
                        "Email/import",
                        {
                            "accountId": account,
                            "emails": {
                                "k": {"blobId": blob.json()["blobId"], "mailboxIds": {inbox: True}}
                            },
                        },
                        "i",
                    ]
                ]
                if n == emails - 1:
                    await counted("delivery (Email/import, 1 message)", calls)
                else:
                    await api(calls)
            query = {"accountId": account, "filter": {"inMailbox": inbox}, "limit": 50,
                     "sort": [{"property": "receivedAt", "isAscending": False}],
                     "collapseThreads": True}  # fmt: skip
            listing = [
                ["Email/query", query, "q"],
                ["Email/get", {"accountId": account, "properties": LIST_PROPERTIES,
                               "#ids": {"resultOf": "q", "name": "Email/query", "path": "/ids"}},
                 "g"],
            ]  # fmt: skip
            result = await counted("inbox listing (Email/query + Email/get, 50)", listing)
            ids = result[0][1]["ids"]
            search = [["Email/query", {"accountId": account, "filter": {"text": "quarterly repo"},
                                       "limit": 50}, "s"]]  # fmt: skip
            await counted("search (Email/query text)", search)
            get = [["Email/get", {"accountId": account, "ids": ids[:1]}, "e"]]
            await counted("Email/get (1, default properties)", get)
    finally:
        server.should_exit = True
        await serving
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emulator", choices=EMULATORS, default=MONGOECO)
    parser.add_argument("--url", help="a real MongoDB (replica set or mongos) instead")
    parser.add_argument("--emails", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        emulator = None
        url = args.url
        if url is None:
            emulator = start_emulator(args.emulator, Path(tmp) / "emulator")
            url = emulator.url.replace("/?", "/bench?")
        try:
            figures = asyncio.run(measure(url, Path(tmp) / "data", args.emails))
        finally:
            if emulator is not None:
                emulator.stop()
    where = "MongoDB" if args.url else f"{args.emulator} (an emulator; counts, not latency)"
    print(f"MongoDB commands per request, on {where}:")
    for name, counts in figures.items():
        detail = ", ".join(f"{c} {n}" for n, c in sorted(counts.items()))
        print(f"  {name}: {sum(counts.values())} ({detail})")


if __name__ == "__main__":
    main()
