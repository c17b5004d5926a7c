"""Whatever a client sends over the WebSocket, it gets a JMAP answer and the server lives on."""

from __future__ import annotations

import asyncio
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.push.pushkit import USING, JmapSocket

ALICE = "alice@example.com"
TYPES = ["Request", "WebSocketPushEnable", "WebSocketPushDisable", "Response", "Nonsense"]
KEYS = ["@type", "id", "using", "methodCalls", "createdIds", "dataTypes", "pushState"]

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.text(max_size=12)
    | st.sampled_from([*TYPES, *USING, "Core/echo", "Mailbox/get", "*"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=10,
)
frames = st.one_of(
    st.dictionaries(st.sampled_from(KEYS), values, max_size=5).map(json.dumps),
    values.map(json.dumps),
    st.text(max_size=40),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=st.lists(frames, min_size=1, max_size=4))
def test_random_frames_get_jmap_answers(push_server, batch):
    async def go():
        async with await JmapSocket.open(push_server.node, ALICE) as ws:
            for frame in batch:
                await ws.send(frame)
            # whatever came before, the socket still answers a good request
            response = await ws.request([["Core/echo", {"alive": True}, "c"]], "probe")
            assert response["@type"] == "Response"
            assert response["methodResponses"] == [["Core/echo", {"alive": True}, "c"]]
            for message in ws.inbox:
                assert message.get("@type") in ("Response", "RequestError", "StateChange")
                if message["@type"] == "RequestError":
                    assert message["type"].startswith("urn:ietf:params:jmap:error:")

    asyncio.run(go())
