"""JMAP over WebSocket (RFC 8887) against the running server, with the ``websockets`` client."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from jmap.auth import hash_password
from jmap.store.sqlite import SqliteDataStore
from tests.push.pushkit import (
    CORE,
    FULMAR,
    PASSWORD,
    USING,
    WEBSOCKET,
    JmapSocket,
    Node,
    basic,
    provision,
)

ALICE = "alice@example.com"
ERR = "urn:ietf:params:jmap:error:"


def run(coro):
    return asyncio.run(coro)


def test_session_advertises_the_websocket(push_server):
    session = push_server.node.client(ALICE).session
    capability = session["capabilities"][WEBSOCKET]
    assert capability == {"url": push_server.node.ws_url, "supportsPush": True}


def test_handshake_needs_the_jmap_subprotocol(push_server):
    async def go():
        headers = {"Authorization": basic(ALICE)}
        with pytest.raises(InvalidStatus) as caught:
            await connect(push_server.node.ws_url, additional_headers=headers)
        assert caught.value.response.status_code == 400
        async with connect(
            push_server.node.ws_url,
            subprotocols=[Subprotocol("jmap")],
            additional_headers=headers,
        ) as ws:
            assert ws.subprotocol == "jmap"

    run(go())


@pytest.mark.parametrize(
    "headers, query",
    [
        ({}, ""),
        ({"Authorization": basic(ALICE, "wrong-password")}, ""),
        ({"Authorization": "Bearer fmt_not-a-token"}, ""),
        ({}, "?access_token=fmt_not-a-token"),
    ],
)
def test_handshake_without_valid_credentials_is_refused(push_server, headers, query):
    async def go():
        with pytest.raises(InvalidStatus) as caught:
            await connect(
                push_server.node.ws_url + query,
                subprotocols=[Subprotocol("jmap")],
                additional_headers=headers,
            )
        assert caught.value.response.status_code == 401

    run(go())


def test_request_and_response_carry_the_id(push_server):
    async def go():
        async with await JmapSocket.open(push_server.node, ALICE) as ws:
            response = await ws.request([["Core/echo", {"hello": True}, "c1"]], "req-1")
            assert response["@type"] == "Response"
            assert response["requestId"] == "req-1"
            assert response["methodResponses"] == [["Core/echo", {"hello": True}, "c1"]]
            assert response["sessionState"] == push_server.node.client(ALICE).session["state"]
            # without an id, the Response has no requestId
            await ws.send({"@type": "Request", "using": USING, "methodCalls": []})
            plain = await ws.next_type("Response")
            assert "requestId" not in plain

    run(go())


def test_browser_auth_with_access_token(push_server):
    async def go():
        token = push_server.tokens[ALICE]
        async with await JmapSocket.open(push_server.node, token=token) as ws:
            response = await ws.request([["Mailbox/get", {"accountId": account}, "c"]])
            assert response["methodResponses"][0][0] == "Mailbox/get"
        # the server's logs show the path, but not the token
        assert "access_token=REDACTED" in push_server.node.log()
        assert push_server.tokens[ALICE] not in push_server.node.log()

    account = push_server.node.client(ALICE).account_id
    run(go())


def test_request_errors(push_server):
    async def go():
        async with await JmapSocket.open(push_server.node, ALICE) as ws:
            await ws.send("{not json")
            error = await ws.next_type("RequestError")
            assert error["type"] == ERR + "notJSON" and error["status"] == 400

            await ws.send("[1, 2]")
            assert (await ws.next_type("RequestError"))["type"] == ERR + "notRequest"

            await ws.send({"@type": "Request", "id": "no-calls", "using": USING})
            error = await ws.next(lambda m: m.get("requestId") == "no-calls")
            assert error["@type"] == "RequestError" and error["type"] == ERR + "notRequest"

            error = await ws.request([["Core/echo", {}, "c"]], "unknown", using=[CORE, "urn:x"])
            assert error["@type"] == "RequestError"
            assert error["type"] == ERR + "unknownCapability"

            calls = [["Core/echo", {}, f"c{i}"] for i in range(17)]
            error = await ws.request(calls, "too-many")
            assert error["type"] == ERR + "limit" and error["limit"] == "maxCallsInRequest"

            big = {"@type": "Request", "id": "big", "using": USING, "methodCalls": []}
            big["padding"] = "x" * 100_001
            await ws.send(big)
            error = await ws.next_type("RequestError")
            assert error["type"] == ERR + "limit" and error["limit"] == "maxSizeRequest"

            await ws.send({"@type": "Nonsense", "id": "odd"})
            error = await ws.next(lambda m: m.get("requestId") == "odd")
            assert error["type"] == ERR + "notRequest"

            await ws.send({"@type": "WebSocketPushEnable", "dataTypes": "Mailbox"})
            assert (await ws.next_type("RequestError"))["type"] == ERR + "notRequest"

            # the connection survives all of that
            response = await ws.request([["Core/echo", {"still": "here"}, "c"]], "last")
            assert response["methodResponses"][0][1] == {"still": "here"}

    run(go())


def test_binary_frames_close_the_connection(push_server):
    async def go():
        async with await JmapSocket.open(push_server.node, ALICE) as ws:
            await ws.send(b"\x00\x01")
            with pytest.raises(ConnectionClosed) as caught:
                await asyncio.wait_for(ws.ws.recv(), 10)
            assert caught.value.rcvd is not None and caught.value.rcvd.code == 1003

    run(go())


def test_push_of_a_change_made_over_http(push_server):
    client = push_server.node.client(ALICE)

    async def go():
        async with await JmapSocket.open(push_server.node, ALICE) as ws:
            await ws.enable_push()
            _, new_state = await asyncio.to_thread(client.create_mailbox, "Pushed over WS")
            change = await ws.next_type("StateChange")
            assert change["changed"] == {client.account_id: {"Mailbox": new_state}}
            assert isinstance(change["pushState"], str) and change["pushState"]
            # a change made over the socket itself is pushed too
            await ws.request(
                [["Mailbox/set", {"accountId": client.account_id, "create": {"x": {"name": "S"}}},
                  "c"]],
                "set-over-ws",
            )  # fmt: skip
            change2 = await ws.next_type("StateChange")
            assert change2["changed"][client.account_id]["Mailbox"] != new_state
            assert change2["pushState"] != change["pushState"]

    run(go())


def test_data_types_filter_and_disable(push_server):
    client = push_server.node.client(ALICE)

    async def go():
        async with await JmapSocket.open(push_server.node, ALICE) as ws:
            await ws.enable_push(data_types=["Email"])
            await asyncio.to_thread(client.create_mailbox, "Not wanted")
            await ws.none_of("StateChange", 1.0)
            await ws.enable_push(data_types=["Mailbox"])
            _, state = await asyncio.to_thread(client.create_mailbox, "Wanted")
            change = await ws.next_type("StateChange")
            assert change["changed"] == {client.account_id: {"Mailbox": state}}
            await ws.send({"@type": "WebSocketPushDisable"})
            await ws.request([["Core/echo", {}, "c"]], "after-disable")
            await asyncio.to_thread(client.create_mailbox, "After disable")
            await ws.none_of("StateChange", 1.0)

    run(go())


def test_push_state_resumes_after_a_disconnect(push_server):
    client = push_server.node.client(ALICE)
    account = client.account_id

    async def go():
        async with await JmapSocket.open(push_server.node, ALICE) as ws:
            await ws.enable_push()
            await asyncio.to_thread(client.create_mailbox, "Before the break")
            last_seen = (await ws.next_type("StateChange"))["pushState"]
        # disconnected: changes happen, and nobody is told
        mailbox_id, _ = client.create_mailbox("During the break")
        result = client.ok(
            "Mailbox/set", {"accountId": account, "update": {mailbox_id: {"name": "Renamed"}}}
        )
        current = result["newState"]
        async with await JmapSocket.open(push_server.node, ALICE) as ws:
            await ws.enable_push(push_state=last_seen)
            change = await ws.next_type("StateChange")
            assert change["changed"] == {account: {"Mailbox": current}}
            assert change["pushState"] != last_seen
            # one StateChange covers everything: nothing else follows
            await ws.none_of("StateChange", 0.5)
        # resuming from the newest pushState reports nothing
        async with await JmapSocket.open(push_server.node, ALICE) as ws:
            await ws.enable_push(push_state=change["pushState"])
            await ws.none_of("StateChange", 0.5)
        # a pushState the server does not know gets every current state
        async with await JmapSocket.open(push_server.node, ALICE) as ws:
            await ws.enable_push(push_state="garbage")
            change = await ws.next_type("StateChange")
            assert change["changed"][account]["Mailbox"] == current

    run(go())


def test_connection_closes_when_the_credentials_lapse(push_server):
    login = "dave@example.com"

    async def change_password() -> None:
        data = SqliteDataStore(push_server.node.data_dir / "fulmar.db")
        await data.open()
        try:
            await data.set_password(login, hash_password("another-password"))
        finally:
            await data.close()

    async def go():
        async with await JmapSocket.open(push_server.node, login) as ws:
            response = await ws.request([["Core/echo", {}, "c"]], "before")
            assert response["@type"] == "Response"
            await change_password()
            await ws.send({"@type": "Request", "id": "after", "using": USING, "methodCalls": []})
            with pytest.raises(ConnectionClosed) as caught:
                async with asyncio.timeout(10):
                    while True:
                        message = json.loads(await ws.ws.recv())
                        assert message.get("requestId") != "after", message
            assert caught.value.rcvd is not None and caught.value.rcvd.code == 1008

    try:
        run(go())
    finally:

        async def restore() -> None:
            data = SqliteDataStore(push_server.node.data_dir / "fulmar.db")
            await data.open()
            try:
                await data.set_password(login, hash_password(PASSWORD))
            finally:
                await data.close()

        run(restore())


def test_max_concurrent_requests_is_shared_with_http(tmp_path):
    """An HTTP request holding the user's only slot makes a WebSocket request a limit error."""
    provision(tmp_path, (ALICE,))
    config = tmp_path / "fulmar.toml"
    config.write_text("[limits]\nmax_concurrent_requests = 1\n")
    node = Node(tmp_path, config)
    node.start()
    release = threading.Event()
    body = json.dumps({"using": USING, "methodCalls": [["Core/echo", {"held": 1}, "0"]]})

    def trickle():
        yield body[:10].encode()
        release.wait(10)
        yield body[10:].encode()

    held: dict = {}

    def hold() -> None:
        held["response"] = httpx.post(
            node.url + "/jmap/api/",
            content=trickle(),
            headers={"Authorization": basic(ALICE), "Content-Type": "application/json"},
            timeout=20,
        )

    thread = threading.Thread(target=hold)
    try:
        thread.start()
        time.sleep(0.5)  # the held request reaches the server and takes the slot

        async def go():
            async with await JmapSocket.open(node, ALICE) as ws:
                error = await ws.request([["Core/echo", {}, "c"]], "limited")
                assert error["@type"] == "RequestError"
                assert error["type"] == ERR + "limit"
                assert error["limit"] == "maxConcurrentRequests"
                release.set()
                thread.join(10)
                response = await ws.request([["Core/echo", {"ok": 1}, "c"]], "after")
                assert response["methodResponses"][0][1] == {"ok": 1}

        run(go())
    finally:
        release.set()
        thread.join(10)
        node.stop()
    assert held["response"].json()["methodResponses"] == [["Core/echo", {"held": 1}, "0"]]


def test_changes_made_by_another_process_are_pushed(tmp_path):
    """Without Redis no bus reaches this node from ``fulmar import``; polling does."""
    provision(tmp_path, (ALICE,))
    config = tmp_path / "fulmar.toml"
    config.write_text("push_poll_seconds = 0.5\n")
    node = Node(tmp_path, config)
    node.start()
    mbox = tmp_path / "new.mbox"
    mbox.write_bytes(
        b"From sender@example.org Sat Nov 21 10:00:00 2026\n"
        b"From: Sender <sender@example.org>\nTo: alice@example.com\n"
        b"Subject: Imported while you watch\nMessage-ID: <watch@example.org>\n\nHello\n"
    )
    try:

        async def go():
            async with await JmapSocket.open(node, ALICE) as ws:
                await ws.enable_push(["Email", "Mailbox", "EmailDelivery"])
                await asyncio.to_thread(
                    subprocess.run,
                    [FULMAR, "import", ALICE, str(mbox), "--data-dir", str(tmp_path)],
                    check=True,
                    capture_output=True,
                )
                change = await ws.next_type("StateChange", timeout=10)
                (states,) = change["changed"].values()
                assert {"Email", "Mailbox", "EmailDelivery"} <= set(states)

        run(go())
    finally:
        node.stop()
    assert "Traceback" not in node.log(), node.log()
