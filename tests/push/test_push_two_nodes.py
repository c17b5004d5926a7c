"""Two nodes sharing one data directory and a real Redis: a change made through node A
reaches WebSocket and EventSource clients of node B (no sticky sessions)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.push.pushkit import PASSWORD, JmapSocket, Node, provision

ALICE = "alice@example.com"


@dataclass
class Cluster:
    a: Node
    b: Node
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, redis_server) -> Iterator[Cluster]:
    data_dir = tmp_path_factory.mktemp("cluster")
    tokens = provision(data_dir, (ALICE,))
    nodes = [Node(data_dir, extra_args=["--redis-url", redis_server.url]) for _ in range(2)]
    try:
        for node in nodes:
            node.start()
        yield Cluster(nodes[0], nodes[1], tokens)
    finally:
        for node in nodes:
            node.stop()
    for node in nodes:
        assert "Traceback" not in node.log(), node.log()


def test_change_on_node_a_reaches_a_websocket_on_node_b(cluster):
    client_a = cluster.a.client(ALICE)

    async def go():
        async with await JmapSocket.open(cluster.b, ALICE) as ws:
            await ws.enable_push()
            _, state = await asyncio.to_thread(client_a.create_mailbox, "Made on A")
            change = await ws.next_type("StateChange")
            assert change["changed"] == {client_a.account_id: {"Mailbox": state}}
            # and B's own view agrees
            response = await ws.request(
                [["Mailbox/get", {"accountId": client_a.account_id, "ids": []}, "g"]]
            )
            assert response["methodResponses"][0][1]["state"] == state

    asyncio.run(go())


def test_change_on_node_a_reaches_an_eventsource_on_node_b(cluster):
    client_a = cluster.a.client(ALICE)

    async def go():
        params = {"types": "*", "closeafter": "state", "ping": "0"}
        async with (
            httpx.AsyncClient(timeout=10, auth=(ALICE, PASSWORD)) as http,
            http.stream("GET", cluster.b.url + "/jmap/eventsource/", params=params) as response,
        ):
            lines = response.aiter_lines()
            assert await anext(lines) == ": ready"
            _, state = await asyncio.to_thread(client_a.create_mailbox, "Also made on A")
            async with asyncio.timeout(10):
                async for line in lines:
                    if line.startswith("data:"):
                        change = json.loads(line[5:])
                        break
            assert change["changed"] == {client_a.account_id: {"Mailbox": state}}

    asyncio.run(go())


def test_cli_default_refuses_local_receivers(cluster):
    """Without push_allow_local_http (off by default) an http://127.0.0.1 url is refused."""
    client = cluster.a.client(ALICE)
    result = client.ok(
        "PushSubscription/set",
        {"create": {"s": {"deviceClientId": "d", "url": "http://127.0.0.1:9/push"}}},
    )
    assert result["notCreated"]["s"]["properties"] == ["url"]
