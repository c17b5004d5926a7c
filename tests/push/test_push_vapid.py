"""The VAPID key where standard clients look for it (issue 7.10).

RFC 9749 §3: the Session's ``capabilities`` hold ``urn:ietf:params:jmap:webpush-vapid`` with
``applicationServerKey``, the server's P-256 public key in its uncompressed form, base64url
encoded; that is the key a client passes to its push service, and the one pushes are
signed with (RFC 8292).
"""

from __future__ import annotations

import asyncio
import base64

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from tests.push.pushkit import CORE, JmapSocket

VAPID = "urn:ietf:params:jmap:webpush-vapid"
ALICE = "alice@example.com"


def b64url_decode(value: str) -> bytes:
    assert "=" not in value and "+" not in value and "/" not in value, value
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def test_session_advertises_the_application_server_key(push_server):
    node = push_server.node
    session = node.client(ALICE).session
    capability = session["capabilities"][VAPID]
    key = capability["applicationServerKey"]
    point = b64url_decode(key)
    assert len(point) == 65 and point[0] == 4  # uncompressed P-256 point (SEC 1 §2.3.3)
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    # the Fulmar-specific URL still answers, with the same key
    assert httpx.get(node.url + "/jmap/push/vapid-key").json() == {"publicKey": key}


def test_clients_may_name_the_capability_and_see_one_session_state(push_server):
    """A capability the Session lists may be in ``using`` (RFC 8620 §3.3), and every
    transport reports the same sessionState."""
    node = push_server.node
    client = node.client(ALICE)
    state = client.session["state"]
    response = client.request([["Core/echo", {"x": 1}, "c"]], using=[CORE, VAPID])
    assert response.status_code == 200, response.text
    assert response.json()["methodResponses"] == [["Core/echo", {"x": 1}, "c"]]
    assert response.json()["sessionState"] == state

    async def over_websocket() -> str:
        async with await JmapSocket.open(node, ALICE) as ws:
            answer = await ws.request([["Core/echo", {}, "c"]], using=[CORE, VAPID])
            assert answer["@type"] == "Response", answer
            return answer["sessionState"]

    assert asyncio.run(over_websocket()) == state
