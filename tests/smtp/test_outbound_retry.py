"""Retries with a clock the test sets (never a sleep): the backoff schedule, the "delayed"
DSN after 4 hours, the give-up after 5 days; a lease that lapses passes a job on."""

from __future__ import annotations

import email
from email.policy import default

import pytest

from smtp_gateway.retry import BACKOFF_SECONDS, LATER_SECONDS
from tests.smtp.outkit import Fulmar, Sink, run

ALICE = "alice@example.com"
DAY = 86400.0


class Killed(BaseException):
    """Stands for the process dying: nothing after it runs."""


def _statuses(dsn: bytes) -> tuple[str, list[dict[str, str]]]:
    report = email.message_from_bytes(dsn, policy=default)
    _, status, _ = report.iter_parts()
    _, *recipients = status.get_payload()
    return report["Subject"], [dict(r.items()) for r in recipients]


def test_4xx_is_retried_on_schedule_with_a_delayed_dsn_and_a_give_up(tmp_path):
    with Sink() as sink:
        sink.handler.rcpt_replies["later@example.net"] = "451 4.2.0 Mailbox busy, try later"

        async def body(f: Fulmar):
            draft = await f.draft(ALICE, to=["later@example.net", "now@example.net"])
            created = (await f.submit(ALICE, draft["id"]))["created"]["s"]
            worker = f.worker()
            start = f.clock.t
            attempts, dsns, statuses = [], [], []
            while (due := await f.outbound_due()) is not None:
                f.clock.t = due - 1
                assert await worker.run_once() == 0  # not a second early
                f.clock.t = due
                assert await worker.run_once() == 1
                attempts.append(f.clock.t - start)
                statuses.append((await f.submission(ALICE, created["id"]))["deliveryStatus"])
                dsns.extend(
                    [await f.services.blobs.get(j["blobId"]) for j in await f.inbound_jobs()]
                )
                assert len(attempts) < 100
            return attempts, dsns, statuses

        attempts, dsns, statuses = run(tmp_path, body, smtp_routes=(("example.net", sink.address),))
    # attempt offsets: 0, then 5, 10, 20, 40 min, 1 h, 2 h after each failure, then every
    # 4 h, the last one at the give-up time (5 days) itself
    expected, t = [0.0], 0.0
    for wait in BACKOFF_SECONDS:
        t += wait
        expected.append(t)
    while t + LATER_SECONDS < 5 * DAY:
        t += LATER_SECONDS
        expected.append(t)
    expected.append(5 * DAY)
    assert [a - attempts[0] for a in attempts] == expected
    # the recipient that took it is never tried again
    assert sink.handler.rcpt_attempts.count("now@example.net") == 1
    assert sink.handler.rcpt_attempts.count("later@example.net") == len(expected)
    assert statuses[0]["now@example.net"]["delivered"] == "yes"
    assert statuses[0]["later@example.net"] == {
        "delivered": "queued",
        "smtpReply": "451 4.2.0 Mailbox busy, try later",
        "displayed": "unknown",
    }
    assert all(s["later@example.net"]["delivered"] == "queued" for s in statuses[:-1])
    assert statuses[-1]["later@example.net"]["delivered"] == "no"
    # two DSNs: "delayed" at the first attempt past 4 hours, "failed" at the give-up
    (delayed_subject, delayed), (failed_subject, failed) = map(_statuses, dsns)
    assert "Delayed" in delayed_subject and "Undelivered" in failed_subject
    (d,) = delayed
    assert d["Action"] == "delayed" and d["Status"] == "4.2.0" and "Will-Retry-Until" in d
    (g,) = failed
    assert g["Action"] == "failed" and g["Status"] == "4.4.7"
    assert g["Diagnostic-Code"] == "smtp; 451 4.2.0 Mailbox busy, try later"
    assert g["Final-Recipient"] == "rfc822; later@example.net"
    delayed_at = next(a for a in expected if a >= 4 * 3600)
    assert sum(1 for a in expected if a < delayed_at) == 6  # the 7th attempt sends it


def test_give_up_time_is_a_setting(tmp_path):
    with Sink() as sink:
        sink.handler.rcpt_replies["later@example.net"] = "421 4.3.2 Shutting down"

        async def body(f: Fulmar):
            draft = await f.draft(ALICE, to=["later@example.net"])
            await f.submit(ALICE, draft["id"])
            worker = f.worker()
            times = []
            while (due := await f.outbound_due()) is not None:
                f.clock.t = due
                await worker.run_once()
                times.append(f.clock.t)
            return times, await f.inbound_jobs()

        times, jobs = run(
            tmp_path,
            body,
            smtp_routes=(("example.net", sink.address),),
            smtp_give_up_seconds=1000,
            smtp_delayed_dsn_seconds=500,
        )
    assert [t - times[0] for t in times] == [0.0, 300.0, 900.0, 1000.0]
    assert len(jobs) == 2  # delayed (at 900 s) and failed (at 1000 s)


def test_a_lapsed_lease_passes_the_job_to_another_worker(tmp_path):
    with Sink() as sink:

        async def body(f: Fulmar):
            draft = await f.draft(ALICE, to=["x@example.net"])
            created = (await f.submit(ALICE, draft["id"]))["created"]["s"]
            dead = f.worker(owner="dead")
            (held,) = await dead.claim()  # ... and the worker dies holding it
            other = f.worker(owner="alive")
            during = await other.run_once()
            f.clock.t += f.services.config.smtp_lease_seconds
            after = await other.run_once()
            fenced = await f.data.jobs.complete(held)
            return during, after, fenced, await f.submission(ALICE, created["id"])

        during, after, fenced, sub = run(
            tmp_path, body, smtp_routes=(("example.net", sink.address),)
        )
    assert during == 0 and after == 1
    assert fenced is False  # the dead worker's lease no longer counts
    assert len(sink.received) == 1
    assert sub["deliveryStatus"]["x@example.net"]["delivered"] == "yes"


def test_a_crash_after_recording_sends_nothing_twice(tmp_path):
    """The job is handed back only after the statuses commit; a worker that dies between
    the two leaves a job whose recipients are all answered: the next one only closes it."""
    with Sink() as sink:

        async def body(f: Fulmar):
            draft = await f.draft(ALICE, to=["x@example.net"])
            await f.submit(ALICE, draft["id"])
            worker = f.worker(owner="first")
            jobs = await worker.claim()
            complete = f.data.jobs.complete

            async def die(job):  # the process is killed before the job is finished
                raise Killed

            f.data.jobs.complete = die
            with pytest.raises(Killed):
                await worker.process(jobs)
            f.data.jobs.complete = complete
            f.clock.t += f.services.config.smtp_lease_seconds
            again = await f.worker(owner="second").run_once()
            return again, await f.outbound_due()

        again, due = run(tmp_path, body, smtp_routes=(("example.net", sink.address),))
    assert again == 1 and due is None
    assert len(sink.received) == 1
