"""Timeouts and connection limits of the listener (a server with small ones)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.smtp.smtpkit import (
    ALICE,
    TEST_CONFIG,
    RawSmtp,
    SmtpServer,
    start_smtp_server,
    wait_until,
)

CONFIG = TEST_CONFIG.replace(
    "[limits]", "smtp_timeout_seconds = 1.0\nsmtp_max_connections = 3\n\n[limits]"
)


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    server = start_smtp_server(tmp_path_factory.mktemp("smtp-limits"), CONFIG, (ALICE,))
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()


def test_a_silent_client_is_told_421_and_closed(small_server):
    raw = RawSmtp(small_server.smtp_port, timeout=30)
    try:
        assert raw.line().startswith("220 ")
        assert raw.line().startswith("421 4.4.2 ")
        assert raw.eof()
    finally:
        raw.close()


def test_a_client_silent_within_data_is_closed_too(small_server):
    raw = RawSmtp(small_server.smtp_port, timeout=30)
    try:
        raw.reply()
        raw.command("EHLO client.example")
        raw.command("MAIL FROM:<someone@remote.example>")
        raw.command(f"RCPT TO:<{ALICE}>")
        assert raw.command("DATA")[0].startswith("354")
        raw.send(b"Subject: slow\r\n\r\nstarted, then silence\r\n")
        assert raw.line().startswith("421 4.4.2 ")
        assert raw.eof()
    finally:
        raw.close()
    assert small_server.pending_jobs() == 0


def test_connections_past_the_limit_get_421(small_server):
    held = [RawSmtp(small_server.smtp_port, timeout=30) for _ in range(3)]
    try:
        for raw in held:
            assert raw.line().startswith("220 ")
        extra = RawSmtp(small_server.smtp_port, timeout=30)
        assert extra.line().startswith("421 4.3.2 ")
        assert extra.eof()
        extra.close()
    finally:
        for raw in held:
            raw.close()
    # once the server has seen them go, a new connection is served again
    wait_until(lambda: greeted(small_server.smtp_port), timeout=30)


def greeted(port: int) -> bool:
    raw = RawSmtp(port, timeout=30)
    try:
        return raw.line().startswith("220 ")
    except ConnectionError:
        return False
    finally:
        raw.close()


def test_overlong_lines(small_server):
    raw = RawSmtp(small_server.smtp_port, timeout=30)
    try:
        raw.reply()
        assert raw.command("EHLO " + "a" * 600)[0].startswith("500 5.5.2")
        raw.command("EHLO client.example")
        raw.command("MAIL FROM:<someone@remote.example>")
        raw.command(f"RCPT TO:<{ALICE}>")
        raw.command("DATA")
        raw.send(b"Subject: long line\r\n\r\n" + b"y" * 5000 + b"\r\n.\r\n")
        assert raw.reply()[0].startswith("500 5.5.2 Line too long")
        assert raw.command("NOOP")[0].startswith("250 2.0.0")
    finally:
        raw.close()
    assert small_server.pending_jobs() == 0
