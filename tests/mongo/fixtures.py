"""Session fixtures: each MongoDB-protocol server starts once, on a free port, when a test
first needs it (registered from the root ``conftest.py``)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .servers import MONGOECO, NX27017, REAL, REAL_URL_ENV, start_emulator


def _emulator(name: str, factory: pytest.TempPathFactory) -> Iterator[str]:
    emulator = start_emulator(name, factory.mktemp(name))
    try:
        yield emulator.url
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def mongo_nx27017_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _emulator(NX27017, tmp_path_factory)


@pytest.fixture(scope="session")
def mongo_mongoeco_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _emulator(MONGOECO, tmp_path_factory)


@pytest.fixture(scope="session")
def mongo_real_url() -> str:
    url = os.environ.get(REAL_URL_ENV)
    if not url:
        pytest.skip(f"needs a real MongoDB: set {REAL_URL_ENV}")
    return url


#: backend name -> the fixture giving its server's URL
URL_FIXTURES = {
    NX27017: "mongo_nx27017_url",
    MONGOECO: "mongo_mongoeco_url",
    REAL: "mongo_real_url",
}


def mongo_url(request: pytest.FixtureRequest, backend: str) -> str:
    """The URL of the (started) server of a MongoDB backend."""
    return request.getfixturevalue(URL_FIXTURES[backend])
