"""The listener's checks end to end: SPF/DKIM/DMARC against a zone file, DMARC reject and
quarantine, forged Authentication-Results removed, and the real content scanners (reject,
Junk, and 451 when a configured scanner is down)."""

from __future__ import annotations

import base64

import aiosmtplib
import pytest

from smtp_gateway.dkim_sign import sign_with
from tests.conftest import free_port
from tests.scan_servers import EICAR, GTUBE
from tests.smtp.dns_helpers import key_pair, zone_lines
from tests.smtp.smtpkit import (
    ALICE,
    HOSTNAME,
    TEST_CONFIG,
    emails,
    mailbox_roles,
    message,
    run,
    start_smtp_server,
    wait_until,
)

SIGNED, STRICT, LOOSE = "signed.example", "strict.example", "loose.example"
KEYS = key_pair(SIGNED)


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checked")
    zone = folder / "zone.txt"
    zone.write_text(
        zone_lines(SIGNED, KEYS, dmarc="v=DMARC1; p=reject")
        + zone_lines(STRICT, [], dmarc="v=DMARC1; p=reject", spf="v=spf1 -all")
        + zone_lines(LOOSE, [], dmarc="v=DMARC1; p=quarantine", spf="v=spf1 -all")
    )
    server = start_smtp_server(folder, f'dns_zone_file = "{zone}"\n' + TEST_CONFIG)
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()


def send(server, sender: str, raw: bytes) -> tuple[int, str]:
    async def go():
        async with aiosmtplib.SMTP(
            hostname="127.0.0.1", port=server.smtp_port, start_tls=False
        ) as client:
            await client.ehlo(hostname="client.example")
            await client.mail(sender)
            await client.rcpt(ALICE)
            code, text = await client.data(raw)
            return code, text

    try:
        return run(go())
    except aiosmtplib.SMTPResponseException as exc:
        return exc.code, exc.message


def stored(server, subject: str) -> dict:
    alice = server.client(ALICE)
    props = ["subject", "mailboxIds", "header:Authentication-Results:all", "blobId"]
    found = wait_until(lambda: [e for e in emails(alice, props) if e["subject"] == subject])
    (email,) = found
    roles = mailbox_roles(alice)
    email["roles"] = [roles[m] for m in email["mailboxIds"]]
    return email


def test_signed_mail_passes_dkim_spf_and_dmarc(checked):
    raw = sign_with(message("signed ok", sender=f"news@{SIGNED}"), SIGNED, KEYS)
    code, _ = send(checked, f"news@{SIGNED}", raw)
    assert code == 250
    email = stored(checked, "signed ok")
    (results,) = email["header:Authentication-Results:all"]
    assert results.strip().startswith(f"{HOSTNAME};")
    assert "dkim=pass" in results and "spf=pass" in results and "dmarc=pass" in results
    assert email["roles"] == ["inbox"]


def test_dmarc_reject_is_550_and_nothing_is_stored(checked):
    tampered = sign_with(message("tampered", sender=f"news@{SIGNED}"), SIGNED, KEYS)
    tampered = tampered.replace(b"Hello there.", b"Hello there, changed.")
    # sent through a list's envelope: SPF cannot align, so DMARC rests on the broken DKIM
    code, text = send(checked, "list-bounces@remote.example", tampered)
    assert code == 550 and text.startswith("5.7.1") and SIGNED in text
    code, text = send(checked, f"x@{STRICT}", message("strict", sender=f"x@{STRICT}"))
    assert code == 550 and "DMARC" in text
    subjects = [e["subject"] for e in emails(checked.client(ALICE))]
    assert "tampered" not in subjects and "strict" not in subjects


def test_dmarc_quarantine_files_into_junk(checked):
    code, _ = send(checked, f"x@{LOOSE}", message("quarantined", sender=f"x@{LOOSE}"))
    assert code == 250
    email = stored(checked, "quarantined")
    assert email["roles"] == ["junk"]
    assert "dmarc=fail" in email["header:Authentication-Results:all"][0]


def test_forged_results_claiming_to_be_ours_are_removed(checked):
    forged = f"Authentication-Results: {HOSTNAME}; dkim=pass header.d=bank.example\r\n"
    raw = sign_with(message("forged", sender=f"news@{SIGNED}", extra=forged), SIGNED, KEYS)
    assert send(checked, f"news@{SIGNED}", raw)[0] == 250
    email = stored(checked, "forged")
    (results,) = email["header:Authentication-Results:all"]  # ours only
    assert "bank.example" not in results


@pytest.fixture(scope="module")
def scanned(tmp_path_factory, rspamd_url, clamd_address):
    folder = tmp_path_factory.mktemp("scanned")
    config = f'rspamd_url = "{rspamd_url}"\nclamd_address = "{clamd_address}"\n' + TEST_CONFIG
    server = start_smtp_server(folder, config)
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()


def test_scanners_refuse_spam_and_viruses_and_pass_the_rest(scanned):
    assert send(scanned, "a@remote.example", message("gtube", body=GTUBE + "\r\n"))[0] == 550
    virus = message(
        "virus",
        extra='MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n',
        body="--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\n"
        "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode(EICAR).decode()
        + "\r\n--b--\r\n",
    )
    code, text = send(scanned, "a@remote.example", virus)
    assert code == 550 and text.startswith("5.7.1")
    assert send(scanned, "a@remote.example", message("clean scanned"))[0] == 250
    email = stored(scanned, "clean scanned")
    blob = scanned.client(ALICE).http.get(
        f"/jmap/download/{scanned.client(ALICE).account_id}/{email['blobId']}/m.eml"
    )
    assert b"X-Fulmar-Scan: rspamd action=" in blob.content and b"clamd: clean" in blob.content
    subjects = [e["subject"] for e in emails(scanned.client(ALICE))]
    assert "gtube" not in subjects and "virus" not in subjects


def test_a_scanner_that_is_down_gets_451_never_unscanned_acceptance(tmp_path):
    config = f'clamd_address = "127.0.0.1:{free_port()}"\n' + TEST_CONFIG
    server = start_smtp_server(tmp_path / "down", config)
    try:
        code, text = send(server, "a@remote.example", message("while down"))
        assert code == 451 and text.startswith("4.3.0")
        assert server.pending_jobs() == 0
        assert "while down" not in [e["subject"] for e in emails(server.client(ALICE))]
    finally:
        server.stop()
    assert "Traceback" not in server.log()
