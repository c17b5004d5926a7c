"""The MX listener end to end: real clients (aiosmtplib, swaks) against ``fulmar serve``."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess

import aiosmtplib
import pytest

from tests.smtp.smtpkit import (
    ALICE,
    BOB,
    HOSTNAME,
    JORG,
    RawSmtp,
    emails,
    mailbox_roles,
    message,
    run,
    wait_until,
)

SWAKS = shutil.which("swaks")


def smtp(server) -> aiosmtplib.SMTP:
    return aiosmtplib.SMTP(hostname="127.0.0.1", port=server.smtp_port, start_tls=False)


def subjects(client) -> list[str]:
    return [e["subject"] for e in emails(client)]


def test_ehlo_offers_the_extensions(smtp_server):
    async def go():
        async with smtp(smtp_server) as client:
            code, text = await client.ehlo(hostname="client.example")
            assert code == 250
            extensions = client.esmtp_extensions
            assert extensions["size"] == "200000"
            for name in ("8bitmime", "smtputf8", "pipelining", "enhancedstatuscodes"):
                assert name in extensions
            assert "starttls" in extensions
            assert "auth" not in extensions  # no AUTH on this listener yet
            assert text.splitlines()[0] == HOSTNAME

    run(go())


def test_delivery_lands_in_the_inbox_and_is_pushed(smtp_server):
    alice = smtp_server.client(ALICE)
    raw = message("pushed delivery", message_id="<pushed@remote.example>")

    async def go():
        async with await smtp_server.socket(ALICE) as ws:
            await ws.enable_push(["Email", "EmailDelivery"])
            async with smtp(smtp_server) as client:
                errors, reply = await client.sendmail("someone@remote.example", [ALICE], raw)
            assert errors == {}
            assert reply.startswith("2.0.0 Ok: queued as J")
            change = await ws.next_type("StateChange", timeout=20)
            (states,) = change["changed"].values()
            assert "EmailDelivery" in states and "Email" in states

    run(go())
    (found,) = [e for e in emails(alice) if e["subject"] == "pushed delivery"]
    roles = mailbox_roles(alice)
    assert [roles[m] for m in found["mailboxIds"]] == ["inbox"]
    assert found["messageId"] == ["pushed@remote.example"]
    (email,) = alice.ok(
        "Email/get",
        {"ids": [found["id"]], "properties": ["header:Received", "header:Return-Path"]},
    )["list"]
    received = email["header:Received"]
    assert f"by {HOSTNAME} (Fulmar) with ESMTP id J" in received
    assert "from " in received and "[127.0.0.1]" in received
    assert f"for <{ALICE}>" in received
    assert email["header:Return-Path"].strip() == "<someone@remote.example>"
    # the stored blob is the trace fields followed by exactly the bytes sent
    blob = alice.http.get(f"/jmap/download/{alice.account_id}/{found['blobId']}/m.eml")
    assert blob.content.startswith(b"Return-Path: <someone@remote.example>\r\nReceived: from ")
    assert blob.content.endswith(raw)


def test_unknown_local_user_is_550_5_1_1(smtp_server):
    async def go():
        async with smtp(smtp_server) as client:
            await client.ehlo(hostname="client.example")
            await client.mail("someone@remote.example")
            with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
                await client.rcpt("nobody@example.com")
            assert refused.value.code == 550
            assert refused.value.message.startswith("5.1.1 ")

    run(go())


def test_relaying_is_refused_550_5_7_1(smtp_server):
    async def go():
        async with smtp(smtp_server) as client:
            await client.ehlo(hostname="client.example")
            await client.mail("alice@example.com")  # a local sender changes nothing
            for rcpt in ("victim@elsewhere.example", "alice@example.com.evil.example"):
                with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
                    await client.rcpt(rcpt)
                assert (refused.value.code, refused.value.message[:6]) == (550, "5.7.1 ")

    run(go())


def test_declared_size_over_the_limit_is_552_5_3_4(smtp_server):
    async def go():
        async with smtp(smtp_server) as client:
            await client.ehlo(hostname="client.example")
            with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
                await client.mail("someone@remote.example", options=["SIZE=200001"])
            assert (refused.value.code, refused.value.message[:6]) == (552, "5.3.4 ")
            code, _ = await client.mail("someone@remote.example", options=["SIZE=1000"])
            assert code == 250

    run(go())


def test_data_over_the_limit_is_552_5_3_4_and_not_stored(smtp_server):
    alice = smtp_server.client(ALICE)
    big = message("too big", body=("x" * 998 + "\r\n") * 210)

    async def go():
        async with smtp(smtp_server) as client:
            # no SIZE= declared: the limit is found while reading DATA
            await client.ehlo(hostname="client.example")
            await client.mail("someone@remote.example")
            await client.rcpt(ALICE)
            with pytest.raises(aiosmtplib.SMTPDataError) as refused:
                await client.data(big)
            assert (refused.value.code, refused.value.message[:6]) == (552, "5.3.4 ")
            # the session goes on
            await client.sendmail("someone@remote.example", [ALICE], message("after big"))

    run(go())
    wait_until(lambda: "after big" in subjects(alice))
    assert "too big" not in subjects(alice)


def test_pipelined_commands_get_their_replies_in_order(smtp_server):
    alice = smtp_server.client(ALICE)
    raw = RawSmtp(smtp_server.smtp_port)
    try:
        assert raw.reply()[0].startswith(f"220 {HOSTNAME}")
        assert raw.command("EHLO client.example")[-1] == "250 ENHANCEDSTATUSCODES"
        raw.send(
            b"MAIL FROM:<someone@remote.example>\r\nRCPT TO:<nobody@example.com>\r\n"
            b"RCPT TO:<alice@example.com>\r\nRCPT TO:<x@elsewhere.example>\r\nDATA\r\n"
        )
        replies = [raw.reply()[0] for _ in range(5)]
        assert [r[:9] for r in replies] == [
            "250 2.1.0",
            "550 5.1.1",
            "250 2.1.5",
            "550 5.7.1",
            "354 End d",
        ]
        raw.send(message("pipelined") + b".\r\nQUIT\r\n")
        assert raw.reply()[0].startswith("250 2.0.0 Ok: queued as J")
        assert raw.reply()[0].startswith("221 2.0.0")
    finally:
        raw.close()
    wait_until(lambda: "pipelined" in subjects(alice))


def test_starttls_with_the_self_signed_certificate(smtp_server):
    alice = smtp_server.client(ALICE)

    async def go():
        client = aiosmtplib.SMTP(
            hostname="127.0.0.1", port=smtp_server.smtp_port, start_tls=False, validate_certs=False
        )
        async with client:
            await client.ehlo(hostname="client.example")
            code, _ = await client.starttls()
            assert code == 220
            await client.ehlo(hostname="client.example")
            assert "starttls" not in client.esmtp_extensions  # RFC 3207 §4.2
            await client.sendmail("someone@remote.example", [ALICE], message("over tls"))

    run(go())
    wait_until(lambda: "over tls" in subjects(alice))
    (found,) = [e for e in emails(alice) if e["subject"] == "over tls"]
    (email,) = alice.ok("Email/get", {"ids": [found["id"]], "properties": ["header:Received"]})[
        "list"
    ]
    assert " with ESMTPS id " in email["header:Received"]
    key = smtp_server.data_dir / "smtp-tls-key.pem"
    assert key.stat().st_mode & 0o777 == 0o600


def test_8bit_body_is_kept_intact(smtp_server):
    alice = smtp_server.client(ALICE)
    raw = message(
        "eight bit",
        body="Grüße aus Köln, ½ € — ok\r\n",
        extra="MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n",
    )

    async def go():
        async with smtp(smtp_server) as client:
            await client.ehlo(hostname="client.example")
            await client.mail("someone@remote.example", options=["BODY=8BITMIME"])
            await client.rcpt(ALICE)
            await client.data(raw)

    run(go())
    wait_until(lambda: "eight bit" in subjects(alice))
    (found,) = [e for e in emails(alice) if e["subject"] == "eight bit"]
    blob = alice.http.get(f"/jmap/download/{alice.account_id}/{found['blobId']}/m.eml")
    assert blob.content.endswith(raw)
    (email,) = alice.ok(
        "Email/get",
        {"ids": [found["id"]], "properties": ["bodyValues"], "fetchAllBodyValues": True},
    )["list"]
    assert "Grüße aus Köln, ½ €" in next(iter(email["bodyValues"].values()))["value"]


def test_smtputf8_addresses(smtp_server):
    jorg = smtp_server.client(JORG)

    async def go():
        async with smtp(smtp_server) as client:
            await client.ehlo(hostname="client.example")
            # a UTF-8 address needs the SMTPUTF8 parameter (RFC 6531 §3.4)
            with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
                await client.mail("rené@remote.example", encoding="utf-8")
            assert (refused.value.code, refused.value.message[:6]) == (550, "5.6.7 ")
            await client.mail("rené@remote.example", options=["SMTPUTF8"], encoding="utf-8")
            await client.rcpt(JORG, encoding="utf-8")
            await client.data(message("utf8 envelope", to=JORG, sender="rené@remote.example"))

    run(go())
    wait_until(lambda: "utf8 envelope" in subjects(jorg))
    (found,) = [e for e in emails(jorg) if e["subject"] == "utf8 envelope"]
    (email,) = jorg.ok(
        "Email/get", {"ids": [found["id"]], "properties": ["header:Received", "header:Return-Path"]}
    )["list"]
    assert " with UTF8SMTP id " in email["header:Received"]
    assert email["header:Return-Path"].strip() == "<rené@remote.example>"


def test_too_many_recipients_is_452_4_5_3_and_one_copy_each(smtp_server):
    bob = smtp_server.client(BOB)
    before = len(emails(bob))
    raw = RawSmtp(smtp_server.smtp_port)
    try:
        raw.reply()
        raw.command("EHLO client.example")
        raw.command("MAIL FROM:<someone@remote.example>")
        # 100 recipients (RFC 5321 §4.5.3.1.8), all of them bob under sub-addresses
        for i in range(100):
            assert raw.command(f"RCPT TO:<bob+{i}@example.com>")[0].startswith("250 2.1.5")
        assert raw.command("RCPT TO:<bob@example.com>")[0].startswith("452 4.5.3")
        assert raw.command("DATA")[0].startswith("354")
        raw.send(message("hundred", to=BOB) + b".\r\n")
        assert raw.reply()[0].startswith("250 2.0.0")
        # the Received field names no recipient when there are several (RFC 5321 §7.2)
    finally:
        raw.close()
    wait_until(lambda: "hundred" in subjects(bob))
    assert len(emails(bob)) == before + 1


def test_null_sender_and_postmaster_are_accepted(smtp_server):
    alice = smtp_server.client(ALICE)
    raw = RawSmtp(smtp_server.smtp_port)
    try:
        raw.reply()
        raw.command("EHLO client.example")
        assert raw.command("MAIL FROM:<>")[0].startswith("250 2.1.0")
        assert raw.command("RCPT TO:<Postmaster>")[0].startswith("250 2.1.5")
        assert raw.command("RCPT TO:<POSTMASTER@example.com>")[0].startswith("250 2.1.5")
        raw.command("DATA")
        raw.send(message("bounce to postmaster", sender="mailer-daemon@remote.example") + b".\r\n")
        assert raw.reply()[0].startswith("250 2.0.0")
    finally:
        raw.close()
    # the first account by login (alice) takes postmaster mail when nothing else does
    wait_until(lambda: "bounce to postmaster" in subjects(alice))
    (found,) = [e for e in emails(alice) if e["subject"] == "bounce to postmaster"]
    (email,) = alice.ok("Email/get", {"ids": [found["id"]], "properties": ["header:Return-Path"]})[
        "list"
    ]
    assert email["header:Return-Path"].strip() == "<>"


def test_a_client_gone_in_the_middle_of_data_leaves_nothing(smtp_server):
    alice = smtp_server.client(ALICE)
    before = len(emails(alice))
    raw = RawSmtp(smtp_server.smtp_port)
    raw.reply()
    raw.command("EHLO client.example")
    raw.command("MAIL FROM:<someone@remote.example>")
    raw.command(f"RCPT TO:<{ALICE}>")
    assert raw.command("DATA")[0].startswith("354")
    raw.send(message("half a message")[:60])
    raw.close()

    # then a whole message on another connection: once it is delivered, the first one
    # would have been too
    async def go():
        async with smtp(smtp_server) as client:
            await client.sendmail("someone@remote.example", [ALICE], message("whole message"))

    run(go())
    wait_until(lambda: "whole message" in subjects(alice))
    wait_until(lambda: smtp_server.pending_jobs() == 0)
    assert len(emails(alice)) == before + 1
    assert "half a message" not in subjects(alice)


def test_bad_commands_get_enhanced_codes_and_then_421(smtp_server):
    raw = RawSmtp(smtp_server.smtp_port)
    try:
        raw.reply()
        answers = [
            raw.command("FOO bar"),
            raw.command("MAIL FROM:<a@b.example>"),  # before EHLO
            raw.command("RCPT TO:<alice@example.com>"),
            raw.command("EHLO"),
            raw.command("DATA"),
            raw.command("MAIL FROM:<a@b.example> BOGUS=1"),
            raw.command("X" * 600),
        ]
        for (reply,) in answers:
            assert reply[:1] == "5" and reply[3:4] == " " and reply[4:6] == "5.", reply
        assert raw.command("NOOP") == ["250 2.0.0 OK"]
        for _ in range(20 - len(answers) - 1):  # smtp_max_bad_commands is 20
            raw.command("BOGUS")
        raw.send(b"BOGUS\r\nNOOP\r\n")  # the 20th, and one that is never answered
        assert raw.line().startswith("500 5.5.2")
        assert raw.line().startswith("421 4.7.0")
        assert raw.eof()
    finally:
        raw.close()


@pytest.mark.skipif(SWAKS is None, reason="swaks is not installed (make test-servers)")
def test_swaks_pipelining_and_starttls(smtp_server):
    alice = smtp_server.client(ALICE)
    base = [SWAKS, "--server", f"127.0.0.1:{smtp_server.smtp_port}", "--helo", "swaks.example"]
    base += ["--from", "swaks@remote.example"]
    sent = subprocess.run(
        [*base, "--to", ALICE, "--pipeline", "--header", "Subject: swaks pipelined"],
        capture_output=True,
        text=True,
    )
    assert sent.returncode == 0, sent.stdout
    assert "<-  250 2.0.0 Ok: queued as J" in sent.stdout
    tls = subprocess.run(
        [*base, "--to", ALICE, "-tls", "--header", "Subject: swaks tls"],
        capture_output=True,
        text=True,
    )
    assert tls.returncode == 0, tls.stdout
    assert "TLS started" in tls.stdout
    refused = subprocess.run([*base, "--to", "nobody@example.com"], capture_output=True, text=True)
    assert refused.returncode != 0
    assert "<** 550 5.1.1" in refused.stdout
    relay = subprocess.run([*base, "--to", "x@elsewhere.example"], capture_output=True, text=True)
    assert "<** 550 5.7.1" in relay.stdout
    wait_until(lambda: {"swaks pipelined", "swaks tls"} <= set(subjects(alice)))


def test_concurrent_clients(smtp_server):
    bob = smtp_server.client(BOB)

    async def one(i: int) -> None:
        async with smtp(smtp_server) as client:
            for j in range(5):
                await client.sendmail(
                    "someone@remote.example", [BOB], message(f"concurrent {i}-{j}", to=BOB)
                )

    async def go():
        await asyncio.gather(*(one(i) for i in range(8)))

    run(go())
    wanted = {f"concurrent {i}-{j}" for i in range(8) for j in range(5)}
    wait_until(lambda: wanted <= set(subjects(bob)))
    assert sum(s.startswith("concurrent ") for s in subjects(bob)) == 40


def test_failed_tls_handshakes_are_no_errors(smtp_server):
    async def go():
        # a client that refuses the self-signed certificate
        with pytest.raises(ssl.SSLCertVerificationError):
            async with aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp_server.smtp_port):
                pass
        # garbage instead of a ClientHello, then a client gone right after STARTTLS
        reader, writer = await asyncio.open_connection("127.0.0.1", smtp_server.smtp_port)
        await reader.readline()
        writer.write(b"EHLO client.example\r\nSTARTTLS\r\n")
        while not (await reader.readline()).startswith(b"220 2.0.0"):
            pass
        # a TLS handshake record whose message is garbage (a whole record, so that the
        # server decides now rather than at its handshake timeout)
        writer.write(b"\x16\x03\x01\x00\x08" + b"\xffgarbage")
        answer = await reader.read()  # then the server hangs up
        assert answer == b"" or answer[0] == 0x15  # nothing, or a TLS alert record
        writer.close()
        _, writer = await asyncio.open_connection("127.0.0.1", smtp_server.smtp_port)
        writer.write(b"EHLO client.example\r\nSTARTTLS\r\n")
        writer.close()
        # the listener still serves
        async with smtp(smtp_server) as client:
            assert (await client.noop()).code == 250

    run(go())


def test_a_looping_message_is_refused(smtp_server):
    alice = smtp_server.client(ALICE)
    hops = "".join(
        f"Received: from hop{i}.example by hop{i + 1}.example; today\r\n" for i in range(100)
    )
    looping = hops.encode() + message("looping")

    async def go():
        async with smtp(smtp_server) as client:
            with pytest.raises(aiosmtplib.SMTPDataError) as refused:
                await client.sendmail("someone@remote.example", [ALICE], looping)
            assert (refused.value.code, refused.value.message[:6]) == (554, "5.4.6 ")
            # 99 hops are still fine
            await client.sendmail("someone@remote.example", [ALICE], looping.split(b"\r\n", 1)[1])

    run(go())
    wait_until(lambda: subjects(alice).count("looping") == 1)
