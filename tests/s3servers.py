"""Real S3-compatible servers the tests start on 127.0.0.1: moto in server mode (PyPI) and
s3rver (npm, which checks access keys). Both are test servers, not AWS: they speak
the S3 REST API over HTTP, which is what the S3 blob store is tested against.

Where one is missing the tests that need it skip and say how to install it, except under CI
(``CI=true``), where its absence fails them: ``make test`` installs both.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jmap.s3_url import S3Url
from tests.corpus import in_ci
from tests.processes import ServerProcess, free_port, spawn

ROOT = Path(__file__).resolve().parents[1]
MOTO_SERVER = Path(sys.executable).parent / "moto_server"
#: where ``make test-servers`` puts s3rver (gitignored); FULMAR_TEST_S3RVER overrides
S3RVER = Path(os.environ.get("FULMAR_TEST_S3RVER") or ROOT / ".tools/node_modules/.bin/s3rver")
#: s3rver's fixed credentials
S3RVER_KEY = S3RVER_SECRET = "S3RVER"


@dataclass
class S3Server(ServerProcess):
    access_key: str = ""
    secret_key: str = ""
    #: s3rver's data folder (it has no ListMultipartUploads: its uploads are read there)
    data_dir: Path | None = None

    def location(
        self, bucket: str, access_key: str | None = None, secret_key: str | None = None
    ) -> S3Url:
        return S3Url(
            f"127.0.0.1:{self.port}",
            False,
            self.access_key if access_key is None else access_key,
            self.secret_key if secret_key is None else secret_key,
            bucket,
            "us-east-1",
        )

    def url(self, bucket: str) -> str:
        """The ``s3_url`` setting for a bucket of this server."""
        return (
            f"http://{self.access_key}:{self.secret_key}@127.0.0.1:{self.port}/{bucket}"
            "?region=us-east-1"
        )

    def unfinished_uploads(self, client: Any, bucket: str) -> list[str]:
        """Multipart uploads begun and neither completed nor aborted."""
        if self.data_dir is None:
            return [u.object_name for u in client._list_multipart_uploads(bucket).uploads]
        uploads = self.data_dir / bucket / "._S3rver_uploads"
        return sorted(p.name for p in uploads.iterdir()) if uploads.exists() else []


def bucket_for(location: Path) -> str:
    """A bucket name of its own for each test location (the same one again on reopen)."""
    return "t-" + hashlib.sha256(str(location).encode()).hexdigest()[:24]


def _missing(what: str) -> None:
    message = f"{what} (make test-servers installs it)"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def _start(name: str, command: list[str], port: int, log_path: Path, **creds: Any) -> S3Server:
    process = spawn(command, log_path)
    server = S3Server(name, process, port, log_path, creds["key"], creds["secret"])
    try:
        server.wait_ready()
    except RuntimeError:
        process.kill()
        raise
    return server


def start_moto(folder: Path) -> S3Server:
    """A moto server of its own (for a test that stops it); ``stop`` it when done."""
    if not MOTO_SERVER.exists():
        _missing("moto_server is not installed: pip install 'moto[server]'")
    port = free_port()
    command = [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)]
    return _start(
        "moto", command, port, folder / "moto.log", key="fulmar-test", secret="fulmar-secret"
    )


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's S3 in server mode (it accepts any credentials)."""
    server = start_moto(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3rver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """s3rver, which refuses unknown access keys (it checks signatures of version 2 only,
    so a wrong secret with minio's version 4 signing goes unnoticed there)."""
    node = shutil.which("node")
    if node is None or not S3RVER.exists():
        _missing(f"s3rver is not installed at {S3RVER} (or node is missing)")
    port = free_port()
    folder = tmp_path_factory.mktemp("s3rver")
    command = [
        str(node),
        str(S3RVER.resolve()),
        "--directory",
        str(folder / "data"),
        "--address",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-vhost-buckets",
    ]
    (folder / "data").mkdir()
    server = _start(
        "s3rver", command, port, folder / "s3rver.log", key=S3RVER_KEY, secret=S3RVER_SECRET
    )
    server.data_dir = folder / "data"
    yield server
    server.stop()
