"""MTA-STS (RFC 8461) with a test CA: the policy fetched over HTTPS from a server on
127.0.0.1 (the fake resolver maps the policy host there), enforced on delivery: only
matching MX hosts, STARTTLS with a certificate valid for the MX name, else the mail waits."""

from __future__ import annotations

import asyncio
import datetime
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from smtp_gateway.mta_sts import MtaSts, PolicyFetcher, parse_policy, sts_id
from smtp_gateway.routing import Router
from tests.smtp.outkit import Clock, Fulmar, Sink, run

ALICE = "alice@example.com"
POLICY = "version: STSv1\nmode: enforce\nmx: *.sts.example\nmax_age: 86400\n"


class Authority:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Fulmar test CA")])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.file = directory / "ca.pem"
        self.file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def server_context(self, host: str) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        cert_path, key_path = self.directory / f"{host}.pem", self.directory / f"{host}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_path, key_path)
        return context


class PolicyServer:
    """HTTPS on 127.0.0.1 serving one policy text at /.well-known/mta-sts.txt."""

    def __init__(self, context: ssl.SSLContext, text: str) -> None:
        self.text = text
        self.hosts: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hosts.append(self.headers.get("Host", ""))
                body = outer.text.encode()
                ok = self.path == "/.well-known/mta-sts.txt"
                self.send_response(200 if ok else 404)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class StsResolver:
    def __init__(self, mx: list[tuple[int, str]], txt: list[str]) -> None:
        self.mx_records = mx
        self.txt_records = txt

    async def mx(self, domain: str) -> list[tuple[int, str]]:
        return self.mx_records if domain == "sts.example" else []

    async def addresses(self, host: str) -> list[str]:
        return ["127.0.0.1"]

    async def txt(self, name: str) -> list[str]:
        return self.txt_records if name == "_mta-sts.sts.example" else []


def test_policy_parsing_and_mx_patterns():
    policy = parse_policy(POLICY)
    assert policy is not None and policy.mode == "enforce" and policy.max_age == 86400
    assert policy.matches("mx1.sts.example") and policy.matches("MX1.sts.example.")
    assert not policy.matches("sts.example") and not policy.matches("a.b.sts.example")
    assert parse_policy(POLICY.replace("STSv1", "STSv2")) is None
    assert parse_policy(POLICY.replace("mode: enforce", "mode: strict")) is None
    assert parse_policy(POLICY.replace("mx: *.sts.example\n", "")) is None
    assert parse_policy(POLICY.replace("max_age: 86400", "max_age: soon")) is None
    assert parse_policy("version: STSv1\nmode: none\nmax_age: 10\n") is not None
    assert sts_id(["v=STSv1; id=20260101"]) == "20260101"
    assert sts_id(["v=STSv1; id=1", "v=STSv1; id=2"]) is None  # not exactly one
    assert sts_id(["v=spf1 -all"]) is None and sts_id(["v=STSv1; id=bad-id"]) is None


def _deliver(tmp_path: Path, ca: Authority, sink: Sink, mx_name: str, policy_text: str):
    with_policy = PolicyServer(ca.server_context("mta-sts.sts.example"), policy_text)
    try:
        resolver = StsResolver([(10, mx_name)], ["v=STSv1; id=1"])

        async def body(f: Fulmar):
            fetch = PolicyFetcher(resolver, str(ca.file), port=with_policy.port)
            sts = MtaSts(resolver, fetch, f.clock)
            router = Router((), None, resolver, mx_port=sink.port, sts=sts)
            draft = await f.draft(ALICE, to=["x@sts.example"])
            created = (await f.submit(ALICE, draft["id"]))["created"]["s"]
            await f.worker(router=router).run_once()
            sub = await f.submission(ALICE, created["id"])
            return sub["deliveryStatus"]["x@sts.example"]

        return run(tmp_path, body, smtp_tls_ca_file=str(ca.file)), with_policy.hosts
    finally:
        with_policy.close()


def test_enforce_delivers_over_verified_tls(tmp_path):
    ca = Authority(tmp_path)
    with Sink(tls_context=ca.server_context("mx1.sts.example")) as sink:
        status, hosts = _deliver(tmp_path / "f", ca, sink, "mx1.sts.example", POLICY)
    assert status["delivered"] == "yes", status
    (got,) = sink.received
    assert got.tls is True
    assert hosts == ["mta-sts.sts.example"]


def test_enforce_refuses_a_certificate_for_another_name_and_no_starttls(tmp_path):
    ca = Authority(tmp_path)
    with Sink(tls_context=ca.server_context("other.example")) as wrong_name:
        status, _ = _deliver(tmp_path / "a", ca, wrong_name, "mx1.sts.example", POLICY)
    assert status["delivered"] == "queued" and status["smtpReply"].startswith("451 4.4.1")
    assert "certificate is not valid for 'mx1.sts.example'" in status["smtpReply"]
    assert wrong_name.received == []
    with Sink() as plain:
        status, _ = _deliver(tmp_path / "b", ca, plain, "mx1.sts.example", POLICY)
    assert status["delivered"] == "queued" and plain.received == []
    assert "offers no STARTTLS" in status["smtpReply"]


def test_enforce_skips_mx_hosts_the_policy_does_not_name(tmp_path):
    ca = Authority(tmp_path)
    with Sink(tls_context=ca.server_context("mx.elsewhere.example")) as sink:
        status, _ = _deliver(tmp_path / "f", ca, sink, "mx.elsewhere.example", POLICY)
        assert status["delivered"] == "queued" and sink.received == []
        assert "MTA-STS" in status["smtpReply"]
        # in testing mode the policy is not enforced
        testing = POLICY.replace("enforce", "testing")
        status, _ = _deliver(tmp_path / "t", ca, sink, "mx.elsewhere.example", testing)
    assert status["delivered"] == "yes"


def test_policy_cache_follows_the_txt_id_and_max_age():
    fetched: list[str] = []
    resolver = StsResolver([], ["v=STSv1; id=1"])
    clock = Clock(1000.0)

    async def fetch(domain: str) -> str | None:
        fetched.append(domain)
        return POLICY.replace("86400", "100")

    async def body():
        sts = MtaSts(resolver, fetch, clock)
        first = await sts.policy("sts.example")
        await sts.policy("sts.example")
        resolver.txt_records = ["v=STSv1; id=2"]
        await sts.policy("sts.example")
        clock.t += 101
        await sts.policy("sts.example")
        return first

    assert asyncio.run(body()) is not None
    assert len(fetched) == 3  # new id, then expiry; the same id in between is cached
