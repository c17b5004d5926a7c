"""Content scanning against the real engines: rspamd's HTTP protocol and clamd's INSTREAM."""

from __future__ import annotations

import asyncio
import base64
import socket

import pytest

from smtp_gateway.scanners import (
    ClamdScanner,
    Envelope,
    RspamdScanner,
    ScannerUnavailable,
    ScanResult,
    scan_all,
)
from tests.conftest import free_port
from tests.scan_servers import EICAR, GTUBE

ENVELOPE = Envelope("127.0.0.1", "client.example.org", "bob@example.org", ["alice@example.com"])


def message(body: str = "See you at noon.", attachment: bytes | None = None) -> bytes:
    head = (
        "From: Bob <bob@example.org>\r\nTo: Alice <alice@example.com>\r\n"
        "Subject: Lunch\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
        "Message-ID: <lunch-1@example.org>\r\nMIME-Version: 1.0\r\n"
    )
    if attachment is None:
        return (head + "Content-Type: text/plain\r\n\r\n" + body + "\r\n").encode()
    return (
        head + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        "Content-Type: text/plain\r\n\r\n" + body + "\r\n--b\r\n"
        "Content-Type: application/octet-stream\r\n"
        'Content-Disposition: attachment; filename="x.com"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode(attachment).decode()
        + "\r\n--b--\r\n"
    ).encode()


def scan(scanner, raw: bytes) -> ScanResult:
    async def run() -> ScanResult:
        try:
            return await scanner.scan(raw, ENVELOPE, "mx.example.com")
        finally:
            await scanner.close()

    return asyncio.run(run())


def test_rspamd_passes_ordinary_mail(rspamd_url):
    result = scan(RspamdScanner(rspamd_url), message())
    assert result.verdict == "clean", result
    assert result.score is not None and "rspamd action=" in result.detail


def test_rspamd_takes_an_smtputf8_envelope(rspamd_url):
    envelope = Envelope("127.0.0.1", "client.example.org", "jörg@bücher.example", ["ana@例え.jp"])

    async def run() -> ScanResult:
        scanner = RspamdScanner(rspamd_url)
        try:
            return await scanner.scan(message(), envelope, "mx.example.com")
        finally:
            await scanner.close()

    result = asyncio.run(run())  # a verdict (rspamd's own), not ScannerUnavailable
    assert result.verdict in ("clean", "spam") and "rspamd action=" in result.detail


def test_rspamd_rejects_gtube(rspamd_url):
    result = scan(RspamdScanner(rspamd_url), message(GTUBE))
    assert result.verdict == "reject", result


def test_clamd_finds_a_virus_in_an_attachment_and_passes_clean_mail(clamd_address):
    infected = scan(ClamdScanner(clamd_address), message(attachment=EICAR))
    assert infected.verdict == "reject" and "Fulmar.Test.EICAR" in infected.detail
    clean = scan(ClamdScanner(clamd_address), message(attachment=b"just bytes" * 1000))
    assert clean.verdict == "clean", clean


def test_clamd_streams_a_large_message_in_chunks(clamd_address):
    big = message(body="x" * 3_000_000, attachment=EICAR)
    assert scan(ClamdScanner(clamd_address), big).verdict == "reject"


def _closed_port() -> int:
    return free_port()  # nothing listens there


def test_a_scanner_that_is_down_is_unavailable_never_clean():
    with pytest.raises(ScannerUnavailable, match="rspamd"):
        scan(RspamdScanner(f"http://127.0.0.1:{_closed_port()}", timeout=2), message())
    with pytest.raises(ScannerUnavailable, match="clamd"):
        scan(ClamdScanner(f"127.0.0.1:{_closed_port()}", timeout=2), message())


def test_a_scanner_answering_nonsense_is_unavailable():
    """A port that speaks something else (here: closes after a greeting) is no verdict."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    async def serve_junk() -> None:
        loop = asyncio.get_running_loop()
        listener.setblocking(False)
        for _ in range(2):
            conn, _ = await loop.sock_accept(listener)
            await loop.sock_sendall(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
            conn.close()

    async def run() -> list[BaseException | ScanResult]:
        server = asyncio.create_task(serve_junk())
        results = []
        for scanner in (
            RspamdScanner(f"http://127.0.0.1:{port}", timeout=5),
            ClamdScanner(f"127.0.0.1:{port}", timeout=5),
        ):
            try:
                results.append(await scanner.scan(message(), ENVELOPE, "mx"))
            except ScannerUnavailable as exc:
                results.append(exc)
            await scanner.close()
        await server
        return results

    try:
        results = asyncio.run(run())
    finally:
        listener.close()
    assert all(isinstance(r, ScannerUnavailable) for r in results), results


def test_the_strictest_verdict_wins(rspamd_url, clamd_address):
    async def run(raw: bytes) -> ScanResult:
        scanners = [RspamdScanner(rspamd_url), ClamdScanner(clamd_address)]
        try:
            return await scan_all(scanners, raw, ENVELOPE, "mx.example.com")
        finally:
            for s in scanners:
                await s.close()

    virus = asyncio.run(run(message(attachment=EICAR)))
    assert virus.verdict == "reject" and "clamd found" in virus.detail
    assert "rspamd action=" in virus.detail
    assert asyncio.run(run(message())).verdict == "clean"
    assert asyncio.run(scan_all([], message(), ENVELOPE, "mx")).verdict == "clean"
