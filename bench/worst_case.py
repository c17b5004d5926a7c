"""The worst CPU time per request found after issue 8's fixes, as input size -> time:
parsing hostile messages at the accepted maximums (in-process), and search, snippets and
queries at the limits (server CPU, user + system from /proc, per request, least of 2) on a
generated mailbox plus messages made to be expensive to highlight.

    .venv/bin/python bench/worst_case.py --messages 10000 [--reuse DATA_DIR]

``--reuse`` copies a data directory left by an earlier run (``--keep``) instead of
generating and importing the mailbox again (minutes on a busy machine).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.mail import ADDRESS, PASSWORD, USING, generate, import_mailbox
from bench.search import server_cpu
from jmap.config import Limits
from jmap.message import bounds, parse_message
from methods.email_filter import MAX_FILTER_CONDITIONS, MAX_FILTER_DEPTH, MAX_SEARCH_TERMS
from tests.conftest import MAIL, FulmarServer, free_port

LIMITS = Limits()
Row = tuple[str, str, float]


def cpu(fn: Callable[[], Any]) -> float:
    started = time.process_time()
    fn()
    return time.process_time() - started


def head(content_type: str = "text/plain; charset=utf-8", extra: str = "") -> bytes:
    return (
        "From: Ann <ann@example.com>\r\nTo: Bob <bob@example.com>\r\nSubject: worst case\r\n"
        "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <w@example.com>\r\n"
        f"{extra}MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n\r\n"
    ).encode()


def repeat(unit: bytes, octets: int) -> bytes:
    return unit * (octets // len(unit))


def nested(depth: int) -> bytes:
    out = b"innermost\r\n"
    for n in range(depth):
        out = (
            f'Content-Type: multipart/mixed; boundary="b{n}"\r\n\r\n--b{n}\r\n'.encode()
            + out
            + f"\r\n--b{n}--\r\n".encode()
        )
    return head("text/plain").replace(b"Content-Type: text/plain\r\n\r\n", b"") + out


def many_parts(parts: int, part_octets: int) -> bytes:
    body = b"".join(
        b"--p\r\nContent-Type: text/plain\r\n\r\n" + repeat(b"x", part_octets) + b"\r\n"
        for _ in range(parts)
    )
    return head('multipart/mixed; boundary="p"') + body + b"--p--\r\n"


def parse_cases(largest: int) -> Iterator[tuple[str, str, bytes]]:
    """(case, input size, message) at growing sizes up to the accepted maximums."""
    sizes = [s for s in (1_000_000, 10_000_000, largest) if s <= largest]
    for size in sizes:
        label = f"{size / 1e6:g} MB"
        yield "plain text body", label, head() + repeat(b"All work and no play. \r\n", size)
        yield "HTML of '<a ' repeated", label, head("text/html") + repeat(b"<a ", size)
        yield "HTML of nested tags", label, head("text/html") + repeat(b"<b><i>x", size)
        yield (
            "charset=punycode label",
            label,
            head("text/plain; charset=punycode") + repeat(b"abc-def ", size),
        )
        yield (
            "base64 body",
            label,
            head(extra="Content-Transfer-Encoding: base64\r\n")
            + repeat(b"QWxsIHdvcmsgYW5kIG5vIHBsYXku\r\n", size),
        )
        yield "combining marks", label, head() + repeat("a\u0301\u0302\u0303".encode() * 50, size)
    field = bounds.MAX_FIELD_OCTETS
    subject = "Subject: " + "[a] " * (field // 4)
    yield (
        "Subject of '[a] ' (one field)",
        f"{field:,} octets",
        head().replace(b"Subject: worst case", subject.encode()),
    )
    fields = "".join(f"X-F{n}: " + "=?utf-8?q?a?= " * (field // 16) + "\r\n" for n in range(600))
    yield "600 encoded-word fields of 64 KiB", f"{len(fields) / 1e6:.0f} MB", head(extra=fields)
    yield "multipart depth", f"{bounds.MAX_DEPTH + 10} levels", nested(bounds.MAX_DEPTH + 10)
    yield "parts", f"{bounds.MAX_PARTS + 100} parts", many_parts(bounds.MAX_PARTS + 100, 100)


def parse_rows(largest: int) -> list[Row]:
    rows = []
    for case, size, raw in parse_cases(largest):
        rows.append(("parse_message: " + case, size, cpu(lambda r=raw: parse_message(r))))
        print(f"  {rows[-1][0]:<58} {size:>16} {rows[-1][2]:8.2f} s", flush=True)
    return rows


class Api:
    """A JMAP client measuring the server's CPU time per request."""

    def __init__(self, server: FulmarServer) -> None:
        assert server.process is not None
        self.pid = server.process.pid
        self.http = httpx.Client(base_url=server.url, auth=(ADDRESS, PASSWORD), timeout=900)
        self.account = self.http.get("/.well-known/jmap").json()["primaryAccounts"][MAIL]

    def post(self, calls: list[list[Any]]) -> list[Any]:
        response = self.http.post("/jmap/api/", json={"using": USING, "methodCalls": calls})
        assert response.status_code == 200, response.text[:300]
        return response.json()["methodResponses"]

    def call(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        ((got, result, _),) = self.post([[name, {"accountId": self.account, **args}, "c"]])
        assert got == name, result
        return result

    def measure(self, name: str, args: dict[str, Any], rounds: int = 2) -> float:
        best = float("inf")
        for _ in range(rounds):
            before = server_cpu(self.pid)
            self.call(name, args)
            best = min(best, server_cpu(self.pid) - before)
        return best

    def upload(self, raw: bytes) -> str:
        response = self.http.post(
            f"/jmap/upload/{self.account}/", content=raw, headers={"Content-Type": "message/rfc822"}
        )
        return response.json()["blobId"]

    def import_all(self, raws: list[bytes]) -> list[str]:
        inbox = next(
            m["id"] for m in self.call("Mailbox/get", {"ids": None})["list"] if m["role"] == "inbox"
        )
        ids = []
        for start in range(0, len(raws), 100):
            emails = {
                f"k{n}": {"blobId": self.upload(raw), "mailboxIds": {inbox: True}}
                for n, raw in enumerate(raws[start : start + 100])
            }
            created = self.call("Email/import", {"emails": emails})["created"]
            ids += [created[f"k{n}"]["id"] for n in range(len(emails))]
        return ids


def many_matches(n: int) -> bytes:
    return head(extra="").replace(b"worst case", f"manymatch {n}".encode()) + b"aa " * 5400


def long_unmatched(n: int) -> bytes:
    """A 1 MB body (what the index keeps) the search terms are not in: its snippet is looked
    for in every piece of the body."""
    body = " ".join(f"w{k % 977}" for k in range(200_000)).encode()[:1_000_000]
    return head().replace(b"worst case", f"longbody {n}".encode()) + body


def api_rows(api: Api, words: list[str], extra: int) -> list[Row]:
    rows: list[Row] = []

    def row(case: str, size: str, name: str, args: dict[str, Any]) -> None:
        rows.append((case, size, api.measure(name, args)))
        print(f"  {case:<58} {size:>16} {rows[-1][2]:8.2f} s", flush=True)

    ids = api.call("Email/query", {"limit": LIMITS.max_objects_in_get})["ids"]
    most, headers = MAX_FILTER_CONDITIONS - 1, LIMITS.max_header_conditions
    two = " ".join(w[:2] for w in words[:MAX_SEARCH_TERMS])

    def any_of(conditions: list[dict[str, Any]]) -> dict[str, Any]:
        return {"operator": "OR", "conditions": conditions}

    total = {"calculateTotal": True, "limit": 50}
    for n in (16, most):
        text = any_of([{"text": w} for w in words[:n]])
        row("Email/query total: OR of text prefixes", f"{n} terms", "Email/query",
            {"filter": text, **total})  # fmt: skip
    row("Email/query total: two-letter prefixes, one text", f"{MAX_SEARCH_TERMS} terms",
        "Email/query", {"filter": {"text": two}, **total})  # fmt: skip
    subject_any = any_of([{"header": ["Subject", w]} for w in words[:headers]])
    row("Email/query total: OR of Subject contains", f"{headers} conds", "Email/query",
        {"filter": subject_any, **total})  # fmt: skip
    names = ["Subject", "From", "To", "Date", "Message-ID", "MIME-Version", "Content-Type"]
    all_of = {
        "operator": "AND",
        "conditions": [{"header": [names[n % len(names)], "e"]} for n in range(headers)],
    }
    row("Email/query total: AND of header contains, 7 names", f"{headers} conds",
        "Email/query", {"filter": all_of, **total})  # fmt: skip
    deep: dict[str, Any] = {"text": words[0]}
    for level in range(MAX_FILTER_DEPTH - 1):
        op = "NOT" if level % 2 else "OR"
        deep = {"operator": op, "conditions": [deep, {"text": words[level + 1]}]}
    row("Email/query collapseThreads: deep text filter", f"depth {MAX_FILTER_DEPTH}",
        "Email/query", {"filter": deep, "collapseThreads": True, **total})  # fmt: skip
    keywords = any_of([{"hasKeyword": f"k{n}"} for n in range(most)])
    row("Email/query total: OR of keywords", f"{most} conds", "Email/query",
        {"filter": keywords, **total})  # fmt: skip
    sort = [{"property": p} for p in ("subject", "from", "to", "size", "sentAt")] * 8
    sort.append({"property": "allInThreadHaveKeyword", "keyword": "$seen"})
    row("Email/query collapseThreads: 41 comparators", "all messages", "Email/query",
        {"sort": sort, "collapseThreads": True, **total})  # fmt: skip
    thread_sort = [{"property": "allInThreadHaveKeyword", "keyword": "$seen"}]
    row("Email/query: allInThreadHaveKeyword sort", "all messages", "Email/query",
        {"sort": thread_sort, **total})  # fmt: skip
    for n in (16, most):
        text = any_of([{"text": w} for w in words[:n]])
        row("SearchSnippet/get: OR of text prefixes", f"500 ids x {n}", "SearchSnippet/get",
            {"filter": text, "emailIds": ids})  # fmt: skip
    row("SearchSnippet/get: two-letter prefixes, one text", f"500 ids x {MAX_SEARCH_TERMS}",
        "SearchSnippet/get", {"filter": {"text": two}, "emailIds": ids})  # fmt: skip
    two_any = any_of([{"text": w[:2]} for w in words[:most]])
    row("SearchSnippet/get: OR of two-letter prefixes", f"500 ids x {most}", "SearchSnippet/get",
        {"filter": two_any, "emailIds": ids})  # fmt: skip
    matches = api.import_all([many_matches(n) for n in range(extra)])
    row("SearchSnippet/get: bodies of 5,400 matches each", f"{extra} ids x 1",
        "SearchSnippet/get", {"filter": {"text": "aa"}, "emailIds": matches})  # fmt: skip
    prefixes = " ".join("a" * k for k in range(1, 3))
    row("SearchSnippet/get: ...and nested prefixes a, aa", f"{extra} ids x 2",
        "SearchSnippet/get", {"filter": {"text": prefixes}, "emailIds": matches})  # fmt: skip
    count = max(1, extra // 10)
    longs = api.import_all([long_unmatched(n) for n in range(count)])
    row("SearchSnippet/get: 1 MB bodies matched by subject", f"{count} ids",
        "SearchSnippet/get", {"filter": {"text": "longbody"}, "emailIds": longs})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--largest", type=int, default=LIMITS.max_size_email)
    parser.add_argument("--extra", type=int, default=500, help="messages made costly to highlight")
    parser.add_argument("--reuse", type=Path, help="a data directory of an earlier --keep")
    parser.add_argument("--keep", type=Path, help="leave the data directory here")
    parser.add_argument("--skip-parse", action="store_true")
    args = parser.parse_args()
    rows: list[Row] = []
    if not args.skip_parse:
        print("parsing (in-process CPU)", flush=True)
        rows += parse_rows(args.largest)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        if args.reuse:
            shutil.copytree(args.reuse, data_dir)
        else:
            data_dir.mkdir()
            mbox = Path(tmp) / "inbox.mbox"
            generate(mbox, args.messages)
            asyncio.run(import_mailbox(data_dir, mbox))
        print("search, snippets, queries (server CPU per request, least of 2)", flush=True)
        server = FulmarServer(data_dir, free_port())
        server.start()
        try:
            rng = random.Random(1)
            words = [f"w{n}x{rng.randrange(10**6)}"[:6] for n in range(5000)][::7]
            rows += api_rows(Api(server), words, args.extra)
        finally:
            server.stop()
            if args.keep:
                shutil.copytree(data_dir, args.keep, dirs_exist_ok=True)
    print()
    print(f"| {'case':<58} | {'input':>16} | {'CPU s':>7} |")
    print(f"|{'-' * 60}|{'-' * 18}|{'-' * 9}|")
    for case, size, seconds in rows:
        print(f"| {case:<58} | {size:>16} | {seconds:7.2f} |")


if __name__ == "__main__":
    main()
