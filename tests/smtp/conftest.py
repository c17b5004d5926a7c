"""Fixtures of the SMTP tests: one SMTP-enabled server per module, and the scanning engines,
started when this folder is collected so that rspamd loads its rules (half a minute or
more) while the tests before these run."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scan_servers import Engine, require, start_clamd, start_rspamd
from tests.smtp.smtpkit import SmtpServer, start_smtp_server

_engines: dict[str, Engine | Exception] = {}
_folder = Path(tempfile.mkdtemp(prefix="fulmar-scanners-"))


def _start(name: str, start) -> None:
    try:
        _engines[name] = start(_folder / name)
    except Exception as exc:  # reported by the tests that need the engine
        _engines[name] = exc


def _stop() -> None:
    for engine in _engines.values():
        if isinstance(engine, Engine):
            engine.stop()
    shutil.rmtree(_folder, ignore_errors=True)


if shutil.which("rspamd"):
    _start("rspamd", start_rspamd)
if shutil.which("clamd") or Path("/usr/sbin/clamd").exists():
    _start("clamd", start_clamd)
atexit.register(_stop)


def _engine(name: str, package: str) -> str:
    engine = _engines.get(name)
    if engine is None:
        require(name, package)  # skips, or fails under CI
    if isinstance(engine, Exception):
        raise engine
    assert isinstance(engine, Engine)
    return engine.ready()


@pytest.fixture(scope="session")
def rspamd_url() -> str:
    return _engine("rspamd", "rspamd")


@pytest.fixture(scope="session")
def clamd_address() -> str:
    return _engine("clamd", "clamav-daemon")


@pytest.fixture(scope="module")
def smtp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    server = start_smtp_server(tmp_path_factory.mktemp("smtp"))
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()
