"""Mail figures: import rate of a generated mailbox, and latency of an inbox listing, a
text search and header searches on it, over HTTP against a real server.

    .venv/bin/python bench/mail.py --messages 100000
    .venv/bin/python bench/mail.py --messages 10000 --data-backend mongo-emulator-nx27017

``--data-backend`` puts the data role on one of the MongoDB-protocol emulators the tests use
(see tests/mongo/servers.py): their figures say how Fulmar's queries behave over the wire
protocol, not how a MongoDB server performs; they are labelled so.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import report
from jmap.importer import import_paths
from jmap.provision import add_account
from jmap.store.factory import open_data_store
from jmap.store.files import FileBlobStore
from tests.conftest import FulmarServer, free_port
from tests.mongo.servers import BACKEND_ENV, EMULATORS, data_backend_url

ADDRESS, PASSWORD = "bench@example.com", "bench-password"
MAIL = "urn:ietf:params:jmap:mail"
USING = ["urn:ietf:params:jmap:core", MAIL]
LIST_PROPERTIES = ["threadId", "mailboxIds", "keywords", "from", "subject", "receivedAt",
                   "preview", "hasAttachment", "size"]  # fmt: skip


def generate(path: Path, count: int, seed: int = 1) -> None:
    """An mbox of ``count`` messages: threads of 1-4, 500 senders, a 5,000-word vocabulary."""
    rng = random.Random(seed)
    words = [f"w{n}x{rng.randrange(10**6)}" for n in range(5000)]
    start = datetime(2020, 1, 1, tzinfo=UTC)
    with path.open("wb") as out:
        n = 0
        while n < count:
            subject = " ".join(rng.choices(words, k=5))
            root = None
            for reply in range(min(rng.randint(1, 4), count - n)):
                date = start + timedelta(minutes=n * 7)
                message_id = f"m{n}@bench.example"
                refs = f"In-Reply-To: <{root}>\nReferences: <{root}>\n" if root else ""
                body = "\n".join(" ".join(rng.choices(words, k=12)) for _ in range(8))
                out.write(
                    (
                        f"From bench {date.strftime('%a %b %d %H:%M:%S %Y')}\n"
                        f"From: Sender {n % 500} <sender{n % 500}@example.org>\n"
                        f"To: {ADDRESS}\nSubject: {'Re: ' if reply else ''}{subject}\n"
                        f"Date: {format_datetime(date)}\nMessage-ID: <{message_id}>\n{refs}"
                        f"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{body}\n\n"
                    ).encode()
                )
                root = root or message_id
                n += 1


async def import_mailbox(data_dir: Path, mbox: Path) -> tuple[int, float]:
    data = open_data_store(data_dir / "fulmar.db", mongodb_url=data_backend_url(data_dir))
    await data.open()
    try:
        await add_account(data, ADDRESS, PASSWORD)
        started = time.perf_counter()
        report = await import_paths(data, FileBlobStore(data_dir / "blobs"), ADDRESS, [mbox])
        return report.imported, time.perf_counter() - started
    finally:
        await data.close()


def measure(url: str, rounds: int, words: list[str]) -> dict[str, list[float]]:
    with httpx.Client(base_url=url, auth=(ADDRESS, PASSWORD), timeout=60) as http:
        session = http.get("/.well-known/jmap").json()
        account = session["primaryAccounts"][MAIL]

        def call(calls: list) -> dict:
            response = http.post("/jmap/api/", json={"using": USING, "methodCalls": calls})
            response.raise_for_status()
            return response.json()

        boxes = call([["Mailbox/get", {"accountId": account, "ids": None}, "0"]])
        inbox = next(
            m["id"] for m in boxes["methodResponses"][0][1]["list"] if m["role"] == "inbox"
        )

        def listing(filter_: dict) -> float:
            query = {
                "accountId": account,
                "filter": filter_,
                "sort": [{"property": "receivedAt", "isAscending": False}],
                "limit": 50,
            }
            get = {
                "accountId": account,
                "#ids": {"resultOf": "q", "name": "Email/query", "path": "/ids"},
                "properties": LIST_PROPERTIES,
            }
            started = time.perf_counter()
            result = call([["Email/query", query, "q"], ["Email/get", get, "g"]])
            elapsed = time.perf_counter() - started
            assert result["methodResponses"][1][0] == "Email/get", result
            return elapsed

        def timed(calls: list) -> float:
            started = time.perf_counter()
            result = call(calls)
            elapsed = time.perf_counter() - started
            assert all(r[0] != "error" for r in result["methodResponses"]), result
            return elapsed

        page = call(
            [
                [
                    "Email/query",
                    {"accountId": account, "filter": {"inMailbox": inbox}, "limit": 50},
                    "q",
                ]
            ]
        )["methodResponses"][0][1]["ids"]

        def mark_read(n: int) -> float:
            seen = True if n % 2 == 0 else None
            update = {email_id: {"keywords/$seen": seen} for email_id in page}
            return timed([["Email/set", {"accountId": account, "update": update}, "s"]])

        return {
            "mark 50 read/unread (Email/set keywords/$seen)": [mark_read(n) for n in range(rounds)],
            "Mailbox/get all with counters": [
                timed([["Mailbox/get", {"accountId": account, "ids": None}, "m"]])
                for _ in range(rounds)
            ],
            "inbox listing (query limit 50 + get by reference)": [
                listing({"inMailbox": inbox}) for _ in range(rounds)
            ],
            "text search (prefix word, inbox, limit 50 + get)": [
                listing({"inMailbox": inbox, "text": words[n % len(words)]}) for n in range(rounds)
            ],
            "header text (From contains one sender's address, limit 50 + get)": [
                listing({"header": ["From", f"sender{n % 500}@example.org"]}) for n in range(rounds)
            ],
            "header presence (In-Reply-To, inbox, limit 50 + get)": [
                listing({"inMailbox": inbox, "header": ["In-Reply-To"]}) for _ in range(rounds)
            ],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument(
        "--data-backend",
        choices=["sqlite", *EMULATORS],
        default="sqlite",
        help="the data role: embedded SQLite, or a MongoDB emulator (labelled: not a server)",
    )
    args = parser.parse_args()
    os.environ[BACKEND_ENV] = args.data_backend  # the import and the server both follow it
    if args.data_backend == "sqlite":
        print("data backend: sqlite (embedded)")
    else:
        print(f"data backend: {args.data_backend} (an EMULATOR of MongoDB, not a MongoDB server)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        mbox, data_dir = root / "inbox.mbox", root / "data"
        data_dir.mkdir()
        generate(mbox, args.messages)
        imported, seconds = asyncio.run(import_mailbox(data_dir, mbox))
        print(f"import: {imported} messages in {seconds:.1f} s = {imported / seconds:.0f} msg/s")
        server = FulmarServer(data_dir, free_port())
        server.start()
        try:
            rng = random.Random(1)
            words = [f"w{n}x{rng.randrange(10**6)}"[:6] for n in range(5000)]
            figures = measure(server.url, args.rounds, words[::50])
        finally:
            server.stop()
        for name, samples in figures.items():
            elapsed = sum(samples)
            print(report(name, [sample * 1000 for sample in samples], elapsed))


if __name__ == "__main__":
    main()
