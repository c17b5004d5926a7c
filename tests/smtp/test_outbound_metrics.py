"""Sends, bounces and complaints per sending domain as Prometheus counters: scraped from
the real server's /metrics after mail went out, a DSN and an ARF report came back over
SMTP; and each result and kind counted by the outbound worker."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from smtp_gateway.dsn import RecipientReport, build_dsn
from smtp_gateway.mail_metrics import MAIL_METRICS
from tests.smtp.outkit import Fulmar, Sink, run
from tests.smtp.smtpkit import ALICE, TEST_CONFIG, RawSmtp, emails, start_smtp_server, wait_until
from tests.smtp.test_feedback import arf

TOKEN = "metrics-test-token"
USING = [
    "urn:ietf:params:jmap:core",
    "urn:ietf:params:jmap:mail",
    "urn:ietf:params:jmap:submission",
]


def ok(client, name: str, args: dict) -> dict:
    response_name, result = client.call(name, {"accountId": client.account_id, **args}, USING)
    assert response_name == name, result
    return result


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name.startswith(("fulmar_outbound", "fulmar_bounces", "fulmar_complaints"))
    }


def send_over_smtp(port: int, mail_from: str, rcpt: str, raw: bytes) -> list[str]:
    smtp = RawSmtp(port)
    try:
        assert smtp.reply()[0].startswith("220")
        assert smtp.command("EHLO isp.example")[-1].startswith("250")
        assert smtp.command(f"MAIL FROM:<{mail_from}>")[0].startswith("250")
        assert smtp.command(f"RCPT TO:<{rcpt}>")[0].startswith("250")
        assert smtp.command("DATA")[0].startswith("354")
        body = raw.replace(b"\r\n.", b"\r\n..")
        return smtp.command(body + b"\r\n.")
    finally:
        smtp.close()


def test_metrics_scraped_after_sends_a_bounce_and_a_complaint(tmp_path):
    with Sink() as sink:
        sink.handler.rcpt_replies["gone@isp.example"] = "550 5.1.1 No such user"
        config = TEST_CONFIG.replace(
            "[limits]",
            f'smtp_routes = {{ "isp.example" = "{sink.address}" }}\n'
            f'metrics_token = "{TOKEN}"\nsmtp_queue_poll_seconds = 0.1\n\n[limits]',
        )
        server = start_smtp_server(tmp_path, config)
        try:
            assert server.http is not None
            url = server.http.url
            client = server.client(ALICE)
            drafts = next(
                m["id"]
                for m in ok(client, "Mailbox/get", {"ids": None})["list"]
                if m["role"] == "drafts"
            )
            identity = ok(client, "Identity/get", {"ids": None})["list"][0]["id"]
            email = {
                "mailboxIds": {drafts: True},
                "from": [{"email": ALICE}],
                "to": [{"email": "ann@isp.example"}, {"email": "gone@isp.example"}],
                "subject": "Metrics",
                "bodyValues": {"1": {"value": "Hello."}},
                "textBody": [{"partId": "1", "type": "text/plain"}],
            }
            email_id = ok(client, "Email/set", {"create": {"e": email}})["created"]["e"]["id"]
            created = ok(
                client,
                "EmailSubmission/set",
                {"create": {"s": {"identityId": identity, "emailId": email_id}}},
            )["created"]["s"]
            wait_until(lambda: sink.received, timeout=60)
            (got,) = sink.received

            def count(name: str, **labels: str) -> float:
                key = (name, tuple(sorted({"domain": "example.com", **labels}.items())))
                return scrape(url).get(key, 0.0)

            wait_until(
                lambda: count("fulmar_outbound_messages_total", result="delivered") == 1, timeout=30
            )
            assert count("fulmar_outbound_messages_total", result="failed") == 1
            assert count("fulmar_bounces_total", kind="hard") == 1  # gone@, at RCPT
            # ann's mailbox fills up later: a DSN comes back to the bounce address
            dsn = build_dsn(
                reporting_mta="mx.isp.example",
                sender=got.mail_from,
                original=got.data,
                reports=[RecipientReport("ann@isp.example", "failed", "5.2.2", "552 5.2.2 Full")],
                arrival=0,
                now=0,
            )
            assert send_over_smtp(server.smtp_port, "", got.mail_from, dsn)[0].startswith("250")
            wait_until(lambda: count("fulmar_bounces_total", kind="hard") == 2, timeout=30)
            # and ann complains
            report = arf(got.data, mail_from=got.mail_from, rcpts=("ann@isp.example",))
            reply = send_over_smtp(server.smtp_port, "fbl@isp.example", got.mail_from, report)
            assert reply[0].startswith("250")
            wait_until(lambda: count("fulmar_complaints_total") == 1, timeout=30)
            final = scrape(url)
            subjects = [e["subject"] for e in emails(client)]
            submission = ok(client, "EmailSubmission/get", {"ids": [created["id"]]})["list"][0]
        finally:
            server.stop()
    assert final.get(("fulmar_bounces_total", (("domain", "example.com"), ("kind", "soft")))) in (
        None,
        0,
    )
    assert submission["deliveryStatus"]["ann@isp.example"]["delivered"] == "no"
    # the DSN lands in the Inbox; the matched complaint does not
    assert not [s for s in subjects if s.startswith("complaint about")], subjects
    assert len(subjects) == 3, subjects  # the sent Email and the two DSNs (gone@, ann@)
    assert "Traceback" not in server.log(), server.log()


def value(counter, *labels: str) -> float:
    return counter.labels(*labels)._value.get()


def test_each_result_and_kind_is_counted_once_committed(tmp_path):
    """deferred (4xx), then given up (a soft bounce), a hard bounce, then suppressed."""
    with Sink() as sink:
        sink.handler.rcpt_replies.update(
            {"slow@isp.example": "451 4.3.0 Try later", "gone@isp.example": "550 5.1.1 No"}
        )

        async def body(f: Fulmar):
            before = {name: value(counter, "example.com", label) for name, counter, label in KINDS}
            draft = await f.draft(ALICE, to=["slow@isp.example", "gone@isp.example"])
            await f.submit(ALICE, draft["id"])
            await f.worker().run_once()
            f.clock.t += f.services.config.smtp_give_up_seconds
            await f.worker().run_once()  # slow@ given up
            again = await f.draft(ALICE, to=["gone@isp.example"])
            await f.submit(ALICE, again["id"])
            f.clock.t += 1
            await f.worker().run_once()  # gone@ is suppressed now
            return {
                name: value(counter, "example.com", label) - before[name]
                for name, counter, label in KINDS
            }

        counted = run(tmp_path, body, smtp_routes=(("isp.example", sink.address),))
    assert counted == {
        "deferred": 1,
        "delivered": 0,
        "failed": 2,
        "suppressed": 1,
        "hard": 1,
        "soft": 1,
    }


KINDS = [
    ("deferred", MAIL_METRICS.outbound, "deferred"),
    ("delivered", MAIL_METRICS.outbound, "delivered"),
    ("failed", MAIL_METRICS.outbound, "failed"),
    ("suppressed", MAIL_METRICS.outbound, "suppressed"),
    ("hard", MAIL_METRICS.bounces, "hard"),
    ("soft", MAIL_METRICS.bounces, "soft"),
]
