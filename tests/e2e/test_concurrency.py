"""maxConcurrentRequests and maxConcurrentUpload (RFC 8620 §2) are enforced per user."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.conftest import CORE, start_server


@pytest.fixture
def one_at_a_time(tmp_path):
    config = tmp_path / "f.toml"
    config.write_text("[limits]\nmax_concurrent_requests = 1\nmax_concurrent_upload = 1\n")
    server = start_server(tmp_path / "d", extra_args=["--config", str(config)])
    yield server
    server.stop()


def hold_a_slot(client, path: str, first: bytes, rest: bytes, release: threading.Event):
    """Start a request whose body trickles in until ``release`` is set; returns its thread."""
    result = {}

    def body():
        yield first
        release.wait(10)
        yield rest

    def run():
        result["response"] = client.http.post(
            path, content=body(), headers={"Content-Type": "application/json"}
        )

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def wait_for_status(send, status: int, seconds: float = 10) -> object:
    # Let the held request reach the server first: a probe that raced it to the single
    # slot would get the slot and leave the held request refused instead.
    time.sleep(0.5)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        response = send()
        if response.status_code == status:
            return response
        time.sleep(0.02)
    raise AssertionError(f"never got {status}")


def test_concurrent_api_requests_over_the_limit(one_at_a_time):
    alice = one_at_a_time.client("alice@example.com")
    bob = one_at_a_time.client("bob@example.com")
    body = json.dumps({"using": [CORE], "methodCalls": [["Core/echo", {"slow": 1}, "0"]]})
    release = threading.Event()
    thread, held = hold_a_slot(alice, "/jmap/api/", body[:20].encode(), body[20:].encode(), release)
    try:
        limited = wait_for_status(lambda: alice.request([["Core/echo", {}, "0"]]), 429)
        problem = limited.json()
        assert problem["type"] == "urn:ietf:params:jmap:error:limit"
        assert problem["limit"] == "maxConcurrentRequests"
        # the limit is per user: bob is not held up by alice
        assert bob.request([["Core/echo", {}, "0"]]).status_code == 200
    finally:
        release.set()
        thread.join(10)
    assert held["response"].json()["methodResponses"] == [["Core/echo", {"slow": 1}, "0"]]
    assert alice.request([["Core/echo", {}, "0"]]).status_code == 200


def test_concurrent_uploads_over_the_limit(one_at_a_time):
    alice = one_at_a_time.client("alice@example.com")
    path = f"/jmap/upload/{alice.account_id}/"
    release = threading.Event()
    thread, held = hold_a_slot(alice, path, b"a" * 100, b"b" * 100, release)
    try:
        limited = wait_for_status(lambda: alice.http.post(path, content=b"other"), 429)
        assert limited.json()["limit"] == "maxConcurrentUpload"
    finally:
        release.set()
        thread.join(10)
    assert held["response"].status_code == 201
    assert held["response"].json()["size"] == 200
    assert alice.http.post(path, content=b"other").status_code == 201
