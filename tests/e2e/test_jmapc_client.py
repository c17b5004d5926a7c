"""A real JMAP client from PyPI (jmapc) logs in over TLS and works with mailboxes and mail.

jmapc only speaks https://HOST/.well-known/jmap, so the server runs with a self-signed
certificate made here, which the client is told to trust.
"""

from __future__ import annotations

import datetime
import ipaddress
import queue
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from jmapc import (
    Client,
    Email,
    EmailAddress,
    EmailBodyPart,
    EmailBodyValue,
    EmailQueryFilterCondition,
    EventSourceConfig,
    MailboxQueryFilterCondition,
)
from jmapc.methods import (
    EmailGet,
    EmailQuery,
    EmailSet,
    MailboxGet,
    MailboxGetResponse,
    MailboxQuery,
    MailboxSet,
    SearchSnippetGet,
    ThreadGet,
)

from tests.conftest import MAIL, USERS, start_server


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path, monkeypatch):
    cert, key = self_signed_certificate(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    server = start_server(
        tmp_path / "d", extra_args=["--tls-cert", str(cert), "--tls-key", str(key)]
    )
    yield server
    server.stop()
    assert "Traceback" not in server.log()


def test_jmapc_lists_and_creates_mailboxes(tls_server):
    client = Client.create_with_password(
        host=f"127.0.0.1:{tls_server.port}",
        user="alice@example.com",
        password=USERS["alice@example.com"],
    )
    session = client.jmap_session
    assert session.username == "alice@example.com"
    assert session.api_url.startswith(f"https://127.0.0.1:{tls_server.port}/")
    assert MAIL in session.capabilities.urns

    listing = client.request(MailboxGet(ids=None))
    assert isinstance(listing, MailboxGetResponse)
    roles = {mailbox.role: mailbox.name for mailbox in listing.data}
    assert roles["inbox"] == "Inbox" and roles["trash"] == "Trash" and len(roles) == 6

    created = client.request(MailboxSet(create={"new": {"name": "From jmapc"}}))
    new_id = created.created["new"].id
    found = client.request(MailboxQuery(filter=MailboxQueryFilterCondition(name="jmapc")))
    assert found.ids == [new_id]
    again = client.request(MailboxGet(ids=[new_id]))
    assert again.data[0].name == "From jmapc"


def test_jmapc_sends_finds_and_reads_mail(tls_server, tmp_path):
    """jmapc's own Email models round-trip through Email/set, /query, /get, SearchSnippet,
    Thread/get and a blob download: our JSON is what a third-party client expects."""
    client = Client.create_with_password(
        host=f"127.0.0.1:{tls_server.port}",
        user="alice@example.com",
        password=USERS["alice@example.com"],
    )
    drafts = next(m.id for m in client.request(MailboxGet(ids=None)).data if m.role == "drafts")
    report = tmp_path / "quarterly-report.pdf"
    report.write_bytes(b"%PDF-1.4 pretend report\n" * 40)
    blob = client.upload_blob(report)
    created = client.request(
        EmailSet(
            create={
                "draft": Email(
                    mail_from=[EmailAddress(name="Alice", email="alice@example.com")],
                    to=[EmailAddress(name="Bob Builder", email="bob@example.com")],
                    subject="Quarterly numbers for Zanzibar",
                    mailbox_ids={drafts: True},
                    keywords={"$draft": True},
                    body_values={"body": EmailBodyValue(value="Numbers attached. Cheers")},
                    text_body=[EmailBodyPart(part_id="body", type="text/plain")],
                    attachments=[
                        EmailBodyPart(
                            blob_id=blob.id,
                            type="application/pdf",
                            name="quarterly-report.pdf",
                            disposition="attachment",
                        )
                    ],
                )
            }
        )
    )
    assert created.not_created is None, created.not_created
    email_id = created.created["draft"].id

    found = client.request(
        EmailQuery(filter=EmailQueryFilterCondition(text="zanzib", in_mailbox=drafts))
    )
    assert found.ids == [email_id]
    got = client.request(EmailGet(ids=[email_id], fetch_text_body_values=True))
    (email,) = got.data
    assert email.subject == "Quarterly numbers for Zanzibar"
    assert email.mail_from == [EmailAddress(name="Alice", email="alice@example.com")]
    assert email.to == [EmailAddress(name="Bob Builder", email="bob@example.com")]
    assert email.keywords == {"$draft": True} and email.has_attachment is True
    assert email.received_at is not None and email.sent_at is not None
    (text,) = email.text_body
    assert email.body_values[text.part_id].value.strip() == "Numbers attached. Cheers"
    (attachment,) = email.attachments
    assert attachment.name == "quarterly-report.pdf" and attachment.type == "application/pdf"
    downloaded = tmp_path / "downloaded.pdf"
    client.download_attachment(attachment, downloaded)
    assert downloaded.read_bytes() == report.read_bytes()

    snippets = client.request(
        SearchSnippetGet(ids=[email_id], filter=EmailQueryFilterCondition(text="zanzibar"))
    )
    (snippet,) = snippets.data
    assert "<mark>Zanzibar</mark>" in snippet.subject
    thread = client.request(ThreadGet(ids=[email.thread_id]))
    assert thread.data[0].email_ids == [email_id]


def test_jmapc_event_source_hears_a_change(tls_server):
    """jmapc's EventSource client (sseclient) receives the StateChange of a change."""
    client = Client.create_with_password(
        host=f"127.0.0.1:{tls_server.port}",
        user="alice@example.com",
        password=USERS["alice@example.com"],
        event_source_config=EventSourceConfig(types="Mailbox", closeafter="state", ping=0),
    )
    account = client.account_id
    heard: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: heard.put(next(iter(client.events))), daemon=True).start()
    # Nothing tells when the stream is open, so change something until a change is heard.
    states = []
    for attempt in range(20):
        created = client.request(MailboxSet(create={"n": {"name": f"Heard over SSE {attempt}"}}))
        states.append(created.new_state)
        try:
            event = heard.get(timeout=0.5)
            break
        except queue.Empty:
            continue
    else:
        raise AssertionError("no StateChange reached jmapc's EventSource client")
    assert event.data.changed[account].mailbox in states
    assert event.id  # the whole visible state, for Last-Event-ID resumption
    # jmapc keeps the finished stream's TLS connection open; close it so that the server's
    # graceful shutdown need not wait for it (jmapc offers no public way to do this)
    client._events.resp.close()
