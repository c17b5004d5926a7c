"""The outbound queue across crashes: ``fulmar serve`` killed with SIGKILL at random moments
while EmailSubmissions are being sent to an SMTP sink on 127.0.0.1 (``smtp_routes``).

After each kill the committed state is read straight from the database, which tells for
every message the sink has accepted whether the server had committed its ``delivered:
yes`` before it died. That splits duplicates exactly: a message the sink took during a run
whose kill fell before the commit recording it must arrive again after a restart; one
whose status was committed must never arrive again; and no run sends a message twice.
In the end every submission the server accepted reached the sink and says ``delivered:
yes``.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import sqlite3
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
from aiosmtpd.controller import Controller

from tests.conftest import FulmarServer, free_port
from tests.push.pushkit import provision
from tests.smtp.smtpkit import ALICE, TEST_CONFIG, wait_until

TRIALS = 20
SUBMITTERS = 3
#: Emails each trial may submit
PER_TRIAL = 20
RCPT = "someone@remote.example"
USING = [
    "urn:ietf:params:jmap:core",
    "urn:ietf:params:jmap:mail",
    "urn:ietf:params:jmap:submission",
]
_MESSAGE_ID = re.compile(rb"^Message-ID:\s*<([^>\r\n]+)>", re.IGNORECASE | re.MULTILINE)


@dataclass
class ArrivalLog:
    """What the sink accepted: (Message-ID, the server run it came from), in order."""

    run: int = 0
    arrivals: list[tuple[str, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def since(self, index: int) -> int:
        with self.lock:
            return len(self.arrivals) - index


class LoggingSink:
    def __init__(self, log: ArrivalLog) -> None:
        self.log = log

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        # a connection belongs to the server run it was opened by (its DATA may be
        # handled a moment after that server's kill)
        session.fulmar_run = self.log.run
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server, session, envelope):
        found = _MESSAGE_ID.search(envelope.original_content or envelope.content)
        with self.log.lock:  # logged before the 250 goes out
            message_id = found.group(1).decode() if found else "?"
            self.log.arrivals.append((message_id, session.fulmar_run))
        return "250 2.0.0 Ok: queued"


def kill(server: FulmarServer) -> None:
    """SIGKILL: no shutdown of any kind."""
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait()
    server.process = None


def pending_jobs(data_dir: Path) -> int:
    uri = f"file:{data_dir / 'fulmar.db'}?mode=ro"
    with sqlite3.connect(uri, uri=True) as conn:
        return conn.execute("SELECT count(*) FROM jobs").fetchone()[0]


def committed_status(data_dir: Path) -> dict[str, str]:
    """Message-ID -> the sink recipient's ``delivered`` as committed on disk (read-only)."""
    uri = f"file:{data_dir / 'fulmar.db'}?mode=ro"
    with sqlite3.connect(uri, uri=True) as conn:
        rows = conn.execute(
            "SELECT account_id, type, id, data FROM objects WHERE type IN ('Email', "
            "'EmailSubmission')"
        ).fetchall()
    emails = {(a, i): orjson.loads(d) for a, t, i, d in rows if t == "Email"}
    status: dict[str, str] = {}
    for account, kind, _, raw in rows:
        if kind != "EmailSubmission":
            continue
        doc = orjson.loads(raw)
        (message_id,) = emails[(account, doc["emailId"])]["messageId"]
        status[message_id] = doc["deliveryStatus"][RCPT]["delivered"]
    return status


async def submit_until_gone(url: str, setup: dict, stock: list[tuple[str, str]], created):
    """Submit Emails of the stock one request at a time until the server goes away (or
    the trial's share of the stock runs out)."""
    async with httpx.AsyncClient(base_url=url, headers=setup["auth"], timeout=10) as http:
        while stock:
            email_id, message_id = stock.pop()
            submission = {"identityId": setup["identity"], "emailId": email_id}
            args = {"accountId": setup["account"], "create": {"s": submission}}
            body = {"using": USING, "methodCalls": [["EmailSubmission/set", args, "0"]]}
            try:
                response = await http.post("/jmap/api/", json=body)
            except httpx.HTTPError:
                return
            if response.status_code != 200:
                return
            result = response.json()["methodResponses"][0][1]
            assert "s" in (result.get("created") or {}), result
            created.append(message_id)


def make_stock(url: str, setup: dict, count: int) -> list[tuple[str, str]]:
    """Draft Emails made before the trials, so a fresh process sends at once (building a
    message waits for the worker pool, which a new process is still starting)."""
    stock = []
    with httpx.Client(base_url=url, headers=setup["auth"], timeout=60) as http:
        for start in range(0, count, 100):
            create = {}
            for n in range(start, min(count, start + 100)):
                create[f"e{n}"] = {
                    "mailboxIds": {setup["drafts"]: True},
                    "keywords": {"$draft": True},
                    "from": [{"email": ALICE}],
                    "to": [{"email": RCPT}],
                    "subject": f"crash {n}",
                    "messageId": [f"m{n}@out.crash.example"],
                    "bodyValues": {"1": {"value": "Hello there."}},
                    "textBody": [{"partId": "1", "type": "text/plain"}],
                }
            args = {"accountId": setup["account"], "create": create}
            body = {"using": USING, "methodCalls": [["Email/set", args, "0"]]}
            result = http.post("/jmap/api/", json=body).json()["methodResponses"][0][1]
            assert len(result["created"]) == len(create), result
            stock += [
                (v["id"], f"m{k[1:]}@out.crash.example") for k, v in result["created"].items()
            ]
    return stock


def jmap_setup(url: str, token: str) -> dict:
    """The account, Drafts and Identity ids; requests carry a Bearer token (a password
    would cost an argon2 verification in each fresh process)."""
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=auth, timeout=30) as http:
        session = http.get("/.well-known/jmap").json()
        account = session["primaryAccounts"]["urn:ietf:params:jmap:mail"]
        calls = [
            ["Mailbox/get", {"accountId": account, "ids": None}, "m"],
            ["Identity/get", {"accountId": account, "ids": None}, "i"],
        ]
        body = {"using": USING, "methodCalls": calls}
        (_, boxes, _), (_, identities, _) = http.post("/jmap/api/", json=body).json()[
            "methodResponses"
        ]
    drafts = next(m["id"] for m in boxes["list"] if m["role"] == "drafts")
    identity = identities["list"][0]["id"]
    return {"account": account, "drafts": drafts, "identity": identity, "auth": auth}


async def trial(server, setup, stock, log: ArrivalLog, created, rng) -> None:
    tasks = [
        asyncio.create_task(submit_until_gone(server.url, setup, stock, created))
        for _ in range(SUBMITTERS)
    ]
    # kill at a random moment once mail is flowing out of this run
    start = len(log.arrivals)
    for _ in range(600):
        if log.since(start) > 0 or all(t.done() for t in tasks):
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(rng.uniform(0.0, 0.3))
    kill(server)
    await asyncio.gather(*tasks)


def test_sigkill_resends_only_what_was_not_recorded(tmp_path):
    rng = random.Random(9)
    log = ArrivalLog()
    sink = Controller(LoggingSink(log), hostname="127.0.0.1", port=free_port())
    sink.start()
    config = TEST_CONFIG.replace(
        "[limits]",
        f'smtp_routes = {{ "remote.example" = "127.0.0.1:{sink.port}" }}\n'
        "smtp_queue_poll_seconds = 0.05\n"
        # jobs held by a killed server are taken again once their lease lapses
        "smtp_lease_seconds = 1.0\n\n[limits]",
    )
    started = time.monotonic()
    created: list[str] = []
    #: after each kill: Message-ID -> delivered, as committed; and what was created by then
    snapshots: list[dict[str, str]] = []
    created_by_kill: list[int] = []
    try:
        tokens = provision(tmp_path, (ALICE,))
        (tmp_path / "fulmar.toml").write_text(config)
        server = FulmarServer(tmp_path, free_port(), ["--config", str(tmp_path / "fulmar.toml")])
        server.start()
        setup = jmap_setup(server.url, tokens[ALICE])
        stock = make_stock(server.url, setup, TRIALS * PER_TRIAL)
        for number in range(TRIALS):
            log.run = number
            if number:
                server.start()
            share = stock[number * PER_TRIAL : (number + 1) * PER_TRIAL]
            asyncio.run(trial(server, setup, share, log, created, rng))
            snapshots.append(committed_status(tmp_path))
            created_by_kill.append(len(created))
        log.run = TRIALS
        server.start()
        try:
            final = wait_until(
                lambda: (
                    (s := committed_status(tmp_path))
                    and all(v == "yes" for v in s.values())
                    and pending_jobs(tmp_path) == 0
                    and s
                ),
                timeout=60,
            )
        finally:
            server.stop()
    finally:
        sink.stop()
    elapsed = time.monotonic() - started

    runs_of: dict[str, list[int]] = defaultdict(list)
    for message_id, run in log.arrivals:
        runs_of[message_id].append(run)
    assert created, "no submission was accepted at all"
    # accepted means durable: every submission answered before a kill was on disk after it
    for kill, count in enumerate(created_by_kill):
        assert set(created[:count]) <= set(snapshots[kill]), kill
    # every submission the server has (answered or not before a kill) arrived and is done
    assert set(created) <= set(final)
    assert set(runs_of) == set(final), set(runs_of) ^ set(final)
    duplicates = 0
    for message_id, runs in runs_of.items():
        assert len(runs) == len(set(runs)), (message_id, runs)  # no run sends twice
        for earlier in runs[:-1]:
            # sent again only if the kill of that run fell before the commit recording it
            assert snapshots[earlier][message_id] == "queued", (message_id, runs)
            duplicates += 1
        last = runs[-1]
        # and a message taken but not recorded when its run was killed is sent again
        assert last == TRIALS or snapshots[last][message_id] == "yes", (message_id, runs)
    print(
        f"{len(final)} messages, {len(log.arrivals)} arrivals, {duplicates} sent again "
        f"(each with the kill between the sink's 250 and the commit), {TRIALS} kills, "
        f"{elapsed:.1f} s"
    )
    for path in tmp_path.glob("server-*.log"):  # every run's log, the killed ones too
        assert "Traceback" not in path.read_text(errors="replace"), path.read_text()
