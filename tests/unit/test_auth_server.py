"""The login throttle and forwarded headers, end to end against a real server (issue 7.19).

Everything talks to 127.0.0.1; the forwarded addresses are loopback ones too (only written
into headers, never contacted).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.push.pushkit import PASSWORD, Node, provision

ALICE, BOB, CAROL, DAVE = (
    "alice@example.com",
    "bob@example.com",
    "carol@example.com",
    "dave@example.com",
)


def start(tmp_path: Path, settings: str = "") -> tuple[Node, dict[str, str]]:
    tokens = provision(tmp_path)
    config = tmp_path / "fulmar.toml"
    config.write_text(settings)
    node = Node(tmp_path, config)
    node.start()
    return node, tokens


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[Node, dict[str, str]]]:
    node, tokens = start(tmp_path, "auth_failures_allowed = 3\nauth_address_failures_allowed = 8\n")
    yield node, tokens
    node.stop()
    assert "Traceback" not in node.log(), node.log()


def session(node: Node, **kwargs) -> httpx.Response:
    return httpx.get(f"{node.url}/.well-known/jmap", timeout=30, **kwargs)


def test_a_locked_out_login_does_not_lock_out_others_at_the_same_address(node):
    node, tokens = node
    for _ in range(3):
        assert session(node, auth=(ALICE, "guess")).status_code == 401
    refused = session(node, auth=(ALICE, PASSWORD))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    # bob behind the same address still gets in with his password, alice with her token
    assert session(node, auth=(BOB, PASSWORD)).status_code == 200
    bearer = {"Authorization": f"Bearer {tokens[ALICE]}"}
    assert session(node, headers=bearer).status_code == 200


def test_a_valid_token_is_never_refused_even_when_the_address_is_throttled(node):
    node, tokens = node
    for n in range(8):  # every login under its own limit, the address over its limit
        assert session(node, auth=(f"user{n}@example.com", "guess")).status_code == 401
    assert session(node, auth=(CAROL, PASSWORD)).status_code == 429
    bearer = {"Authorization": f"Bearer {tokens[CAROL]}"}
    assert session(node, headers=bearer).status_code == 200
    url = f"{node.url}/jmap/eventsource/?access_token={tokens[DAVE]}"
    with httpx.stream("GET", url, timeout=30) as stream:
        assert stream.status_code == 200


def test_forwarded_for_from_an_untrusted_peer_is_ignored(node):
    """By default no proxy is trusted: X-Forwarded-For neither moves the throttle's key nor
    what the access log records."""
    node, _ = node
    for n in range(8):
        spoofed = {"X-Forwarded-For": f"127.0.0.{10 + n}"}
        assert session(node, auth=(f"user{n}@example.com", "x"), headers=spoofed).status_code == 401
    spoofed = {"X-Forwarded-For": "127.0.0.99"}
    assert session(node, auth=(CAROL, PASSWORD), headers=spoofed).status_code == 429
    assert access_log_client(node, "127.0.0.99", BOB) == "127.0.0.1"


def test_forwarded_for_from_a_trusted_proxy_is_the_client(tmp_path):
    node, _ = start(tmp_path, 'trusted_proxies = ["127.0.0.0/8"]\n')
    try:
        assert access_log_client(node, "127.0.0.42", BOB) == "127.0.0.42"
    finally:
        node.stop()


def access_log_client(node: Node, forwarded: str, login: str) -> str:
    """Make a request with ``X-Forwarded-For: forwarded``; the client its log line records."""
    marker = f"/jmap/download/none/x{time.time_ns()}/n"
    httpx.get(node.url + marker, auth=(login, PASSWORD), headers={"X-Forwarded-For": forwarded})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in node.log().splitlines():
            if marker in line and line.startswith("{"):
                entry = json.loads(line)
                if entry.get("logger") == "fulmar.access":
                    return entry["client"]
        time.sleep(0.05)
    raise AssertionError(f"no access log line for {marker}:\n{node.log()}")
