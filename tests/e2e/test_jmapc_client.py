"""A real JMAP client from PyPI (jmapc) logs in over TLS and works with mailboxes.

jmapc only speaks https://HOST/.well-known/jmap, so the server runs with a self-signed
certificate made here, which the client is told to trust.
"""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from jmapc import Client, MailboxQueryFilterCondition
from jmapc.methods import MailboxGet, MailboxGetResponse, MailboxQuery, MailboxSet

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
