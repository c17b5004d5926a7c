"""Where mail goes: smtp_routes before everything, smtp_relay (with AUTH) next, else MX
per RFC 5321 §5.1 through a fake resolver (the Resolver protocol); null MX (RFC 7505);
local recipients by an inbound job; one connection per destination, reused."""

from __future__ import annotations

import asyncio
import random

import pytest

from jmap.store.base import SERVER_ACCOUNT
from smtp_gateway.routing import Hop, Router
from tests.smtp.outkit import Fulmar, Sink, run

ALICE = "alice@example.com"
#: the relay sink takes AUTH over plain text: 127.0.0.1 only, and a test
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


class FakeResolver:
    """The Resolver protocol over a table; a name in ``failing`` fails for now."""

    def __init__(self, mx=None, addresses=None, failing=()) -> None:
        self.mx_records = mx or {}
        self.address_records = addresses or {}
        self.failing = set(failing)
        self.asked: list[str] = []

    async def mx(self, domain: str) -> list[tuple[int, str]]:
        self.asked.append(f"MX {domain}")
        if domain in self.failing:
            raise TimeoutError("SERVFAIL")
        return self.mx_records.get(domain, [])

    async def addresses(self, host: str) -> list[str]:
        self.asked.append(f"A {host}")
        if host in self.failing:
            raise TimeoutError("SERVFAIL")
        return self.address_records.get(host, [])


def _route(router: Router, domain: str):
    return asyncio.run(router.route(domain))


def test_mx_order_preference_then_random_among_equals():
    resolver = FakeResolver(
        mx={
            "d.example": [
                (20, "b.d.example."),
                (10, "a1.d.example"),
                (10, "a2.d.example"),
                (30, "c.d.example"),
            ]
        },
        addresses={
            "a1.d.example": ["127.0.0.11"],
            "a2.d.example": ["127.0.0.12", "127.0.0.13"],
            "b.d.example": ["127.0.0.2"],
            "c.d.example": ["127.0.0.3"],
        },
    )
    seen = set()
    for seed in range(20):
        route = _route(Router((), None, resolver, random.Random(seed)), "D.example")
        hosts = [h.host for h in route.hops]
        assert hosts[-2:] == ["127.0.0.2", "127.0.0.3"]
        assert sorted(hosts[:3]) == ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
        # a multihomed host's addresses stay in resolver order
        assert hosts.index("127.0.0.12") + 1 == hosts.index("127.0.0.13")
        assert route.hops[0].port == 25 and route.refused is None
        seen.add(hosts[0])
    assert seen == {"127.0.0.11", "127.0.0.12"}  # both equal-preference hosts come first


def test_no_mx_falls_back_to_the_domains_addresses_and_null_mx_refuses():
    resolver = FakeResolver(
        mx={"null.example": [(0, ".")]},
        addresses={"plain.example": ["127.0.0.5"], "null.example": ["127.0.0.6"]},
        failing={"down.example"},
    )
    router = Router((), None, resolver)
    plain = _route(router, "plain.example")
    assert [h.host for h in plain.hops] == ["127.0.0.5"]
    null = _route(router, "null.example")
    assert null.hops == () and "null MX" in (null.refused or "")
    assert "A null.example" not in resolver.asked  # no fallback for a null MX
    nothing = _route(router, "nowhere.example")
    assert nothing.refused and not nothing.unavailable
    down = _route(router, "down.example")
    assert down.unavailable and not down.refused


def test_routes_come_before_the_relay_and_the_relay_before_mx():
    resolver = FakeResolver()
    router = Router(
        (("routed.example", "127.0.0.1:2526"),), "smtp://u%40x:p%3Aw@127.0.0.1:2587", resolver
    )
    routed = _route(router, "Routed.Example.")
    assert routed.hops == (Hop("127.0.0.1", 2526),) and routed.username is None
    relayed = _route(router, "other.example")
    assert relayed.hops[0].host == "127.0.0.1" and relayed.hops[0].port == 2587
    assert (relayed.username, relayed.password) == ("u@x", "p:w")
    assert resolver.asked == []


def test_mx_delivery_and_null_mx_through_the_worker(tmp_path):
    with Sink() as sink:
        resolver = FakeResolver(
            mx={"mx.example": [(10, "in.mx.example")], "null.example": [(0, ".")]},
            addresses={"in.mx.example": ["127.0.0.1"]},
        )

        async def body(f: Fulmar):
            draft = await f.draft(ALICE, to=["x@mx.example", "y@null.example"])
            created = (await f.submit(ALICE, draft["id"]))["created"]["s"]
            router = Router((), None, resolver, mx_port=sink.port)
            await f.worker(router=router).run_once()
            return await f.submission(ALICE, created["id"]), await f.inbound_jobs()

        sub, jobs = run(tmp_path, body)
    assert sub["deliveryStatus"]["x@mx.example"]["delivered"] == "yes"
    refused = sub["deliveryStatus"]["y@null.example"]
    assert refused["delivered"] == "no" and refused["smtpReply"].startswith("556 5.1.10 ")
    assert [r.rcpts for r in sink.received] == [["x@mx.example"]]
    assert len(jobs) == 1 and jobs[0]["mailFrom"] == ""  # the DSN


def test_relay_with_auth(tmp_path):
    with Sink(logins={"relay-user": "relay-secret"}) as sink:

        async def body(f: Fulmar, password: str):
            draft = await f.draft(ALICE, to=["x@anywhere.example"])
            created = (await f.submit(ALICE, draft["id"]))["created"]["s"]
            await f.worker().run_once()
            return await f.submission(ALICE, created["id"]), await f.outbound_due()

        good, _ = run(
            tmp_path / "good",
            lambda f: body(f, "relay-secret"),
            smtp_relay=f"smtp://relay-user:relay-secret@127.0.0.1:{sink.port}",
        )
        bad, due = run(
            tmp_path / "bad",
            lambda f: body(f, "wrong"),
            smtp_relay=f"smtp://relay-user:wrong@127.0.0.1:{sink.port}",
        )
    assert good["deliveryStatus"]["x@anywhere.example"]["delivered"] == "yes"
    (got,) = sink.received
    assert got.auth.login == b"relay-user"
    # a refused login is our configuration's fault: the message waits for a retry
    status = bad["deliveryStatus"]["x@anywhere.example"]
    assert status["delivered"] == "queued" and status["smtpReply"].startswith("454 4.7.0")
    assert due is not None


def test_local_recipients_get_an_inbound_job(tmp_path):
    async def body(f: Fulmar):
        await f.add_alias("help@example.com", "bob@example.com")
        draft = await f.draft(
            ALICE,
            to=["bob@example.com", "Bob+lists@example.com", "help@example.com"],
            cc=["ghost@example.com"],
        )
        created = (await f.submit(ALICE, draft["id"]))["created"]["s"]
        await f.worker().run_once()
        jobs = await f.inbound_jobs()
        return (
            f.accounts,
            await f.submission(ALICE, created["id"]),
            jobs,
            [await f.services.blobs.get(j["blobId"]) for j in jobs],
        )

    accounts, sub, jobs, blobs = run(tmp_path, body)
    status = sub["deliveryStatus"]
    for rcpt in ("bob@example.com", "Bob+lists@example.com", "help@example.com"):
        assert status[rcpt]["delivered"] == "yes", rcpt
    assert status["ghost@example.com"]["delivered"] == "no"
    assert status["ghost@example.com"]["smtpReply"].startswith("550 5.1.1")
    (local,) = [j for j in jobs if j["mailFrom"]]
    (dsn,) = [j for j in jobs if not j["mailFrom"]]
    assert local["mailFrom"] == ALICE and local["folder"] == "inbox"
    assert local["recipients"] == [
        {"address": a, "accountId": accounts["bob@example.com"]}
        for a in ("bob@example.com", "Bob+lists@example.com", "help@example.com")
    ]
    assert (
        blobs[0].startswith(b"From: alice@example.com")
        or b"\r\nFrom: alice@example.com" in blobs[0]
    )
    assert dsn["recipients"] == [{"address": ALICE, "accountId": accounts[ALICE]}]


def test_one_connection_per_destination_reused_and_limited(tmp_path):
    with Sink() as one, Sink() as two:

        async def body(f: Fulmar):
            for n in range(3):
                draft = await f.draft(ALICE, to=[f"r{n}@one.example", f"r{n}@two.example"])
                await f.submit(ALICE, draft["id"])
            assert await f.worker().run_once() == 3

        routes = (("one.example", one.address), ("two.example", two.address))
        run(tmp_path / "a", body, smtp_routes=routes, smtp_max_per_destination=1)
        assert (one.handler.sessions, two.handler.sessions) == (1, 1)
        assert len(one.received) == len(two.received) == 3
        run(tmp_path / "b", body, smtp_routes=routes, smtp_max_per_destination=2)
        assert (one.handler.sessions, two.handler.sessions) == (3, 3)  # 1 + 2 each


def test_a_domain_record_makes_a_domain_local(tmp_path):
    async def body(f: Fulmar):
        async with f.data.transaction(SERVER_ACCOUNT) as tx:
            await tx.create("Domain", {"id": "lists.example.org"})
        await f.add_alias("team@lists.example.org", "bob@example.com")
        draft = await f.draft(ALICE, to=["team@lists.example.org", "nobody@lists.example.org"])
        created = (await f.submit(ALICE, draft["id"]))["created"]["s"]
        # a route for the domain is never used: local delivery comes first
        await f.worker().run_once()
        return f.accounts, await f.submission(ALICE, created["id"]), await f.inbound_jobs()

    accounts, sub, jobs = run(tmp_path, body, smtp_routes=(("lists.example.org", "127.0.0.1:9"),))
    assert sub["deliveryStatus"]["team@lists.example.org"]["delivered"] == "yes"
    assert sub["deliveryStatus"]["nobody@lists.example.org"]["delivered"] == "no"
    (local,) = [j for j in jobs if j["mailFrom"]]
    assert local["recipients"] == [
        {"address": "team@lists.example.org", "accountId": accounts["bob@example.com"]}
    ]
