"""No request stalls another (issues 8.2 and 8.3), shown by ordering over real sockets.

A hostile request (a huge Email/import, a long Email/set) starts; once the server
shows it in flight (``fulmar_http_in_flight`` on /metrics), another user's /healthz,
Mailbox/set and Mailbox/get must be answered while it is still running: its response must
not have arrived yet. The hostile inputs are big enough to run for seconds however fast the
parsers get, against milliseconds for the other user's calls; nothing here measures time.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import Client, FulmarServer, start_server

#: the server serves /metrics on its public listener only with this token
METRICS_TOKEN = "liveness-metrics-token"

#: 40 MB of plain text: parsing it is linear, and still takes seconds (max_size_email: 50 MB)
HUGE_BODY = b"All work and no play makes Jack a dull boy.\r\n" * 900_000


def huge_message() -> bytes:
    head = (
        "From: Ann <ann@example.com>\r\nTo: Bob <bob@example.com>\r\nSubject: huge\r\n"
        "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <huge@example.com>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    return head.encode() + HUGE_BODY


class BearerToken(httpx.Auth):
    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request):
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


def upload(client: Client, raw: bytes) -> str:
    response = client.http.post(
        f"/jmap/upload/{client.account_id}/",
        content=raw,
        headers={"Content-Type": "message/rfc822"},
    )
    assert response.status_code == 201, response.text
    return response.json()["blobId"]


def inbox(client: Client) -> str:
    listed = client.ok("Mailbox/get", {"ids": None, "properties": ["role"]})["list"]
    return next(m["id"] for m in listed if m["role"] == "inbox")


class Hostile:
    """A request running in a thread of its own; ``done`` is set when its answer is in."""

    def __init__(self, send: Callable[[], Any]) -> None:
        self.done = threading.Event()
        self.result: Any = None
        self._send = send
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.result = self._send()
        finally:
            self.done.set()

    def start(self, server: FulmarServer, observer: Client) -> None:
        """Send it, and return once the server has it in flight (or it is already done)."""
        self._thread.start()
        while not self.done.is_set():
            metrics = observer.http.get(
                f"{server.url}/metrics", auth=BearerToken(METRICS_TOKEN)
            ).text
            in_flight = re.search(r"^fulmar_http_in_flight (\S+)$", metrics, re.M)
            assert in_flight is not None, metrics
            if float(in_flight.group(1)) >= 2:  # this /metrics request and the hostile one
                return

    def join(self) -> Any:
        self._thread.join(120)
        assert self.done.is_set()
        return self.result


def answered_while_running(hostile: Hostile, server: FulmarServer, bob: Client) -> None:
    """Bob's calls, each answered before the hostile request is. Three rounds, so that some
    land on the hostile request's heavy part however long its light start takes."""
    for round_ in range(3):
        health = bob.http.get(f"{server.url}/healthz")
        assert health.status_code == 200 and not hostile.done.is_set(), "healthz waited"
        created = bob.ok("Mailbox/set", {"create": {"b": {"name": f"Bob {round_}"}}})
        assert created["created"] and not hostile.done.is_set(), "Bob's write waited"
        listed = bob.ok("Mailbox/get", {"ids": None, "properties": ["name"]})
        assert listed["list"] and not hostile.done.is_set(), "Bob's read waited"
    bob.ok(
        "Mailbox/set",
        {"destroy": [m["id"] for m in listed["list"] if m["name"].startswith("Bob ")]},
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    server = start_server(
        tmp_path_factory.mktemp("liveness"), env={"FULMAR_METRICS_TOKEN": METRICS_TOKEN}
    )
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()


def test_a_huge_import_does_not_stall_another_user(server):
    """Issue 8.2: parsing ran on the event loop, inside the write lock. RFC 8621 §4.8."""
    alice, bob = server.client("alice@example.com"), server.client("bob@example.com")
    alice.http.timeout = bob.http.timeout = 120
    blob_id = upload(alice, huge_message())
    emails = {"huge": {"blobId": blob_id, "mailboxIds": {inbox(alice): True}}}
    hostile = Hostile(lambda: alice.ok("Email/import", {"emails": emails}))
    hostile.start(server, bob)
    answered_while_running(hostile, server, bob)
    result = hostile.join()
    assert set(result["created"]) == {"huge"}, result


def test_slow_email_creates_do_not_stall_another_users_writes(server):
    """Issue 8.3: one write lock for all accounts was held for whole methods, so Bob's
    one-Mailbox create waited for Alice's long method. Alice's Email/set builds and parses
    ten messages of 4 MB each (in the worker pool, holding only her account's lock) while
    Bob writes to his account (RFC 8621 §4.6). (A 500-Mailbox Mailbox/set is the issue's
    example, but it now takes too little time, about 0.4 s, to be reliably still running.)"""
    alice, bob = server.client("alice@example.com"), server.client("bob@example.com")
    alice.http.timeout = bob.http.timeout = 120
    attachment = alice.http.post(
        f"/jmap/upload/{alice.account_id}/",
        content=HUGE_BODY[: 4 * 1024 * 1024],
        headers={"Content-Type": "text/plain"},
    ).json()["blobId"]
    box = inbox(alice)
    create = {
        f"e{n}": {
            "mailboxIds": {box: True},
            "subject": f"Report {n}",
            "bodyStructure": {
                "type": "multipart/mixed",
                "subParts": [
                    {"partId": "t", "type": "text/plain"},
                    {"blobId": attachment, "type": "text/plain", "name": "report.txt"},
                ],
            },
            "bodyValues": {"t": {"value": "See the attached report."}},
        }
        for n in range(10)
    }
    hostile = Hostile(lambda: alice.ok("Email/set", {"create": create}))
    hostile.start(server, bob)
    answered_while_running(hostile, server, bob)
    result = hostile.join()
    assert len(result["created"]) == 10, result
