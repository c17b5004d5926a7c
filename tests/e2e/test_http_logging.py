"""Logs: WebSocket handshakes in the access log, and the log level of ``fulmar serve``."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
import websockets

from tests.conftest import start_server


def access_lines(server, path: str) -> list[dict]:
    lines = [json.loads(x) for x in server.log().splitlines() if x.startswith("{")]
    return [x for x in lines if x.get("logger") == "fulmar.access" and x.get("path") == path]


def test_websocket_handshakes_are_logged_like_requests(server, alice):
    """Accepted (101) and refused (with their status and why) handshakes are access-log
    entries at info, with the user and the client; a refusal is no error."""
    url = f"ws://127.0.0.1:{server.port}/jmap/ws"
    auth = "Basic " + base64.b64encode(f"{alice.login}:{alice.password}".encode()).decode()

    async def go() -> None:
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(url, subprotocols=["jmap"]):
                pass
        assert refused.value.response.status_code == 401
        headers = {"Authorization": auth}
        async with websockets.connect(url, subprotocols=["jmap"], additional_headers=headers):
            pass

    asyncio.run(go())
    entries = access_lines(server, "/jmap/ws")
    refusal = next(x for x in entries if x["status"] == 401)
    assert refusal["level"] == "info"
    assert refusal["client"] == "127.0.0.1"
    assert refusal["detail"] == "Authentication required."
    accepted = next(x for x in entries if x["status"] == 101)
    assert accepted["level"] == "info" and accepted["user"] == alice.login
    assert accepted["client"] == "127.0.0.1"
    assert '"level":"error"' not in server.log()


def test_serve_takes_a_log_level(tmp_path):
    server = start_server(tmp_path / "d", extra_args=["--log-level", "warning"])
    try:
        alice = server.client("alice@example.com")
        assert alice.http.get("/healthz").status_code == 200
    finally:
        server.stop()
    assert access_lines(server, "/healthz") == []
    assert '"level":"info"' not in server.log()
