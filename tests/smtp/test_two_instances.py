"""Issue 9's proof: two Fulmar instances on 127.0.0.1 with their own domains exchange mail.

Each has a ``dns_zone_file`` holding both domains' ``fulmar dns`` output (MX, SPF, DKIM,
DMARC) and ``smtp_routes`` pointing at the other's SMTP port. A message submitted with
EmailSubmission/set on one arrives in the other's Inbox with ``dkim=pass`` (and SPF and
DMARC pass) in Authentication-Results, is pushed to a WebSocket there, and the sender sees
``delivered: yes``. A send to an unknown user there comes back as ``delivered: no`` and a
DSN in the sender's Inbox. Both directions.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.conftest import FULMAR, Client, FulmarServer, free_port
from tests.push.pushkit import PASSWORD, provision
from tests.smtp.outkit import SUBMISSION
from tests.smtp.smtpkit import run, wait_until

USING = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail", SUBMISSION]
A, B = "a.example", "b.example"
ALICE, BOB = f"alice@{A}", f"bob@{B}"


class Instance:
    def __init__(self, folder: Path, domain: str, user: str) -> None:
        self.folder, self.domain, self.user = folder, domain, user
        self.smtp_port = free_port()
        folder.mkdir(parents=True)
        provision(folder, (user,))

    def dns_records(self) -> str:
        """``fulmar dns`` for the instance's domain (creating its DKIM keys)."""
        return subprocess.run(
            [
                FULMAR,
                "dns",
                self.domain,
                "--ip",
                "127.0.0.1",
                "--mx-ip",
                "127.0.0.1",
                "--data-dir",
                str(self.folder),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def start(self, zone: Path, other: Instance) -> None:
        config = self.folder / "fulmar.toml"
        config.write_text(
            f'smtp_hostname = "mx.{self.domain}"\n'
            f'dns_zone_file = "{zone}"\n'
            "dns_offline = true\n"
            f'smtp_routes = {{ "{other.domain}" = "127.0.0.1:{other.smtp_port}" }}\n'
            "smtp_queue_poll_seconds = 0.2\nworker_processes = 1\npush_poll_seconds = 0.5\n"
        )
        self.http = FulmarServer(
            self.folder,
            free_port(),
            extra_args=["--config", str(config), "--smtp-listen", f"127.0.0.1:{self.smtp_port}"],
        )
        self.http.start()
        self.client = Client(self.http, self.user, PASSWORD)

    def call(self, name: str, args: dict) -> dict:
        args = {"accountId": self.client.account_id, **args}
        response_name, result = self.client.call(name, args, using=USING)
        assert response_name == name, result
        return result

    def pending_jobs(self) -> int:
        """Jobs in the instance's queues (read straight from its database, read-only)."""
        uri = f"file:{self.folder / 'fulmar.db'}?mode=ro"
        with sqlite3.connect(uri, uri=True) as conn:
            return conn.execute("SELECT count(*) FROM jobs").fetchone()[0]

    def stop(self) -> None:
        self.http.stop()
        assert "Traceback" not in self.http.log(), self.http.log()


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pair")
    a, b = Instance(folder / "a", A, ALICE), Instance(folder / "b", B, BOB)
    zone = folder / "both.zone"
    zone.write_text(a.dns_records() + b.dns_records())
    a.start(zone, b)
    b.start(zone, a)
    yield a, b
    a.stop()
    b.stop()


def submit(sender: Instance, to: str, subject: str) -> str:
    mailboxes = sender.call("Mailbox/get", {"ids": None})["list"]
    drafts = next(m["id"] for m in mailboxes if m["role"] == "drafts")
    identity = sender.call("Identity/get", {"ids": None})["list"][0]["id"]
    draft = {
        "mailboxIds": {drafts: True},
        "from": [{"email": sender.user}],
        "to": [{"email": to}],
        "subject": subject,
        "bodyValues": {"1": {"value": f"{subject}: hello from {sender.domain}."}},
        "textBody": [{"partId": "1", "type": "text/plain"}],
    }
    created = sender.call("Email/set", {"create": {"d": draft}})["created"]["d"]
    result = sender.call(
        "EmailSubmission/set",
        {"create": {"s": {"identityId": identity, "emailId": created["id"]}}},
    )
    assert not result.get("notCreated"), result
    return result["created"]["s"]["id"]


def final_status(sender: Instance, submission_id: str, rcpt: str) -> dict:
    def settled():
        (sub,) = sender.call("EmailSubmission/get", {"ids": [submission_id]})["list"]
        status = sub["deliveryStatus"][rcpt]
        return status if status["delivered"] != "queued" else None

    return wait_until(settled, timeout=60)


def inbox(instance: Instance, properties: list[str]) -> list[dict]:
    mailboxes = instance.call("Mailbox/get", {"ids": None})["list"]
    inbox_id = next(m["id"] for m in mailboxes if m["role"] == "inbox")
    ids = instance.call("Email/query", {"filter": {"inMailbox": inbox_id}})["ids"]
    return instance.call("Email/get", {"ids": ids, "properties": properties})["list"]


@pytest.mark.parametrize("direction", ["a-to-b", "b-to-a"])
def test_mail_crosses_signed_pushed_and_delivered(pair, direction):
    sender, receiver = pair if direction == "a-to-b" else pair[::-1]
    subject = f"crossing {direction}"

    async def deliver_and_watch() -> dict:
        from tests.push.pushkit import JmapSocket

        class Target:  # what JmapSocket.open needs of a server
            ws_url = f"ws://127.0.0.1:{receiver.http.port}/jmap/ws"

        async with await JmapSocket.open(Target(), receiver.user) as ws:
            await ws.enable_push(["Email", "EmailDelivery"])
            submission_id = submit(sender, receiver.user, subject)
            change = await ws.next_type("StateChange", timeout=60)
            (states,) = change["changed"].values()
            assert "EmailDelivery" in states
            return {"submission": submission_id}

    submission_id = run(deliver_and_watch())["submission"]
    status = final_status(sender, submission_id, receiver.user)
    assert status["delivered"] == "yes" and status["smtpReply"].startswith("250")
    props = ["subject", "header:Authentication-Results:all", "from"]
    (got,) = [e for e in inbox(receiver, props) if e["subject"] == subject]
    (results,) = got["header:Authentication-Results:all"]
    assert results.strip().startswith(f"mx.{receiver.domain};")
    for verdict in ("dkim=pass", "spf=pass", "dmarc=pass"):
        assert verdict in results, results
    assert f"header.d={sender.domain}" in results


def test_unknown_user_comes_back_as_delivered_no_and_a_dsn(pair):
    a, _ = pair
    submission_id = submit(a, f"nobody@{B}", "to nobody")
    status = final_status(a, submission_id, f"nobody@{B}")
    assert status["delivered"] == "no" and status["smtpReply"].startswith("550 5.1.1")
    props = ["subject", "bodyStructure", "from"]
    dsn = wait_until(
        lambda: [e for e in inbox(a, props) if e["bodyStructure"]["type"] == "multipart/report"],
        timeout=60,
    )
    assert dsn[0]["from"][0]["email"].lower().startswith("mailer-daemon@")


def test_vacation_reply_goes_back_once_per_sender(pair):
    """RFC 8621 §8 / RFC 3834: bob is away; alice's two messages get one reply."""
    a, b = pair
    vacation = "urn:ietf:params:jmap:vacationresponse"
    name, result = b.client.call(
        "VacationResponse/set",
        {
            "accountId": b.client.account_id,
            "update": {"singleton": {"isEnabled": True, "textBody": "Back in January."}},
        },
        using=[*USING, vacation],
    )
    assert name == "VacationResponse/set" and result["updated"] == {"singleton": None}, result
    for n in (1, 2):
        submission_id = submit(a, BOB, f"are you there {n}")
        assert final_status(a, submission_id, BOB)["delivered"] == "yes"
    props = ["subject", "header:Auto-Submitted:asText", "inReplyTo"]
    replies = wait_until(
        lambda: [e for e in inbox(a, props) if e["subject"] == "Auto: are you there 1"],
        timeout=60,
    )
    assert replies[0]["header:Auto-Submitted:asText"].strip() == "auto-replied"
    # the second message arrived too; once both queues are empty on both sides (so any
    # reply to it would have been sent and delivered), there is none
    wait_until(lambda: [e for e in inbox(b, ["subject"]) if e["subject"] == "are you there 2"])
    wait_until(lambda: b.pending_jobs() == 0 and a.pending_jobs() == 0, timeout=60)
    assert not [e for e in inbox(a, ["subject"]) if e["subject"] == "Auto: are you there 2"]
