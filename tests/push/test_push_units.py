"""The parts of push that need no server: pushState, the SSRF rule, RFC 8291 encryption, buses."""

from __future__ import annotations

import asyncio
import json

import pytest

from push.bus import InProcessBus
from push.redis_bus import RedisBus
from push.ssrf import check_push_url
from push.state import PushView, decode_push_state, encode_push_state
from push.webpush import WebPushSender, check_keys
from tests.push.pushkit import PushKeys


def test_push_state_round_trip():
    modseqs = {"a1b2": 31, "a-_x": 0, "Z9": 2**40}
    encoded = encode_push_state(modseqs)
    assert decode_push_state(encoded) == modseqs
    assert decode_push_state("") == {}
    for bad in ("nocolon", "a:zz", "a b:1", "a:1.", None, 7, "a:" + "f" * 17):
        assert decode_push_state(bad) is None


def test_view_reports_only_what_changed_since():
    view = PushView(["acc"], None)
    view.start("acc", {"Mailbox": 5, "Email": 9, "PushSubscription": 10}, since=6)
    assert view.advance("acc", {"Mailbox": 5, "Email": 9, "PushSubscription": 10}) == {
        "Email": "s9"
    }
    assert decode_push_state(view.push_state()) == {"acc": 10}
    assert view.advance("acc", {"Mailbox": 5, "Email": 9, "PushSubscription": 10}) == {}
    # a token from the future (say, another server) reports everything
    view.start("acc", {"Mailbox": 5}, since=99)
    assert view.advance("acc", {"Mailbox": 5}) == {"Mailbox": "s5"}
    typed = PushView(["acc"], {"Mailbox"})
    typed.start("acc", {}, since=0)
    assert typed.advance("acc", {"Mailbox": 1, "Email": 2}) == {"Mailbox": "s1"}


@pytest.mark.parametrize(
    "url, allow_local, ok",
    [
        ("https://8.8.8.8/push", False, True),
        ("http://8.8.8.8/push", False, False),
        ("https://127.0.0.1/push", False, False),
        ("http://127.0.0.1:8000/push", False, False),
        ("http://127.0.0.1:8000/push", True, True),
        ("https://[::1]/push", False, False),
        ("https://[::ffff:127.0.0.1]/push", False, False),
        ("https://10.0.0.1/", True, False),
        ("https://192.168.1.1/", False, False),
        ("https://172.16.0.1/", False, False),
        ("https://100.64.0.1/", False, False),
        ("https://169.254.169.254/", False, False),
        ("https://224.0.0.1/", False, False),
        ("https://0.0.0.0/", False, False),
        ("https://user:pw@8.8.8.8/", False, False),
        ("ftp://8.8.8.8/", False, False),
        ("https:///nohost", False, False),
        ("https://no-such-host.invalid/", False, False),
    ],
)
def test_push_url_rule(url, allow_local, ok):
    reason = asyncio.run(check_push_url(url, allow_local))
    assert (reason is None) == ok, reason


@pytest.mark.parametrize("url", ["https://10.1.2.3/push", "https://169.254.169.254/latest"])
def test_internal_addresses_are_refused_even_where_loopback_is_allowed(url):
    """The test servers allow loopback receivers (push_allow_local_http); a private or a
    cloud-metadata address is still refused (RFC 8620 §7.2), checked here rather than by
    sending such a URL to a server."""
    for allow_local in (False, True):
        reason = asyncio.run(check_push_url(url, allow_local))
        assert reason == "The url must not point to an internal address.", reason


def test_rfc8291_round_trip():
    keys = PushKeys()
    assert check_keys(keys.as_jmap())
    assert not check_keys({"p256dh": "AAAA", "auth": keys.as_jmap()["auth"]})
    assert not check_keys({"p256dh": keys.as_jmap()["p256dh"]})
    sender = WebPushSender(None, ttl=60)
    body, headers = sender.build("https://push.example/x", keys.as_jmap(), {"hello": "world"})
    assert headers["Content-Encoding"] == "aes128gcm" and headers["TTL"] == "60"
    assert keys.decrypt(body) == {"hello": "world"}
    plain, headers = sender.build("https://push.example/x", None, {"hello": "world"})
    assert json.loads(plain) == {"hello": "world"} and "Content-Encoding" not in headers
    asyncio.run(sender.close())


def test_in_process_bus_delivers_and_hooks():
    async def go():
        bus = InProcessBus()
        seen, hooked = [], []
        unsubscribe = bus.subscribe("a", lambda acc, ch: seen.append((acc, ch)))
        bus.add_publish_hook(lambda acc, ch: hooked.append(acc))
        await bus.publish("a", {"Mailbox": "s1"})
        await bus.publish("b", {"Mailbox": "s1"})
        unsubscribe()
        await bus.publish("a", {"Mailbox": "s2"})
        await bus.ready()
        await bus.close()
        assert seen == [("a", {"Mailbox": "s1"})]
        assert hooked == ["a", "b", "a"]

    asyncio.run(go())


def test_redis_bus_across_nodes_and_reconnect(redis_server):
    async def go():
        one, two = RedisBus(redis_server.url), RedisBus(redis_server.url)
        await one.start()
        await two.start()
        got: asyncio.Queue = asyncio.Queue()
        mine: list = []
        two.subscribe("acc", lambda acc, ch: got.put_nowait((acc, ch)))
        one.subscribe("acc", lambda acc, ch: mine.append(ch))
        await two.ready()
        await one.ready()
        await one.publish("acc", {"Mailbox": "s3"})
        assert await asyncio.wait_for(got.get(), 5) == ("acc", {"Mailbox": "s3"})
        assert mine == [{"Mailbox": "s3"}]  # delivered locally once, its echo skipped
        await one.publish("other", {"Mailbox": "s1"})  # nobody listens: not delivered
        # the subscriber connection breaks: once back, listeners are asked to look again
        await two._pubsub.connection.disconnect()
        assert await asyncio.wait_for(got.get(), 10) == ("acc", {})
        await one.publish("acc", {"Mailbox": "s4"})
        assert await asyncio.wait_for(got.get(), 5) == ("acc", {"Mailbox": "s4"})
        await one.close()
        await two.close()

    asyncio.run(go())


def test_server_records_in_an_account_are_never_pushed():
    """Types starting with "_" are the server's own records (suppression list, vacation
    replies): a change to them alone tells the client nothing."""
    from jmap.ids import encode_state
    from push.state import PushView

    view = PushView(["a1"], None)
    view.start("a1", {"Email": 3})
    assert view.advance("a1", {"Email": 3, "_Suppression": 5}) == {}
    assert view.advance("a1", {"Email": 6, "_Suppression": 5, "_VacationReply": 7}) == {
        "Email": encode_state(6)
    }
