"""The certificate the SMTP listener offers with STARTTLS.

``smtp_tls_cert``/``smtp_tls_key``, else the HTTP ``tls_cert``/``tls_key``, else a
self-signed pair generated once into the data directory (for development and for peers
that encrypt opportunistically without checking certificates, as most MTAs do).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from jmap.config import Config

SELF_SIGNED_CERT = "smtp-tls-cert.pem"
SELF_SIGNED_KEY = "smtp-tls-key.pem"


def certificate_files(config: Config, hostname: str) -> tuple[Path, Path]:
    """(certificate, key) to use, generating the self-signed pair if it is needed."""
    if config.smtp_tls_cert and config.smtp_tls_key:
        return Path(config.smtp_tls_cert), Path(config.smtp_tls_key)
    if config.tls_cert and config.tls_key:
        return Path(config.tls_cert), Path(config.tls_key)
    cert, key = config.data_dir / SELF_SIGNED_CERT, config.data_dir / SELF_SIGNED_KEY
    if not (cert.is_file() and key.is_file()):
        _write_self_signed(cert, key, hostname)
    return cert, key


def server_context(config: Config, hostname: str) -> ssl.SSLContext:
    cert, key = certificate_files(config, hostname)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def _write_self_signed(cert_path: Path, key_path: Path, hostname: str) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = hostname.strip("[]").removeprefix("IPv6:") or "localhost"
    try:
        alternative: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        alternative = x509.DNSName(name)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name[:64])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([alternative]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_private(key_path, key_pem)
    _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))


def _write_private(path: Path, data: bytes) -> None:
    """Write a file readable by the server's user only (0600), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
