"""Search figures: the worst CPU time per request of full-text queries and snippets, as
the input grows. Snippets are measured in-process (FTS5 ``snippet()`` on the index's own
table, then the preview HTML); queries over HTTP against a real server holding a generated
mailbox, as the server's CPU time (user + system, from /proc) per request.

    .venv/bin/python bench/search.py --messages 10000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.mail import ADDRESS, PASSWORD, USING, generate, import_mailbox
from jmap.store import fts
from jmap.store.fts_snippet import PREVIEW_CHARS, long_snippet, window
from methods.email_filter import MAX_FILTER_CONDITIONS, MAX_FILTER_DEPTH, MAX_SEARCH_TERMS
from methods.search_snippet import PREVIEW_OCTETS
from methods.snippet_html import highlight
from tests.conftest import MAIL, FulmarServer, free_port

TICKS = os.sysconf("SC_CLK_TCK")


def best_of(fn: Callable[[], Any], rounds: int = 3) -> float:
    """Least CPU seconds of this process (all threads) over a few runs of ``fn``."""
    times = []
    for _ in range(rounds):
        started = time.process_time()
        fn()
        times.append(time.process_time() - started)
    return min(times)


def snippet_figures() -> list[tuple[str, float, float]]:
    """(case, FTS5 snippet() ms, preview HTML ms) for bodies up to the 1 MB the index keeps."""
    rng = random.Random(1)
    words = [f"w{n}x{rng.randrange(10**6)}" for n in range(5000)]
    out = []
    for size in (10_000, 100_000, 1_000_000):
        bodies = {
            "one match": " ".join(rng.choices(words, k=size // 24))
            + " needle "
            + " ".join(rng.choices(words, k=size // 24)),
            "every word matches": "needle " * (size // 7),
            "one word": "n" * size,
            "marks and escapes": "needle <&> " * (size // 11),
        }
        for case, body in bodies.items():
            body = body[:size]
            conn = sqlite3.connect(":memory:")
            conn.executescript(fts.SCHEMA_SQL)
            fts.write(conn, 1, {"subject": "s", "body": body})
            if len(body) <= fts.SNIPPET_DIRECT_CHARS:
                expression = fts.snippet_expression({"text": "n"})
                sql = f"SELECT {fts.BODY_HIGHLIGHT} FROM mail_fts WHERE mail_fts MATCH ?"

                def snip(c=conn, s=sql, e=expression) -> str:
                    return window(c.execute(s, (e,)).fetchone()[0], "…", PREVIEW_CHARS)
            else:  # what the store does with a long text
                terms = fts.column_terms_expression({"text": "n"}, "body")

                def snip(b=body, t=terms) -> str:
                    return long_snippet(b, t, "…", PREVIEW_CHARS)

            marked = snip()
            snippet_s = best_of(snip)
            html_s = best_of(lambda m=marked: highlight(m, PREVIEW_OCTETS))
            # the worst a highlight can be given: the whole body marked, not FTS5's window
            whole_s = best_of(lambda b=body: highlight("\x01" + b + "\x02", PREVIEW_OCTETS))
            out.append((f"{case}, {size:,} chars", snippet_s * 1000, max(html_s, whole_s) * 1000))
    return out


def server_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def query_figures(url: str, pid: int, words: list[str]) -> list[tuple[str, float]]:
    """(case, server CPU ms per request: least of 3) for the largest filters allowed."""
    with httpx.Client(base_url=url, auth=(ADDRESS, PASSWORD), timeout=600) as http:
        account = http.get("/.well-known/jmap").json()["primaryAccounts"][MAIL]

        def call(name: str, args: dict[str, Any]) -> float:
            best = float("inf")
            for _ in range(3):
                before = server_cpu(pid)
                response = http.post(
                    "/jmap/api/",
                    json={
                        "using": USING,
                        "methodCalls": [[name, {"accountId": account, **args}, "c"]],
                    },
                )
                best = min(best, server_cpu(pid) - before)
                result = response.json()["methodResponses"][0]
                assert result[0] == name, result
            return best * 1000

        ids = http.post(
            "/jmap/api/",
            json={
                "using": USING,
                "methodCalls": [["Email/query", {"accountId": account, "limit": 500}, "q"]],
            },
        ).json()["methodResponses"][0][1]["ids"]

        def any_of(n: int, field: str = "text") -> dict[str, Any]:
            return {"operator": "OR", "conditions": [{field: w} for w in words[:n]]}

        def deep() -> dict[str, Any]:
            node: dict[str, Any] = {"text": words[0]}
            for level in range(MAX_FILTER_DEPTH - 1):
                node = {
                    "operator": "NOT" if level % 2 else "OR",
                    "conditions": [node, {"text": words[level + 1]}],
                }
            return node

        most = MAX_FILTER_CONDITIONS - 1
        many_words = " ".join(w[:2] for w in words[:MAX_SEARCH_TERMS])
        cases: list[tuple[str, str, dict[str, Any]]] = []
        for n in (1, 16, 64, most):
            cases.append(
                (
                    f"Email/query total, OR of {n} text prefixes",
                    "Email/query",
                    {"filter": any_of(n), "calculateTotal": True, "limit": 50},
                )
            )
        cases += [
            (
                f"Email/query total, OR of {most} header contains",
                "Email/query",
                {
                    "filter": {
                        "operator": "OR",
                        "conditions": [{"header": ["Subject", w]} for w in words[:most]],
                    },
                    "calculateTotal": True,
                    "limit": 50,
                },
            ),
            (
                f"Email/query, {MAX_SEARCH_TERMS} two-letter prefixes in one text",
                "Email/query",
                {
                    "filter": {"text": many_words},
                    "calculateTotal": True,
                    "limit": 50,
                },
            ),
            (
                f"Email/query collapseThreads, depth {MAX_FILTER_DEPTH}",
                "Email/query",
                {"filter": deep(), "collapseThreads": True, "calculateTotal": True, "limit": 50},
            ),
            (
                f"SearchSnippet/get 500 ids, OR of {most} text prefixes",
                "SearchSnippet/get",
                {"filter": any_of(most), "emailIds": ids},
            ),
            (
                f"SearchSnippet/get 500 ids, {MAX_SEARCH_TERMS} two-letter prefixes",
                "SearchSnippet/get",
                {"filter": {"text": many_words}, "emailIds": ids},
            ),
        ]
        return [(case, call(name, args)) for case, name, args in cases]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    print("snippets (in-process CPU, least of 3)")
    for case, snippet_ms, html_ms in snippet_figures():
        print(f"  {case:<40} snippet {snippet_ms:9.2f} ms   preview HTML {html_ms:7.2f} ms")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        mbox, data_dir = root / "inbox.mbox", root / "data"
        data_dir.mkdir()
        generate(mbox, args.messages)
        imported, _ = asyncio.run(import_mailbox(data_dir, mbox))
        print(f"queries on {imported:,} messages (server CPU per request, least of 3)")
        server = FulmarServer(data_dir, free_port())
        server.start()
        try:
            rng = random.Random(1)
            words = [f"w{n}x{rng.randrange(10**6)}"[:6] for n in range(5000)][::7]
            assert server.process is not None
            for case, ms in query_figures(server.url, server.process.pid, words):
                print(f"  {case:<62} {ms:9.1f} ms")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
