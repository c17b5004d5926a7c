"""Shared fixtures: a real Fulmar server in a subprocess, and a small JMAP client."""

from __future__ import annotations

import asyncio
import atexit
import functools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from jmap.provision import add_account
from jmap.store.base import DataStore
from jmap.store.factory import open_data_store
from tests.mongo.servers import data_backend_url
from tests.processes import free_port
from tests.scan_servers import Engine, start_engines

pytest_plugins = ["tests.mongo.fixtures"]

_SMTP_TESTS = Path(__file__).parent / "smtp"
_engines: list[Engine] = []


def _selects_smtp_tests(config: pytest.Config) -> bool:
    for arg in config.args:
        path = Path(config.invocation_params.dir, arg.split("::")[0]).resolve()
        if path == _SMTP_TESTS or path in _SMTP_TESTS.parents or _SMTP_TESTS in path.parents:
            return True
    return False


def pytest_configure(config: pytest.Config) -> None:
    # in the process that runs the session only (not in each pytest-xdist worker)
    if not hasattr(config, "workerinput") and _selects_smtp_tests(config):
        folder = Path(tempfile.mkdtemp(prefix="fulmar-scanners-"))
        _engines.extend(start_engines(folder))
        config.add_cleanup(functools.partial(shutil.rmtree, folder, True))


def pytest_unconfigure(config: pytest.Config) -> None:
    while _engines:
        _engines.pop().stop()


CORE = "urn:ietf:params:jmap:core"
MAIL = "urn:ietf:params:jmap:mail"
USING = [CORE, MAIL]
FULMAR = str(Path(sys.executable).parent / "fulmar")

USERS = {"alice@example.com": "alice-password", "bob@example.com": "bob-password"}

# Servers started by the tests take no SMTP port unless a test gives one (--smtp-listen):
# the default 127.0.0.1:2525 could be taken, and two servers cannot share it.
os.environ["FULMAR_SMTP_LISTEN"] = ""


def backend_env(data_dir: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a server or CLI process on ``data_dir``: the data backend under
    test (``FULMAR_TEST_DATA_BACKEND``) with ``env`` over this process's."""
    result = {**os.environ, **(env or {})}
    if "FULMAR_MONGODB_URL" not in (env or {}) and (url := data_backend_url(data_dir)):
        result["FULMAR_MONGODB_URL"] = url  # (a test that names its own MongoDB keeps it)
    return result


def open_test_store(data_dir: Path) -> DataStore:
    """The data store of a test server's ``data_dir``, on the backend under test."""
    return open_data_store(data_dir / "fulmar.db", data_backend_url(data_dir))


def _provision(data_dir: Path, users: dict[str, str]) -> None:
    async def run() -> None:
        data = open_test_store(data_dir)
        await data.open()
        try:
            for address, password in users.items():
                await add_account(data, address, password)
        finally:
            await data.close()

    asyncio.run(run())


#: provisioned data directories by user set: hashing the passwords (argon2) and creating
#: the store took seconds per server start, so each set is made once and copied
_TEMPLATES: dict[tuple[tuple[str, str], ...], Path] = {}


def create_accounts(data_dir: Path, users: dict[str, str]) -> None:
    """The users' accounts in ``data_dir``: a copy of a store provisioned once per session
    with the same users when the folder has no store yet."""
    if (data_dir / "fulmar.db").exists() or data_backend_url(data_dir) is not None:
        _provision(data_dir, users)  # (a MongoDB database cannot be copied as a folder)
        return
    key = tuple(sorted(users.items()))
    template = _TEMPLATES.get(key)
    if template is None:
        template = Path(tempfile.mkdtemp(prefix="fulmar-accounts-"))
        atexit.register(shutil.rmtree, template, True)
        _provision(template, users)
        _TEMPLATES[key] = template
    shutil.copytree(template, data_dir, dirs_exist_ok=True)


@dataclass
class Client:
    """A JMAP client for one user, speaking HTTP to the server under test."""

    server: FulmarServer
    login: str
    password: str
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(
            base_url=self.server.url, auth=(self.login, self.password), timeout=30
        )

    @property
    def session(self) -> dict[str, Any]:
        response = self.http.get("/.well-known/jmap")
        response.raise_for_status()
        return response.json()

    @property
    def account_id(self) -> str:
        return self.session["primaryAccounts"][MAIL]

    def request(self, calls: list[list[Any]], using: list[str] | None = None, **extra: Any):
        body = {"using": using or USING, "methodCalls": calls, **extra}
        return self.http.post("/jmap/api/", json=body)

    def call(self, name: str, args: dict[str, Any], using: list[str] | None = None) -> Any:
        """One method call; returns (response name, arguments)."""
        response = self.request([[name, args, "c0"]], using)
        assert response.status_code == 200, response.text
        (result,) = response.json()["methodResponses"]
        return result[0], result[1]

    def fail(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """A call that must answer a method-level error; returns the error's arguments."""
        response_name, result = self.call(name, args)
        assert response_name == "error", result
        return result

    def ok(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """A call that must succeed; returns its arguments."""
        args = {"accountId": self.account_id, **args}
        response_name, result = self.call(name, args)
        assert response_name == name, result
        return result


@dataclass
class FulmarServer:
    data_dir: Path
    port: int
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        scheme = "https" if "--tls-cert" in self.extra_args else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log_path = self.data_dir / f"server-{time.time_ns()}.log"
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                FULMAR,
                "serve",
                "--data-dir",
                str(self.data_dir),
                "--listen",
                f"127.0.0.1:{self.port}",
                *self.extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.process_env(),
        )
        deadline = time.monotonic() + 60  # generous: a busy machine starts slowly
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()  # not left running behind the failed test
        raise RuntimeError(f"server did not start:\n{self.log()}")

    def process_env(self) -> dict[str, str]:
        """The environment of the server and CLI processes (the data backend under test)."""
        return backend_env(self.data_dir, self.env)

    def stop(self) -> int | None:
        if self.process is None:
            return None
        self.process.terminate()
        try:
            code = self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.process = None
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def client(self, login: str) -> Client:
        return Client(self, login, USERS[login])

    def share(self, owner: str, grantee: str, read_only: bool = False) -> None:
        """Let ``grantee`` use ``owner``'s account, through the CLI as an operator would."""
        flags = ["--read-only"] if read_only else []
        subprocess.run(
            [
                FULMAR,
                "account",
                "share",
                owner,
                "--with",
                grantee,
                *flags,
                "--data-dir",
                str(self.data_dir),
            ],
            check=True,
            capture_output=True,
            env=self.process_env(),
        )


def start_server(data_dir: Path, users: dict[str, str] | None = None, **kwargs: Any):
    data_dir.mkdir(parents=True, exist_ok=True)
    create_accounts(data_dir, USERS if users is None else users)
    server = FulmarServer(data_dir, free_port(), **kwargs)
    server.start()
    return server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FulmarServer]:
    server = start_server(tmp_path_factory.mktemp("fulmar"))
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()


@pytest.fixture(scope="module")
def alice(server: FulmarServer) -> Client:
    return server.client("alice@example.com")


@pytest.fixture(scope="module")
def bob(server: FulmarServer) -> Client:
    return server.client("bob@example.com")
