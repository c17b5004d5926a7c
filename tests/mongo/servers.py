"""MongoDB-protocol servers for the tests: two emulators from PyPI, and a real MongoDB when
``FULMAR_TEST_MONGODB_URL`` names one.

No registry here has a MongoDB server, so the MongoDB backend is tested against emulators
that speak the real wire protocol on 127.0.0.1 (pymongo cannot tell them from a server):

- ``mongo-emulator-nx27017``: nx-27017 (MongoDB wire protocol over SQLite, Python 3.11);
- ``mongo-emulator-mongoeco``: mongoeco's wire server (needs Python 3.13: its own venv,
  ``.venv-mongoeco``, made by ``make .venv-mongoeco/.installed``).

Each runs in its own process, started once per test session on a free port.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.processes import ServerProcess, free_port, spawn

REPO = Path(__file__).resolve().parents[2]
NX27017 = "mongo-emulator-nx27017"
MONGOECO = "mongo-emulator-mongoeco"
REAL = "mongodb"
EMULATORS = (NX27017, MONGOECO)
MONGOECO_PYTHON = REPO / ".venv-mongoeco" / "bin" / "python"
MONGOECO_MAIN = Path(__file__).with_name("mongoeco_server.py")
REAL_URL_ENV = "FULMAR_TEST_MONGODB_URL"

#: what each emulator lacks, for skip messages and the README
LACKS = {
    NX27017: {
        # other sessions see a transaction's writes before it commits, and two transactions
        # writing one document both commit (the backend's modseq guard still catches it)
        "isolation": "nx-27017 does not isolate transactions (writes are visible before "
        "commit; concurrent writers are not refused)",
        "explain": "nx-27017 answers explain with SQLite's plan: it keeps arrays as JSON and "
        "scans for every match on one, so it cannot show MongoDB's index use",
    },
    MONGOECO: {
        "explain": "mongoeco's explain reports its own engine's plan, not MongoDB's "
        "queryPlanner stages (and its memory engine scans)",
    },
}


def lacks(backend: str, feature: str) -> str | None:
    """Why the backend cannot be tested for ``feature`` (None: it can)."""
    return LACKS.get(backend, {}).get(feature) or None


@dataclass
class EmulatorProcess(ServerProcess):
    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"


def mongoeco_missing() -> str | None:
    """Why mongoeco cannot run here (None: it can)."""
    if MONGOECO_PYTHON.exists():
        return None
    return (
        "mongoeco needs Python 3.13 in .venv-mongoeco (`make .venv-mongoeco/.installed` "
        "makes it; it skips when no python3.13 is found)"
    )


def start_emulator(name: str, workdir: Path) -> EmulatorProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = workdir / f"{name}.log"
    if name == NX27017:
        command = [
            str(Path(sys.executable).parent / "nx-27017"),
            "--host",
            "127.0.0.1",
            "-p",
            str(port),
            "--data-dir",
            str(workdir / "data"),
            "--log-file",
            str(workdir / "nx.log"),
            "--pid-file",
            str(workdir / "nx.pid"),
        ]
    else:
        missing = mongoeco_missing()
        if missing is not None:
            if os.environ.get("CI") == "true":
                pytest.fail(f"{MONGOECO}: {missing} (required under CI)")
            pytest.skip(f"{MONGOECO}: {missing}")
        command = [str(MONGOECO_PYTHON), str(MONGOECO_MAIN), str(port)]
    emulator = EmulatorProcess(name, spawn(command, log_path, cwd=workdir), port, log_path)
    emulator.wait_ready(timeout=30)
    return emulator


#: ``FULMAR_TEST_DATA_BACKEND``: run the server-level tests (tests/conftest.py's server) on
#: this data backend instead of SQLite: an emulator's name, or ``mongodb`` (with
#: ``FULMAR_TEST_MONGODB_URL``)
BACKEND_ENV = "FULMAR_TEST_DATA_BACKEND"

#: for test modules that work on SQLite's files themselves (each says where its MongoDB
#: counterpart is, if it has one)
sqlite_only = pytest.mark.skipif(
    os.environ.get(BACKEND_ENV, "sqlite") != "sqlite",
    reason=f"reads or shares SQLite's files directly ({BACKEND_ENV} names another backend)",
)
_started: dict[str, EmulatorProcess] = {}


def _stop_started() -> None:
    for emulator in _started.values():
        emulator.stop()


def data_backend_url(data_dir: Path) -> str | None:
    """The MongoDB URL (a database of its own) for a test server's data directory, when
    ``FULMAR_TEST_DATA_BACKEND`` names a MongoDB backend; None: SQLite. The emulator starts
    the first time it is asked for and stops when the test session's process exits."""
    backend = os.environ.get(BACKEND_ENV, "sqlite")
    if backend == "sqlite":
        return None
    if backend == REAL:
        base = os.environ.get(REAL_URL_ENV)
        if not base:
            raise RuntimeError(f"{BACKEND_ENV}={REAL} needs {REAL_URL_ENV}")
    elif backend in EMULATORS:
        if backend not in _started:
            if not _started:
                atexit.register(_stop_started)
            _started[backend] = start_emulator(
                backend, Path(tempfile.mkdtemp(prefix=f"fulmar-{backend}-"))
            )
        base = _started[backend].url
    else:
        raise RuntimeError(f"{BACKEND_ENV} must be sqlite, {REAL} or one of {EMULATORS}")
    name = "s" + hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:20]
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path="/" + name))
