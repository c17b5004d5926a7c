"""Push delivery fixes (issue 8.11): nothing after destroy, IPv6 push URLs, and IPv6 forms
that embed an internal IPv4 address.

No test here sends anything anywhere but 127.0.0.1: the SSRF cases only classify addresses
(literal hosts are never resolved nor connected to), and the IPv6 audience is a unit test.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import queue
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from py_vapid import Vapid02

from push.ssrf import check_push_url, is_external
from push.webpush import VapidKey, vapid_audience

BOB = "bob@example.com"


class HoldingReceiver:
    """A push service on 127.0.0.1 that answers 503 to every POST, each one only once the
    test releases it: so the test can act while the server waits for an answer."""

    def __init__(self) -> None:
        self.posts: queue.Queue[dict[str, Any]] = queue.Queue()
        self.release = threading.Semaphore(0)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.posts.put(json.loads(body))
                if not receiver.release.acquire(timeout=30):
                    return
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/held"

    def next(self, timeout: float = 10) -> dict[str, Any]:
        return self.posts.get(timeout=timeout)

    def close(self) -> None:
        for _ in range(10):
            self.release.release()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def holding() -> Iterator[HoldingReceiver]:
    receiver = HoldingReceiver()
    yield receiver
    receiver.close()


def test_no_push_after_destroy_not_even_a_queued_retry(push_server, holding):
    """RFC 8620 §7.2: a destroyed PushSubscription gets nothing more. The server is waiting
    for the answer to a push (a 503, so to be retried) when the client destroys the
    subscription; the retry must not be sent."""
    client = push_server.node.client(BOB)
    created = client.ok(
        "PushSubscription/set",
        {"create": {"s": {"deviceClientId": "d", "url": holding.url, "types": ["Mailbox"]}}},
    )
    sub_id = created["created"]["s"]["id"]
    verification = holding.next()
    assert verification["@type"] == "PushVerification"
    holding.release.release()  # 503: the PushVerification would be sent again...
    client.ok(
        "PushSubscription/set",
        {"update": {sub_id: {"verificationCode": verification["verificationCode"]}}},
    )
    # ... and may be, until the StateChange: skip any repeated verification
    client.create_mailbox("Pushed then destroyed")
    while (post := holding.next())["@type"] != "StateChange":
        holding.release.release()
    destroyed = client.ok("PushSubscription/set", {"destroy": [sub_id]})
    assert destroyed["destroyed"] == [sub_id]
    holding.release.release()  # now the 503: the server would retry within ~1.4 s (3 tries)
    for _ in range(3):
        holding.release.release()
    with pytest.raises(queue.Empty):
        post = holding.next(timeout=5)
        raise AssertionError(f"pushed after destroy: {post}")


def test_vapid_audience_of_ipv6_and_other_push_urls():
    """RFC 8292 §2: "aud" is the origin of the push resource (RFC 6454 serialisation)."""
    assert vapid_audience("https://[2001:db8::1]:8443/push/x") == "https://[2001:db8::1]:8443"
    assert vapid_audience("https://[2001:DB8::1]/p") == "https://[2001:db8::1]"
    assert vapid_audience("https://Push.Example.com:443/x?y=1") == "https://push.example.com"
    assert vapid_audience("http://127.0.0.1:8000/p") == "http://127.0.0.1:8000"


def test_vapid_header_for_an_ipv6_push_url_is_signed(tmp_path):
    """An IPv6-literal push URL used to raise inside the delivery worker."""
    key = VapidKey(tmp_path / "vapid.pem", "mailto:postmaster@example.com")
    header = key.authorization("https://[2001:db8::1]:8443/push/x")
    assert Vapid02.verify(header)
    token = header.split("t=", 1)[1].split(",", 1)[0]
    claims = json.loads(_b64url(token.split(".")[1]))
    assert claims["aud"] == "https://[2001:db8::1]:8443"
    assert claims["sub"] == "mailto:postmaster@example.com"
    assert header.endswith(f",k={key.public_key}")


def _b64url(value: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1 (RFC 6052)
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254 (cloud metadata)
        "64:ff9b:1::a00:1",  # local-use NAT64 prefix (RFC 8215)
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
        "::127.0.0.1",  # IPv4-compatible
        "::10.0.0.1",
        "::ffff:0:7f00:1",  # IPv4-translated (RFC 2765)
        "::ffff:0:a00:1",
        "::ffff:10.0.0.1",  # IPv4-mapped
        "fec0::1",  # site-local (RFC 3879)
        "fed0:1:2::3",
    ],
)
def test_ipv6_forms_of_internal_addresses_are_internal(address):
    assert not is_external(ipaddress.ip_address(address))
    reason = asyncio.run(check_push_url(f"https://[{address}]/push"))
    assert reason == "The url must not point to an internal address."


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "2606:4700::1111", "64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8"],
)
def test_public_addresses_and_their_ipv6_forms_stay_allowed(address):
    assert is_external(ipaddress.ip_address(address))
