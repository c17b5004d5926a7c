"""Routing end to end: aliases, sub-addresses and catch-alls made with the CLI while the
server runs, then mail sent to them over SMTP."""

from __future__ import annotations

import subprocess

import aiosmtplib

from tests.conftest import FULMAR
from tests.smtp.smtpkit import ALICE, BOB, CAROL, emails, message, run, wait_until


def fulmar(server, *args: str) -> str:
    done = subprocess.run(
        [FULMAR, *args, "--data-dir", str(server.data_dir)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_alias_subaddress_and_catch_all_routing(smtp_server):
    fulmar(smtp_server, "alias", "add", "sales@example.com", BOB)
    fulmar(smtp_server, "domain", "add", "shop.example", "--catch-all", CAROL)
    fulmar(smtp_server, "domain", "add", "quiet.example")
    routes = {
        "sales@example.com": BOB,
        "sales+leads@example.com": BOB,
        "alice+lists@example.com": ALICE,
        "anything@shop.example": CAROL,
        "carol+x@other.example": CAROL,
    }

    async def go():
        async with aiosmtplib.SMTP(
            hostname="127.0.0.1", port=smtp_server.smtp_port, start_tls=False
        ) as client:
            for address in routes:
                errors, _ = await client.sendmail(
                    "someone@remote.example", [address], message(f"routed {address}", to=address)
                )
                assert errors == {}
            # a domain without catch-all refuses unknown users (not as relaying)
            await client.mail("someone@remote.example")
            try:
                await client.rcpt("nobody@quiet.example")
            except aiosmtplib.SMTPRecipientRefused as exc:
                assert (exc.code, exc.message[:6]) == (550, "5.1.1 ")
            else:
                raise AssertionError("nobody@quiet.example was accepted")
            await client.rset()

    run(go())
    for login in (ALICE, BOB, CAROL):
        client = smtp_server.client(login)
        wanted = {f"routed {a}" for a, owner in routes.items() if owner == login}
        wait_until(lambda c=client, w=wanted: w <= {e["subject"] for e in emails(c)})
        got = {e["subject"] for e in emails(client) if e["subject"].startswith("routed ")}
        assert got == wanted
