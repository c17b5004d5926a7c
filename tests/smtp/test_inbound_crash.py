"""Accepted means durable: ``fulmar serve`` killed with SIGKILL at random moments while
clients stream messages. Every message that got a 250 is in its mailbox exactly once in
the end, and the jobs left queued at each kill are delivered after a restart."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import aiosmtplib

from tests.smtp.smtpkit import (
    ALICE,
    BOB,
    TEST_CONFIG,
    emails,
    message,
    start_smtp_server,
    wait_until,
)

TRIALS = 20
CLIENTS = 4
#: jobs held by a killed server are taken again once their lease lapses
CONFIG = TEST_CONFIG.replace("[limits]", "smtp_delivery_lease_seconds = 0.5\n\n[limits]")


async def stream(port: int, name: str, accepted: list[tuple[str, str]]) -> None:
    """Send messages until the server goes away; record those answered 250."""
    rng = random.Random(name)
    n = 0
    try:
        async with aiosmtplib.SMTP(
            hostname="127.0.0.1", port=port, start_tls=False, timeout=10
        ) as client:
            while True:
                n += 1
                message_id = f"{name}-{n}@crash.example"
                rcpt = rng.choice([ALICE, BOB])
                raw = message(f"crash {message_id}", to=rcpt, message_id=f"<{message_id}>")
                await client.sendmail("someone@remote.example", [rcpt], raw)
                accepted.append((rcpt, message_id))
    except (aiosmtplib.SMTPException, OSError):
        return


async def trial(server, number: int, accepted: list[tuple[str, str]], rng: random.Random) -> int:
    tasks = [
        asyncio.create_task(stream(server.smtp_port, f"t{number}c{i}", accepted))
        for i in range(CLIENTS)
    ]
    # the kill falls at a random moment once mail is flowing (a fresh process's first
    # message pays for loading the checks: the public suffix list, the DKIM code)
    before = len(accepted)
    for _ in range(600):
        if len(accepted) > before or all(t.done() for t in tasks):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(rng.uniform(0.05, 0.4))
    server.kill()
    await asyncio.gather(*tasks)
    return server.pending_jobs()


def test_sigkill_loses_and_duplicates_nothing(tmp_path):
    rng = random.Random(9)
    server = start_smtp_server(tmp_path, CONFIG, (ALICE, BOB))
    accepted: list[tuple[str, str]] = []
    left_queued = 0
    for number in range(TRIALS):
        if number:
            server.start()
        left_queued += asyncio.run(trial(server, number, accepted, rng))
    server.start()
    try:
        wait_until(lambda: server.pending_jobs() == 0, timeout=60)
        clients = {login: server.client(login) for login in (ALICE, BOB)}
        found = Counter(
            (login, mid)
            for login, c in clients.items()
            for e in emails(c)
            for mid in e["messageId"]
        )
    finally:
        server.stop()
    assert accepted, "no message was accepted at all"
    missing = [a for a in accepted if found[a] == 0]
    doubled = [k for k, count in found.items() if count > 1]
    assert not missing, missing
    assert not doubled, doubled
    print(f"{len(accepted)} messages accepted in {TRIALS} kills; {left_queued} left queued")
    assert "Traceback" not in server.log(), server.log()
