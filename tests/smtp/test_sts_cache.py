"""MTA-STS policies cached in the data role (RFC 8461 §5.1): a restart or another node
keeps applying a policy it has seen until ``max_age``, whatever an attacker does to the
TXT record or the HTTPS fetch; the TXT id and a daily refresh renew it. The clock is the
test's."""

from __future__ import annotations

from jmap.store.base import SERVER_ACCOUNT
from jmap.store.factory import open_data_store
from smtp_gateway.mta_sts import FETCH_RETRY_SECONDS, REFRESH_SECONDS, CachedPolicy, MtaSts
from smtp_gateway.outbound import OutboundWorker
from smtp_gateway.sts_cache import POLICY, DataPolicyCache
from tests.smtp.outkit import Clock, Fulmar, run

DOMAIN = "sts.example"
ENFORCE = "version: STSv1\nmode: enforce\nmx: *.sts.example\nmax_age: {age}\n"
MONTH = 30 * 86400


class Published:
    """What the destination (or an attacker on the path) serves: TXT records and the
    policy text; ``None`` text is a failed fetch, a raised TXT lookup a DNS failure."""

    def __init__(self, text: str | None, txt: list[str] | None) -> None:
        self.text = text
        self.txt_records = txt
        self.fetches = 0

    async def txt(self, name: str) -> list[str]:
        assert name == f"_mta-sts.{DOMAIN}"
        if self.txt_records is None:
            raise TimeoutError("no answer")
        return self.txt_records

    async def addresses(self, host: str) -> list[str]:
        return []

    async def fetch(self, domain: str) -> str | None:
        assert domain == DOMAIN
        self.fetches += 1
        return self.text


def node(published: Published, data, clock: Clock) -> MtaSts:
    """One server's MTA-STS state: only the data role is shared."""
    return MtaSts(published, published.fetch, clock, DataPolicyCache(data))


async def other_store(tmp_path):
    """The same database opened again: a restarted process, or another node."""
    data = open_data_store(tmp_path / "fulmar.db")
    await data.open()
    return data


def test_a_restart_or_another_node_keeps_the_policy_against_a_downgrade(tmp_path):
    clock = Clock(1_000_000.0)

    async def body(f: Fulmar):
        published = Published(ENFORCE.format(age=MONTH), ["v=STSv1; id=1"])
        first = await node(published, f.data, clock).policy(DOMAIN)
        # the attacker strips the TXT record and breaks the fetch; a new process asks
        published.text, published.txt_records = None, []
        data = await other_store(tmp_path)
        try:
            clock.t += MONTH - 1
            after_restart = await node(published, data, clock).policy(DOMAIN)
            published.txt_records = None  # DNS does not answer at all
            no_dns = await node(published, data, clock).policy(DOMAIN)
            clock.t += 1  # max_age after the fetch: the policy is gone
            expired = await node(published, data, clock).policy(DOMAIN)
        finally:
            await data.close()
        return first, after_restart, no_dns, expired, published.fetches

    first, after_restart, no_dns, expired, fetches = run(tmp_path, body)
    assert first is not None and first.mode == "enforce"
    assert after_restart == first and no_dns == first
    assert expired is None
    assert fetches == 1  # the new process fetched nothing: there was no new id


def test_the_txt_id_and_the_daily_refresh_renew_the_policy(tmp_path):
    clock = Clock(1_000_000.0)

    async def body(f: Fulmar):
        published = Published(ENFORCE.format(age=3 * 86400), ["v=STSv1; id=1"])
        seen = []
        sts = node(published, f.data, clock)
        seen.append((await sts.policy(DOMAIN), published.fetches))
        clock.t += REFRESH_SECONDS - 1  # same id, younger than a day: the cache
        seen.append((await sts.policy(DOMAIN), published.fetches))
        clock.t += 1  # a day old: fetched again, so it now holds three days from here
        seen.append((await sts.policy(DOMAIN), published.fetches))
        clock.t += 3 * 86400 - 400  # past the first fetch's max_age, within the refresh's
        published.text = None  # the refresh fails: the live policy holds, and the
        seen.append((await sts.policy(DOMAIN), published.fetches))
        clock.t += FETCH_RETRY_SECONDS - 1  # failed fetch is not tried again at once
        another = node(published, f.data, clock)  # (per process: a new one tries)
        seen.append((await sts.policy(DOMAIN), published.fetches))
        seen.append((await another.policy(DOMAIN), published.fetches))
        # a new id: fetched at once; mode none replaces enforce (how a domain opts out)
        published.text = "version: STSv1\nmode: none\nmax_age: 600\n"
        published.txt_records = ["v=STSv1; id=2"]
        seen.append((await sts.policy(DOMAIN), published.fetches))
        _, docs = await f.data.get(SERVER_ACCOUNT, POLICY, [DOMAIN])
        return seen, docs

    seen, docs = run(tmp_path, body)
    modes = [(p.mode if p else None, n) for p, n in seen]
    assert modes == [
        ("enforce", 1),
        ("enforce", 1),
        ("enforce", 2),
        ("enforce", 3),
        ("enforce", 3),
        ("enforce", 4),
        ("none", 5),
    ]
    assert [(d["policyId"], d["mode"], d["maxAge"]) for d in docs] == [("2", "none", 600)]


def test_no_policy_without_a_successful_fetch_and_bad_records_are_none(tmp_path):
    clock = Clock(1_000_000.0)

    async def body(f: Fulmar):
        published = Published(None, ["v=STSv1; id=1"])
        sts = node(published, f.data, clock)
        # §5.1: TXT present, the fetch fails, nothing cached: as if no MTA-STS
        results = [await sts.policy(DOMAIN), await sts.policy(DOMAIN)]
        clock.t += FETCH_RETRY_SECONDS
        published.text = "version: STSv1\nmode: enforce\nmax_age: soon\n"  # invalid
        results.append(await sts.policy(DOMAIN))
        fetches = published.fetches
        async with f.data.transaction(SERVER_ACCOUNT) as tx:  # not a record of ours
            await tx.create(POLICY, {"id": DOMAIN, "mode": "enforce"})
        published.txt_records = []
        results.append(await sts.policy(DOMAIN))
        return results, fetches

    results, fetches = run(tmp_path, body)
    assert results == [None, None, None, None]
    assert fetches == 2  # the second lookup was within five minutes of the failure


def test_an_older_fetch_does_not_replace_a_newer_one(tmp_path):
    async def body(f: Fulmar):
        cache = DataPolicyCache(f.data)
        published = Published(ENFORCE.format(age=MONTH), ["v=STSv1; id=1"])
        sts = node(published, f.data, Clock(2_000_000.0))
        newer = await sts.policy(DOMAIN)
        assert newer is not None
        await cache.save(DOMAIN, CachedPolicy(newer, "0", 1_000_000.0))  # a slow node
        return await cache.load(DOMAIN)

    kept = run(tmp_path, body)
    assert kept is not None and kept.policy_id == "1" and kept.fetched == 2_000_000.0


def test_the_worker_caches_policies_in_the_data_role(tmp_path):
    async def body(f: Fulmar):
        worker = OutboundWorker(f.services, resolver=Published(None, []))  # answers TXT
        return worker.router.sts

    sts = run(tmp_path, body)
    assert sts is not None and isinstance(sts.cache, DataPolicyCache)
