"""The job queue role: durable enqueue, leases that lapse, lease-checked completion."""

from __future__ import annotations

import asyncio

import pytest

from jmap.store.base import SERVER_ACCOUNT, DataStore

Q = "inbound"


def test_enqueue_is_durable_and_idempotent(run_data):
    async def body(data: DataStore):
        first = await data.jobs.enqueue(Q, {"n": 1}, due=100.0, job_id="j1")
        again = await data.jobs.enqueue(Q, {"n": 2}, due=50.0, job_id="j1")
        other = await data.jobs.enqueue(Q, {"n": 3}, due=200.0)
        return first, again, other

    first, again, other = run_data(body)
    assert first == again == "j1" and other != "j1"

    async def reopened(data: DataStore):
        jobs = await data.jobs.claim(Q, "w", now=1000.0, lease_seconds=60)
        return [(j.id, j.payload, j.due) for j in jobs], await data.jobs.pending(Q)

    claimed, pending = run_data(reopened)
    # the second enqueue of j1 changed nothing; only one job is handed out per claim
    assert claimed == [("j1", {"n": 1}, 100.0)] and pending == 2


def test_claim_takes_due_unheld_jobs_earliest_first(run_data):
    async def body(data: DataStore):
        for n, due in enumerate([30.0, 10.0, 20.0, 500.0]):
            await data.jobs.enqueue(Q, {"n": n}, due=due, job_id=f"j{n}")
        await data.jobs.enqueue("other", {}, due=0.0)
        first = await data.jobs.claim(Q, "a", now=100.0, lease_seconds=60, limit=2)
        second = await data.jobs.claim(Q, "b", now=100.0, lease_seconds=60, limit=5)
        third = await data.jobs.claim(Q, "c", now=100.0, lease_seconds=60, limit=5)
        return [j.id for j in first], [j.id for j in second], third, await data.jobs.next_due(Q)

    first, second, third, next_due = run_data(body)
    assert first == ["j1", "j2"]
    assert second == ["j0"]  # j3 is not due yet; j1 and j2 are held
    assert third == [] and next_due == 10.0


def test_lapsed_lease_passes_the_job_on_and_fences_the_old_holder(run_data):
    async def body(data: DataStore):
        await data.jobs.enqueue(Q, {"n": 1}, due=0.0, job_id="j")
        (old,) = await data.jobs.claim(Q, "dead", now=10.0, lease_seconds=30)
        assert await data.jobs.claim(Q, "new", now=39.0, lease_seconds=30) == []
        (new,) = await data.jobs.claim(Q, "new", now=40.0, lease_seconds=30)
        assert new.lease != old.lease
        # the worker whose lease lapsed can neither finish, reschedule nor renew the job
        assert not await data.jobs.complete(old)
        assert not await data.jobs.retry(old, due=0.0)
        assert await data.jobs.renew(old, now=41.0, lease_seconds=30) is None
        renewed = await data.jobs.renew(new, now=60.0, lease_seconds=30)
        assert renewed is not None and renewed.lease_until == 90.0
        assert await data.jobs.claim(Q, "x", now=80.0, lease_seconds=30) == []
        assert await data.jobs.complete(renewed)
        return await data.jobs.pending(Q)

    assert run_data(body) == 0


def test_retry_counts_attempts_replaces_payload_and_releases(run_data):
    async def body(data: DataStore):
        await data.jobs.enqueue(Q, {"try": 0}, due=0.0, job_id="j")
        (job,) = await data.jobs.claim(Q, "w", now=1.0, lease_seconds=600)
        assert await data.jobs.retry(job, due=300.0, payload={"try": 1})
        assert await data.jobs.claim(Q, "w", now=299.0, lease_seconds=600) == []
        (again,) = await data.jobs.claim(Q, "w", now=300.0, lease_seconds=600)
        return again.attempts, again.payload

    assert run_data(body) == (1, {"try": 1})


def test_job_enqueued_in_a_transaction_commits_with_it(run_data):
    class Boom(Exception):
        pass

    async def body(data: DataStore):
        acc = (await data.create_principal("a@example.com", "h", "a@example.com")).id
        with pytest.raises(Boom):
            async with data.transaction(acc) as tx:
                await tx.create("Thing", {"id": "t1"})
                await tx.enqueue(Q, {"thing": "t1"}, due=0.0, job_id="lost")
                raise Boom
        async with data.transaction(acc) as tx:
            await tx.create("Thing", {"id": "t2"})
            await tx.enqueue(Q, {"thing": "t2"}, due=0.0, job_id="kept")
        jobs = await data.jobs.claim(Q, "w", now=1.0, lease_seconds=60, limit=10)
        return [(j.id, j.payload) for j in jobs]

    assert run_data(body) == [("kept", {"thing": "t2"})]


def test_concurrent_claims_never_hand_a_job_out_twice(run_data):
    async def body(data: DataStore):
        for n in range(40):
            await data.jobs.enqueue(Q, {"n": n}, due=float(n), job_id=f"j{n:02}")
        batches = await asyncio.gather(
            *(data.jobs.claim(Q, f"w{k}", now=100.0, lease_seconds=60, limit=7) for k in range(8))
        )
        return [j.id for batch in batches for j in batch]

    ids = run_data(body)
    assert sorted(ids) == [f"j{n:02}" for n in range(40)]


def test_server_account_holds_server_wide_records(run_data):
    async def body(data: DataStore):
        async with data.transaction(SERVER_ACCOUNT) as tx:
            await tx.create("Domain", {"id": "example.org"})
        _, docs = await data.get(SERVER_ACCOUNT, "Domain", None)
        return docs

    assert run_data(body) == [{"id": "example.org"}]

    async def reopened(data: DataStore):
        principal = await data.create_principal("b@example.com", "h", "b@example.com")
        accounts = await data.accounts_for(principal.id)
        return [a.id for a in accounts]

    assert SERVER_ACCOUNT not in run_data(reopened)
