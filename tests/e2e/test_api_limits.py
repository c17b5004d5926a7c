"""Bounded requests and responses: result-reference amplification (issue 8.4) and deep JSON
(issue 8.6), over HTTP and over the WebSocket (RFC 8887 §4.3.2: every request is answered)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from tests.conftest import CORE, MAIL, Client, FulmarServer, start_server
from tests.mail.conftest import message, upload
from tests.push.pushkit import JmapSocket

ERR = "urn:ietf:params:jmap:error:"
DEPTH = 128  # limits.max_json_depth by default


def problem(response, kind: str) -> dict:
    """A request-level error (RFC 8620 §3.6.1): RFC 7807 problem details, never a 500."""
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == ERR + kind, body
    return body


def post(client: Client, body: str | bytes):
    return client.http.post(
        "/jmap/api/", content=body, headers={"Content-Type": "application/json"}
    )


def nested(depth: int) -> str:
    """A JSON value of ``depth`` nested arrays (json.dumps itself would recurse)."""
    return "[" * depth + "]" * depth


def echo_request(value: str) -> str:
    """Core/echo of ``value``: the Request adds 4 levels (object, array, call, arguments)."""
    return f'{{"using":["{CORE}"],"methodCalls":[["Core/echo",{{"v":{value}}},"0"]]}}'


# -- result references (issue 8.4) --
def _doubling_calls(count: int, references: int) -> list:
    calls = [["Core/echo", {"seed": "x" * 1000}, "c0"]]
    for n in range(1, count):
        previous = {"resultOf": f"c{n - 1}", "name": "Core/echo", "path": ""}
        calls.append(["Core/echo", {f"#r{i}": previous for i in range(references)}, f"c{n}"])
    return calls


@pytest.mark.parametrize("references", [2, 3])
def test_references_cannot_amplify_a_response(alice, references):
    """Each call refers to the whole previous result ``references`` times: 16 calls of a
    few KB used to answer 2**15 KB (264 MB). Now a ``limit`` error (RFC 8620 §3.6.1)."""
    count = 16 if references == 2 else 11  # 3**10 KB on the old server
    response = alice.request(_doubling_calls(count, references), using=[CORE])
    body = problem(response, "limit")
    assert body["limit"] in {"maxSizeReferences", "maxSizeResponse"}
    assert len(response.content) < 1000


def test_references_within_the_limits_still_work(alice):
    response = alice.request(_doubling_calls(6, 2), using=[CORE])
    assert response.status_code == 200, response.text[:300]
    last = response.json()["methodResponses"][-1]
    assert last[0] == "Core/echo" and last[2] == "c5"
    assert len(response.content) > 32 * 1000


def test_wildcard_references_are_counted(alice):
    """``/v/*`` flattens a list of lists; every expansion counts what it selects, and the
    request's expansions add up (15 x 2 MB here)."""
    calls = [["Core/echo", {"v": [["x" * 1000] * 100] * 10}, "c0"]]
    for n in range(1, 16):
        ref = {"resultOf": f"c{n - 1}", "name": "Core/echo", "path": "/v/*" if n == 1 else "/v"}
        calls.append(["Core/echo", {"#v": ref, "#w": {**ref, "path": "/v"}}, f"c{n}"])
    body = problem(alice.request(calls, using=[CORE]), "limit")
    assert body["limit"] in {"maxSizeReferences", "maxSizeResponse"}


def test_parse_of_many_large_blobs_is_a_limit_error(alice):
    """Email/parse answers every blob's body values: 25 x 1 MB exceeds the default 20 MB."""
    big = "line of text that is long enough to matter\r\n" * 24000  # about 1 MB
    blob_ids = [upload(alice, message(subject=f"big {n}", body=big)) for n in range(25)]
    args = {"accountId": alice.account_id, "blobIds": blob_ids, "fetchAllBodyValues": True}
    response = alice.request([["Email/parse", args, "p"]], using=[CORE, MAIL])
    assert problem(response, "limit")["limit"] == "maxSizeResponse"
    few = {**args, "blobIds": blob_ids[:3]}
    ok = alice.request([["Email/parse", few, "p"]], using=[CORE, MAIL])
    assert ok.status_code == 200 and len(ok.json()["methodResponses"][0][1]["parsed"]) == 3


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FulmarServer]:
    data_dir = tmp_path_factory.mktemp("small-limits")
    config = data_dir / "fulmar.toml"
    config.write_text(
        "[limits]\nmax_size_response = 50000\nmax_size_references = 20000\nmax_json_depth = 10\n"
    )
    server = start_server(data_dir, extra_args=["--config", str(config)])
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()


def test_limits_are_settings(small):
    """[limits] max_size_response, max_size_references, max_json_depth (README)."""
    client = small.client("alice@example.com")
    calls = [["Core/echo", {"v": "x" * 10000}, f"c{n}"] for n in range(6)]
    assert problem(client.request(calls, using=[CORE]), "limit")["limit"] == "maxSizeResponse"
    assert client.request(calls[:4], using=[CORE]).status_code == 200
    ref = {"resultOf": "c0", "name": "Core/echo", "path": "/v"}
    refs = [calls[0], ["Core/echo", {"#a": ref, "#b": ref}, "r"]]
    assert problem(client.request(refs, using=[CORE]), "limit")["limit"] == "maxSizeReferences"
    problem(post(client, echo_request(nested(7))), "notJSON")
    assert post(client, echo_request(nested(6))).status_code == 200


# -- deep JSON (issue 8.6) --
@pytest.mark.parametrize("depth", [DEPTH - 3, 250, 251, 1000, 1100, 100_000])
def test_deep_json_is_not_json(alice, depth):
    """RFC 8259 §9 lets a parser limit nesting; deeper than the documented maximum is
    notJSON (RFC 8620 §3.6.1), where it used to be a 500."""
    body = problem(post(alice, echo_request(nested(depth))), "notJSON")
    assert str(DEPTH) in body["detail"]


def test_json_at_the_maximum_depth_is_echoed(alice):
    response = post(alice, echo_request(nested(DEPTH - 4)))
    assert response.status_code == 200, response.text[:300]
    value = response.json()["methodResponses"][0][1]["v"]
    depth = 0
    while value:
        (value,) = value
        depth += 1
    assert depth == DEPTH - 5


def test_deep_filter_is_a_request_error_not_server_fail(alice):
    """A filter nested 400 deep used to answer serverFail."""
    condition = '{"hasKeyword":"x"}'
    for _ in range(400):
        condition = f'{{"operator":"NOT","conditions":[{condition}]}}'
    body = (
        f'{{"using":["{CORE}","{MAIL}"],"methodCalls":[["Email/query",'
        f'{{"accountId":"{alice.account_id}","filter":{condition}}},"0"]]}}'
    )
    problem(post(alice, body), "notJSON")


def test_deep_member_names_in_objects(alice):
    """Objects count like arrays (the duplicate-name check used to recurse into them)."""
    value = '{"a":' * 1000 + "1" + "}" * 1000
    problem(post(alice, echo_request(value)), "notJSON")


async def _socket(server: FulmarServer) -> JmapSocket:
    token = base64.b64encode(b"alice@example.com:alice-password").decode()
    url = f"ws://127.0.0.1:{server.port}/jmap/ws"
    ws = await connect(
        url,
        subprotocols=[Subprotocol("jmap")],
        additional_headers={"Authorization": f"Basic {token}"},
        max_size=2**24,
    )
    return JmapSocket(ws)


@pytest.mark.parametrize("depth", [251, 1000, 1100])
def test_deep_requests_over_websocket_are_answered(server, depth):
    """RFC 8887 §4.3.2: a RequestError carrying the request's id; the socket still works."""

    async def run() -> None:
        async with await _socket(server) as ws:
            deep = nested(depth)
            await ws.send(
                f'{{"@type":"Request","id":"deep","using":["{CORE}"],'
                f'"methodCalls":[["Core/echo",{{"v":{deep}}},"0"]]}}'
            )
            error = await ws.next_type("RequestError")
            assert error["type"] == ERR + "notJSON", error
            assert error.get("requestId") in (None, "deep")
            answer = await ws.request([["Core/echo", {"ok": 1}, "1"]], "after", using=[CORE])
            assert answer["methodResponses"] == [["Core/echo", {"ok": 1}, "1"]]

    asyncio.run(run())


def test_amplifying_references_over_websocket_are_answered(server):
    async def run() -> None:
        async with await _socket(server) as ws:
            error = await ws.request(_doubling_calls(16, 2), "amplify", using=[CORE])
            assert error["@type"] == "RequestError" and error["type"] == ERR + "limit"

    asyncio.run(run())


def _message_of_messages(count: int, body: str) -> bytes:
    """A multipart/mixed message with ``count`` attached messages (each its own part blob)."""
    parts = [
        "--b\r\nContent-Type: message/rfc822\r\n\r\n" + message(f"inner {n}", body).decode()
        for n in range(count)
    ]
    head = (
        "From: ann@example.com\r\nTo: bob@example.com\r\nSubject: outer\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    )
    return (head + "\r\n".join(parts) + "\r\n--b--\r\n").encode()


def test_parse_of_many_part_blobs_stops_at_the_limit(small):
    """Issue 8.4: Email/parse of many part blob ids of one upload (95 of 1 MB gave 95 MB).
    The response is counted as each blob is parsed and refused with a ``limit`` error
    (RFC 8620 §3.6.1) once past max_size_response (50 KB here), and nobody else waits."""
    alice, bob = small.client("alice@example.com"), small.client("bob@example.com")
    blob = upload(alice, _message_of_messages(60, "attached text, " * 400))  # 60 x 6 KB
    whole = {"accountId": alice.account_id, "blobIds": [blob], "properties": ["attachments"]}
    response = alice.request([["Email/parse", whole, "p"]], using=[CORE, MAIL])
    attachments = response.json()["methodResponses"][0][1]["parsed"][blob]["attachments"]
    part_ids = [a["blobId"] for a in attachments]
    assert len(part_ids) == 60
    args = {"accountId": alice.account_id, "blobIds": part_ids, "fetchAllBodyValues": True}
    response = alice.request([["Email/parse", args, "p"]], using=[CORE, MAIL])
    assert problem(response, "limit")["limit"] == "maxSizeResponse"
    assert len(response.content) < 1000
    assert alice.http.get("/healthz").status_code == 200
    assert bob.request([["Core/echo", {"hi": 1}, "e"]], using=[CORE]).status_code == 200
    few = {**args, "blobIds": part_ids[:3]}
    parsed = alice.request([["Email/parse", few, "p"]], using=[CORE, MAIL]).json()
    subjects = [e["subject"] for e in parsed["methodResponses"][0][1]["parsed"].values()]
    assert subjects == ["inner 0", "inner 1", "inner 2"]
