"""EventSource (RFC 8620 §7.3) against the running server, read with httpx streaming."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from tests.push.pushkit import PASSWORD, Node, provision

BOB = "bob@example.com"


class Stream:
    """An open EventSource response, parsed into events ({"event", "id", "data"} or
    {"comment"}); ``next`` returns None at the end of the stream."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.aiter_lines()

    async def next(self, timeout: float = 10) -> dict[str, Any] | None:
        event: dict[str, Any] = {}
        async with asyncio.timeout(timeout):
            async for line in self.lines:
                if line.startswith(":"):
                    return {"comment": line[1:].strip()}
                if line == "":
                    if event:
                        return event
                    continue
                name, _, value = line.partition(":")
                event[name] = value.removeprefix(" ")
        return event or None

    async def next_event(self, kind: str, timeout: float = 10) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                event = await self.next(timeout)
                assert event is not None, "the stream ended"
                if event.get("event") == kind:
                    return event


@asynccontextmanager
async def open_stream(
    url: str, params: dict[str, str], headers: dict[str, str] | None = None, auth: Any = None
) -> AsyncIterator[Stream]:
    async with (
        httpx.AsyncClient(timeout=10) as http,
        http.stream(
            "GET", url + "/jmap/eventsource/", params=params, headers=headers, auth=auth
        ) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = Stream(response)
        assert await stream.next() == {"comment": "ready"}
        yield stream


ALL = {"types": "*", "closeafter": "no", "ping": "0"}


def test_authentication_is_required(push_server):
    url = push_server.node.url + "/jmap/eventsource/"
    assert httpx.get(url, params=ALL).status_code == 401
    bad = httpx.get(url, params={**ALL, "access_token": "fmt_wrong"})
    assert bad.status_code == 401


@pytest.mark.parametrize(
    "params",
    [
        {"types": "Mailbox,", "closeafter": "no", "ping": "0"},
        {"types": "*", "closeafter": "maybe", "ping": "0"},
        {"types": "*", "closeafter": "no", "ping": "-1"},
        {"types": "*", "closeafter": "no", "ping": "soon"},
        {"types": "*", "closeafter": "no", "ping": "\u00b2"},
    ],
)
def test_bad_parameters(push_server, params):
    response = httpx.get(
        push_server.node.url + "/jmap/eventsource/", params=params, auth=(BOB, PASSWORD)
    )
    assert response.status_code == 400


def test_state_events_and_last_event_id(push_server):
    node = push_server.node
    client = node.client(BOB)
    account = client.account_id

    async def go():
        async with open_stream(node.url, ALL, auth=(BOB, PASSWORD)) as stream:
            _, state = await asyncio.to_thread(client.create_mailbox, "SSE one")
            event = await stream.next_event("state")
            assert json.loads(event["data"]) == {
                "@type": "StateChange",
                "changed": {account: {"Mailbox": state}},
            }
            last_id = event["id"]
            assert last_id
        # missed while disconnected
        await asyncio.to_thread(client.create_mailbox, "SSE missed 1")
        _, missed = await asyncio.to_thread(client.create_mailbox, "SSE missed 2")
        params = {**ALL, "closeafter": "state"}
        headers = {"Last-Event-ID": last_id}
        async with open_stream(node.url, params, headers, (BOB, PASSWORD)) as stream:
            event = await stream.next_event("state")
            assert json.loads(event["data"])["changed"] == {account: {"Mailbox": missed}}
            assert event["id"] != last_id
            assert await stream.next() is None  # closeafter=state ends the response

    asyncio.run(go())


def test_closeafter_state_with_browser_auth(push_server):
    node = push_server.node
    client = node.client(BOB)
    params = {"types": "Mailbox", "closeafter": "state", "ping": "0"}
    params["access_token"] = push_server.tokens[BOB]

    async def go():
        async with open_stream(node.url, params) as stream:
            _, state = await asyncio.to_thread(client.create_mailbox, "SSE token")
            event = await stream.next_event("state")
            assert json.loads(event["data"])["changed"] == {client.account_id: {"Mailbox": state}}
            assert await stream.next() is None

    asyncio.run(go())


def test_types_filter(push_server):
    node = push_server.node
    client = node.client(BOB)
    params = {"types": "Email,Thread", "closeafter": "no", "ping": "0"}

    async def go():
        async with open_stream(node.url, params, auth=(BOB, PASSWORD)) as stream:
            await asyncio.to_thread(client.create_mailbox, "SSE filtered")
            with pytest.raises(TimeoutError):
                await stream.next_event("state", timeout=1.0)

    asyncio.run(go())


def test_ping_is_clamped_and_reports_its_interval(push_server):
    node = push_server.node
    # the test server allows pings from 2 s (eventsource_ping_min); 1 is raised to 2
    params = {"types": "*", "closeafter": "no", "ping": "1"}

    async def go():
        async with open_stream(node.url, params, auth=(BOB, PASSWORD)) as stream:
            ping = await stream.next_event("ping", timeout=10)
            assert json.loads(ping["data"]) == {"interval": 2}
            assert "id" not in ping  # pings set no event id

    asyncio.run(go())


def test_shutdown_ends_open_streams(tmp_path):
    """A graceful shutdown ends EventSource responses instead of waiting for them."""
    tokens = provision(tmp_path, ("erin@example.com",))
    node = Node(tmp_path)
    node.start()

    async def go():
        params = {**ALL, "access_token": tokens["erin@example.com"]}
        async with open_stream(node.url, params) as stream:
            node.process.send_signal(signal.SIGTERM)
            assert await stream.next(timeout=8) is None

    try:
        asyncio.run(go())
        # uvicorn re-raises the SIGTERM it handled once it has shut down
        assert node.process.wait(timeout=8) in (0, -signal.SIGTERM)
    finally:
        node.stop()
    assert "Traceback" not in node.log(), node.log()
