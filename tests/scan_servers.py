"""Real rspamd and clamd (from Debian's packages) started for the tests on 127.0.0.1.

``make test`` installs both. Without them the tests that need them skip and say why,
except under CI (``CI=true``), where a missing engine fails them. Neither engine touches
the network: rspamd's resolver points at a closed port of 127.0.0.1 and its fuzzy checks
are off; clamd loads one test signature database written here (no download).
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.corpus import in_ci
from tests.processes import ServerProcess, free_port, spawn, wait_for_port

#: the EICAR anti-virus test file; the test database below names it
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
#: rspamd's test string for spam (GTUBE): its verdict is reject
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


#: how the engines' addresses reach the test processes (pytest-xdist's workers inherit the
#: controller's environment); set one beforehand to use an engine running elsewhere
ADDRESS_ENV = {"rspamd": "FULMAR_TEST_RSPAMD_URL", "clamd": "FULMAR_TEST_CLAMD_ADDRESS"}
_FAILED = "failed to start: "


def installed(binary: str) -> str | None:
    if path := shutil.which(binary):
        return path
    return f"/usr/sbin/{binary}" if Path(f"/usr/sbin/{binary}").exists() else None


def require(binary: str, package: str) -> str:
    path = installed(binary)
    if path is None:
        reason = f"{binary} is not installed (Debian package {package}; `make test` installs it)"
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def start_engines(folder: Path) -> list[Engine]:
    """Start each installed engine not named in the environment already, and publish its
    address there. Done once, by the process that runs the session, before the tests
    (rspamd loads its rules for half a minute or more while the other tests run)."""
    engines: list[Engine] = []
    for name, start in (("rspamd", start_rspamd), ("clamd", start_clamd)):
        if os.environ.get(ADDRESS_ENV[name]) or installed(name) is None:
            continue
        try:
            engine = start(folder / name)
        except Exception as exc:  # reported by the tests that need the engine
            os.environ[ADDRESS_ENV[name]] = _FAILED + str(exc)
            continue
        engines.append(engine)
        os.environ[ADDRESS_ENV[name]] = engine.address
    return engines


def engine_address(name: str, package: str, seconds: float = 180) -> str:
    """The address of a started engine, once it accepts connections."""
    address = os.environ.get(ADDRESS_ENV[name])
    if not address:
        require(name, package)  # skips, or fails under CI
        raise RuntimeError(f"{name} was not started (tests/conftest.py starts it)")
    if address.startswith(_FAILED):
        raise RuntimeError(f"{name} {address}")
    port = int(address.rsplit(":", 1)[1])
    wait_for_port(port, seconds, name)
    return address


@dataclass
class Engine(ServerProcess):
    """A scanning engine's process, started at once and used when it accepts connections."""

    address: str = ""


def start_rspamd(folder: Path) -> Engine:
    """A real rspamd (its address: the URL of its normal worker). It takes half a minute
    or more to load its rules, so start it early and call ``ready`` when it is needed."""
    binary = require("rspamd", "rspamd")
    local = folder / "local.d"
    for sub in ("local.d", "db", "run", "log"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    port, controller, proxy = free_port(), free_port(), free_port()
    for worker, worker_port in (("normal", port), ("controller", controller), ("proxy", proxy)):
        (local / f"worker-{worker}.inc").write_text(
            f'bind_socket = "127.0.0.1:{worker_port}";\ncount = 1;\n'
        )
    (local / "logging.inc").write_text('type = "console";\nlevel = "error";\n')
    (local / "options.inc").write_text(
        'dns {\n  nameserver = ["127.0.0.1:9"];\n  timeout = 0.2s;\n  retransmits = 1;\n}\n'
    )
    (local / "fuzzy_check.conf").write_text("enabled = false;\n")
    log = folder / "rspamd.log"
    variables = {"LOCAL_CONFDIR": local.parent, "DBDIR": folder / "db", "RUNDIR": folder / "run"}
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    args = [binary, "-f", "-i", "-u", user, "-g", group, "-p", str(folder / "run" / "pid")]
    for name, value in variables.items():
        args += ["--var", f"{name}={value}"]
    return Engine("rspamd", spawn(args, log), port, log, f"http://127.0.0.1:{port}")


def start_clamd(folder: Path) -> Engine:
    """A real clamd with a one-signature database (EICAR); its address is ``127.0.0.1:PORT``."""
    binary = require("clamd", "clamav-daemon")
    (folder / "db").mkdir(parents=True, exist_ok=True)
    digest = hashlib.md5(EICAR).hexdigest()
    (folder / "db" / "fulmar-test.hdb").write_text(f"{digest}:{len(EICAR)}:Fulmar.Test.EICAR\n")
    port = free_port()
    config = folder / "clamd.conf"
    config.write_text(
        "Foreground yes\n"
        f"DatabaseDirectory {folder / 'db'}\n"
        f"TCPSocket {port}\nTCPAddr 127.0.0.1\n"
        f"LogFile {folder / 'clamd.log'}\n"
        "StreamMaxLength 60M\n"
        f"User {pwd.getpwuid(os.getuid()).pw_name}\n"
    )
    log = folder / "clamd.out"
    return Engine("clamd", spawn([binary, "-c", str(config)], log), port, log, f"127.0.0.1:{port}")
