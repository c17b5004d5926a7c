"""Fixtures of the SMTP tests: one SMTP-enabled server per module, and the scanning engines
(started by tests/conftest.py before the session's tests, see tests/scan_servers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.scan_servers import engine_address
from tests.smtp.smtpkit import SmtpServer, start_smtp_server


@pytest.fixture(scope="session")
def rspamd_url() -> str:
    return engine_address("rspamd", "rspamd")


@pytest.fixture(scope="session")
def clamd_address() -> str:
    return engine_address("clamd", "clamav-daemon")


@pytest.fixture(scope="module")
def smtp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    server = start_smtp_server(tmp_path_factory.mktemp("smtp"))
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()
