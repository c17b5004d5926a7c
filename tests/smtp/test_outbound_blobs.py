"""The blobs a submission makes (the message to send, local copies, DSNs) are held only
while something needs them: once the submission is destroyed, its job done, and the
Emails they became are gone, no blob ref is left and the orphan sweep takes them all."""

from __future__ import annotations

import sqlite3
import time

from jmap.housekeeping import sweep_orphan_blobs
from smtp_gateway.delivery import DeliveryWorker
from smtp_gateway.queues import INBOUND
from tests.smtp.outkit import Fulmar, Sink, run

ALICE, BOB = "alice@example.com", "bob@example.com"


def blob_refs(tmp_path) -> list[tuple[str, str]]:
    uri = f"file:{tmp_path / 'fulmar.db'}?mode=ro"
    with sqlite3.connect(uri, uri=True) as conn:
        return sorted(conn.execute("SELECT blob_id, ref FROM blob_refs").fetchall())


async def deliver_all(f: Fulmar) -> int:
    """Run the delivery worker on every queued inbound job (each completed)."""
    worker = DeliveryWorker(f.services, 60, owner="test", clock=f.clock)
    jobs = await f.data.jobs.claim(INBOUND, "test", f.clock(), 60, limit=100)
    for job in jobs:
        assert await worker.deliver(job)
        await f.data.jobs.complete(job)
    return len(jobs)


async def destroy_all_emails(f: Fulmar) -> None:
    for login in (ALICE, BOB):
        ids = (await f.call(login, "Email/query", {}))["ids"]
        destroyed = await f.call(login, "Email/set", {"destroy": ids})
        assert sorted(destroyed["destroyed"]) == sorted(ids)


def scenario(tmp_path, destroy_first: bool):
    with Sink() as sink:
        sink.handler.rcpt_replies["gone@example.net"] = "550 5.1.1 No such user"

        async def body(f: Fulmar):
            draft = await f.draft(ALICE, to=[BOB, "gone@example.net", "fine@example.net"])
            created = (await f.submit(ALICE, draft["id"]))["created"]["s"]
            destroy = {"destroy": [created["id"]]}
            if destroy_first:  # destroyed while pending: the delivery still happens
                assert (await f.call(ALICE, "EmailSubmission/set", destroy))["destroyed"]
            await f.worker().run_once()
            queued = await deliver_all(f)  # the copy for Bob, the DSN for Alice
            held = blob_refs(tmp_path)
            if not destroy_first:
                sub = await f.submission(ALICE, created["id"])
                assert (await f.call(ALICE, "EmailSubmission/set", destroy))["destroyed"]
            else:
                sub = None
            await destroy_all_emails(f)
            left = blob_refs(tmp_path)
            swept = await sweep_orphan_blobs(f.data, f.services.blobs, time.time() + 10)
            remaining = [b async for batch in f.services.blobs.written_before(1e12) for b in batch]
            return queued, held, sub, left, swept, remaining

        result = run(tmp_path, body, smtp_routes=(("example.net", sink.address),))
        assert len(sink.received) == 1
    return result


def test_destroyed_before_delivery_leaves_no_referenced_blob(tmp_path):
    queued, held, _, left, swept, remaining = scenario(tmp_path, destroy_first=True)
    assert queued == 2
    # after delivery only the Emails hold blobs: no hold of a job, no submission's ref
    assert not [ref for _, ref in held if not ref.startswith("M")], held
    assert left == []
    # the draft's message (which is the send copy and Bob's: no Bcc, unsigned), the DSN
    assert swept == 2 and remaining == []


def test_a_submission_destroyed_after_delivery_drops_its_dsn(tmp_path):
    queued, held, sub, left, swept, remaining = scenario(tmp_path, destroy_first=False)
    assert queued == 2
    (dsn,) = sub["dsnBlobIds"]
    assert (dsn, sub["id"]) in held  # listed in dsnBlobIds, held by the submission
    assert left == []
    assert swept == 2 and remaining == []
