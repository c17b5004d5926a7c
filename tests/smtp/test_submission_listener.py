"""The submission listener (RFC 6409, RFC 4954, RFC 8314) of the real server, driven with
aiosmtplib over 127.0.0.1; what it queues is delivered to an aiosmtpd sink through
``smtp_routes``."""

from __future__ import annotations

import asyncio
import email
import socket
from email.policy import default

import aiosmtplib
import pytest

from jmap.config import ConfigError, load_config
from smtp_gateway.submission import from_addresses, submission_listen_problems
from tests.conftest import free_port
from tests.push.pushkit import PASSWORD, provision
from tests.smtp.outkit import Sink
from tests.smtp.smtpkit import ALICE, BOB, CAROL, TEST_CONFIG, USERS, SmtpServer, wait_until

DAVE = "dave@example.com"  # the account whose send rate the tests use up
LIMIT = 3


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("submission")
    tokens = provision(data_dir, (*USERS, DAVE))
    submission, submissions = free_port(), free_port()
    with Sink() as sink:
        config = TEST_CONFIG.replace(
            "[limits]",
            f'submission_listen = "127.0.0.1:{submission}"\n'
            f'submissions_listen = "127.0.0.1:{submissions}"\n'
            f"smtp_max_messages_per_hour = {LIMIT}\n"
            "auth_failures_allowed = 3\n"
            f'smtp_routes = {{ "example.net" = "{sink.address}" }}\n'
            "smtp_queue_poll_seconds = 0.2\n\n[limits]",
        )
        server = SmtpServer(data_dir, config)
        server.start()
        try:
            yield {
                "server": server,
                "sink": sink,
                "tokens": tokens,
                "ports": (submission, submissions),
            }
        finally:
            server.stop()
        assert "Traceback" not in server.log(), server.log()


def client(env, implicit: bool = False) -> aiosmtplib.SMTP:
    port = env["ports"][1 if implicit else 0]
    return aiosmtplib.SMTP(
        hostname="127.0.0.1",
        port=port,
        use_tls=implicit,
        start_tls=False,
        validate_certs=False,
        timeout=20,
        local_hostname="client.example",
    )


def body(sender: str, to: str, subject: str, extra: str = "") -> bytes:
    return (
        f"From: <{sender}>\r\nTo: <{to}>\r\n{extra}Subject: {subject}\r\n"
        "Date: Wed, 02 Dec 2026 10:00:00 +0000\r\nMessage-ID: <"
        f"{subject.replace(' ', '.')}@example.com>\r\n\r\nHello.\r\n"
    ).encode()


async def tls_session(env, login: str, secret: str, implicit: bool = False):
    smtp = client(env, implicit)
    await smtp.connect()
    if not implicit:
        await smtp.starttls()
    await smtp.ehlo()
    await smtp.auth_plain(login, secret)
    return smtp


def test_auth_is_offered_only_after_starttls(env):
    async def go():
        smtp = client(env)
        await smtp.connect()
        await smtp.ehlo()
        before = (smtp.supports_extension("auth"), smtp.supports_extension("starttls"))
        refused = await smtp.execute_command(b"AUTH", b"PLAIN", b"AGFsaWNlAHg=")
        mail = await smtp.execute_command(b"MAIL", f"FROM:<{ALICE}>".encode())
        await smtp.starttls()
        await smtp.ehlo()
        after = smtp.esmtp_extensions.get("auth", "")
        await smtp.quit()
        return before, refused, mail, after

    before, refused, mail, after = asyncio.run(go())
    assert before == (False, True)
    assert refused.code == 538 and refused.message.startswith("5.7.11")
    assert mail.code == 530 and mail.message.startswith("5.7.0")
    assert set(after.upper().split()) == {"PLAIN", "LOGIN"}


@pytest.mark.parametrize("mechanism", ["plain", "login"])
@pytest.mark.parametrize("kind", ["password", "token"])
def test_auth_with_password_and_token(env, mechanism, kind):
    secret = PASSWORD if kind == "password" else env["tokens"][ALICE]

    async def go():
        smtp = client(env)
        await smtp.connect()
        await smtp.starttls()
        await smtp.ehlo()
        response = await getattr(smtp, f"auth_{mechanism}")(ALICE, secret)
        mail = await smtp.mail(ALICE)
        await smtp.quit()
        return response, mail

    response, mail = asyncio.run(go())
    assert response.code == 235 and response.message.startswith("2.7.0")
    assert mail.code == 250


@pytest.mark.parametrize(
    "login, secret",
    [
        (BOB, "wrong password"),
        ("nobody@example.com", PASSWORD),
        (BOB, "fmt_not-a-token"),
        # a valid token, but another account's
        (BOB, None),
    ],
)
def test_wrong_credentials_535(env, login, secret):
    secret = secret or env["tokens"][ALICE]

    async def go():
        smtp = client(env)
        await smtp.connect()
        await smtp.starttls()
        await smtp.ehlo()
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as refused:
            await smtp.auth_plain(login, secret)
        mail = await smtp.execute_command(b"MAIL", f"FROM:<{login}>".encode())
        await smtp.quit()
        return refused.value, mail

    refused, mail = asyncio.run(go())
    assert refused.code == 535 and refused.message.startswith("5.7.8")
    assert mail.code == 530


def test_repeated_failures_are_throttled_454(env):
    """auth_failures_allowed = 3 for one login: the fourth try, even with the right
    password, is refused unchecked."""
    login = "jörg@example.com"

    async def go():
        smtp = client(env)
        await smtp.connect()
        await smtp.starttls()
        await smtp.ehlo()
        codes = []
        for secret in ["bad 1", "bad 2", "bad 3", PASSWORD]:
            try:
                codes.append((await smtp.auth_plain(login, secret)).code)
            except aiosmtplib.SMTPAuthenticationError as exc:
                codes.append((exc.code, exc.message[:5]))
        await smtp.quit()
        return codes

    codes = asyncio.run(go())
    assert codes[:3] == [(535, "5.7.8")] * 3
    assert codes[3] == (454, "4.7.0")


def test_foreign_sender_550_and_foreign_from_at_end_of_data(env):
    async def go():
        smtp = await tls_session(env, ALICE, PASSWORD)
        foreign = await smtp.execute_command(b"MAIL", f"FROM:<{BOB}>".encode())
        null = await smtp.execute_command(b"MAIL", b"FROM:<>")
        await smtp.mail(ALICE)
        await smtp.rcpt("rcpt@example.net")
        with pytest.raises(aiosmtplib.SMTPDataError) as data:
            await smtp.data(body(CAROL, "rcpt@example.net", "forged from"))
        await smtp.quit()
        return foreign, null, data.value

    foreign, null, data = asyncio.run(go())
    assert foreign.code == 550 and foreign.message.startswith("5.7.1")
    assert null.code == 550 and null.message.startswith("5.7.1")
    assert data.code == 550 and data.message.startswith("5.7.1")


def test_too_many_recipients_452(env):
    async def go():
        smtp = await tls_session(env, ALICE, PASSWORD)
        await smtp.mail(ALICE)
        codes = []
        for n in range(101):
            codes.append(await smtp.execute_command(b"RCPT", f"TO:<r{n}@example.net>".encode()))
        await smtp.execute_command(b"RSET")
        await smtp.quit()
        return codes

    codes = asyncio.run(go())
    assert all(c.code == 250 for c in codes[:100])
    assert codes[100].code == 452 and codes[100].message.startswith("4.5.3")


def test_submitted_message_is_delivered_signed(env):
    sink, server = env["sink"], env["server"]
    before = len(sink.received)

    async def go():
        smtp = await tls_session(env, ALICE, PASSWORD)
        extra = "Bcc: <hidden@example.net>\r\n"
        errors, reply = await smtp.sendmail(
            ALICE,
            ["to@example.net", "hidden@example.net"],
            body(ALICE, "to@example.net", "sub one", extra),
        )
        await smtp.quit()
        return errors, reply

    errors, reply = asyncio.run(go())
    assert errors == {} and reply.startswith("2.0.0 Ok: queued as ")
    wait_until(lambda: len(sink.received) > before)
    got = sink.received[before]
    assert got.mail_from != "" and sorted(got.rcpts) == ["hidden@example.net", "to@example.net"]
    message = email.message_from_bytes(got.data, policy=default)
    assert message["Subject"] == "sub one"
    assert "example.com" in message["DKIM-Signature"]
    received = message.get_all("Received")[0]
    assert "with ESMTPSA" in received and "by mx.example.com" in received
    assert wait_until(lambda: server.pending_jobs() == 0)


def test_implicit_tls_listener(env):
    sink = env["sink"]
    before = len(sink.received)

    async def go():
        smtp = client(env, implicit=True)
        await smtp.connect()
        await smtp.ehlo()
        offered = smtp.supports_extension("starttls"), smtp.supports_extension("auth")
        await smtp.auth_login(CAROL, env["tokens"][CAROL])
        await smtp.sendmail(CAROL, ["tls@example.net"], body(CAROL, "tls@example.net", "over 465"))
        await smtp.quit()
        return offered

    assert asyncio.run(go()) == (False, True)
    wait_until(lambda: len(sink.received) > before)
    got = sink.received[before]
    assert got.rcpts == ["tls@example.net"]
    assert "ESMTPSA" in email.message_from_bytes(got.data, policy=default)["Received"]


def test_rate_limit_452_per_account_refusals_free(env):
    async def go():
        smtp = await tls_session(env, DAVE, PASSWORD)
        replies = []
        # refused messages charge nothing: the allowance is whole after them
        await smtp.mail(DAVE)
        await smtp.rcpt("rate@example.net")
        with pytest.raises(aiosmtplib.SMTPDataError):
            await smtp.data(body(ALICE, "rate@example.net", "refused"))
        for n in range(LIMIT + 2):
            try:
                _, reply = await smtp.sendmail(
                    DAVE, ["rate@example.net"], body(DAVE, "rate@example.net", f"rate {n}")
                )
                replies.append(reply[:5])
            except aiosmtplib.SMTPDataError as exc:
                replies.append((exc.code, exc.message[:5]))
                await smtp.rset()
        # the allowance is per account
        other = await tls_session(env, BOB, PASSWORD)
        _, reply = await other.sendmail(
            BOB, ["rate@example.net"], body(BOB, "rate@example.net", "b")
        )
        await smtp.quit()
        await other.quit()
        return replies, reply

    replies, other = asyncio.run(go())
    assert replies[:LIMIT] == ["2.0.0"] * LIMIT
    assert replies[LIMIT:] == [(452, "4.7.1")] * 2
    assert other.startswith("2.0.0")


def test_unauthenticated_mail_530(env):
    async def go():
        smtp = client(env, implicit=True)
        await smtp.connect()
        await smtp.ehlo()
        mail = await smtp.execute_command(b"MAIL", f"FROM:<{ALICE}>".encode())
        rcpt = await smtp.execute_command(b"RCPT", b"TO:<x@example.net>")
        await smtp.quit()
        return mail, rcpt

    mail, rcpt = asyncio.run(go())
    assert mail.code == 530 and mail.message.startswith("5.7.0")
    assert rcpt.code == 530


def test_from_addresses():
    assert from_addresses(b"From: A <a@example.com>, b@example.org\r\n\r\nx") == [
        "a@example.com",
        "b@example.org",
    ]
    assert from_addresses(b"To: a@example.com\r\n\r\nx") is None
    assert from_addresses(b"From: undisclosed:;\r\n\r\nx") is None
    assert from_addresses(b"From: not an address\r\n\r\nx") is None


@pytest.mark.parametrize("name", ["FULMAR_SUBMISSION_LISTEN", "FULMAR_SUBMISSIONS_LISTEN"])
def test_listen_settings_are_checked(name):
    assert load_config(environ={}).submission_listen == ""
    setting = name.removeprefix("FULMAR_").lower()
    assert getattr(load_config(environ={name: "0.0.0.0:587"}), setting) == "0.0.0.0:587"
    with pytest.raises(ConfigError):
        load_config(environ={name: "587"})


def test_a_taken_port_is_one_line_before_serving():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = load_config(environ={"FULMAR_SUBMISSIONS_LISTEN": f"127.0.0.1:{port}"})
        (problem,) = submission_listen_problems(config)
    assert problem.startswith(f"cannot listen for SMTP submission on 127.0.0.1:{port}")
    assert submission_listen_problems(load_config(environ={})) == []
