"""One SMTP-enabled server shared by the inbound tests of a module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.smtp.smtpkit import SmtpServer, start_smtp_server


@pytest.fixture(scope="module")
def smtp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    server = start_smtp_server(tmp_path_factory.mktemp("smtp"))
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()
