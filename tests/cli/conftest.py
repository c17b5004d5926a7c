"""Run the real ``fulmar`` command as a subprocess against a data directory in tmp."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from jmap.store.base import DataStore
from jmap.store.sqlite import SqliteDataStore

T = TypeVar("T")

FULMAR = Path(sys.executable).parent / "fulmar"


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Fulmar:
    data_dir: Path

    def run(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        data_dir: bool = True,
        stdin: str = "",
    ) -> Result:
        command = [str(FULMAR), *args]
        if data_dir:
            command += ["--data-dir", str(self.data_dir)]
        environ = {k: v for k, v in os.environ.items() if not k.startswith("FULMAR_")}
        environ.update(env or {})
        done = subprocess.run(
            command,
            input=stdin,
            capture_output=True,
            text=True,
            env=environ,
            timeout=60,
            cwd=self.data_dir.parent,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str, **kwargs) -> str:
        result = self.run(*args, **kwargs)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        return result.stdout

    def fails(self, *args: str, **kwargs) -> str:
        """Run a command that must fail with one clear line on stderr; return that line."""
        result = self.run(*args, **kwargs)
        assert result.returncode != 0, result.stdout
        assert "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("Error: "), lines
        return lines[0].removeprefix("Error: ")

    def create(self) -> Fulmar:
        """Make the data directory the way ``fulmar serve`` does (an empty database)."""
        self.store(lambda data: asyncio.sleep(0))
        return self

    def store(self, body: Callable[[DataStore], Awaitable[T]]) -> T:
        """Look at the data directory the way the server would."""

        async def main() -> T:
            data = SqliteDataStore(self.data_dir / "fulmar.db")
            await data.open()
            try:
                return await body(data)
            finally:
                await data.close()

        return asyncio.run(main())


@pytest.fixture
def fulmar(tmp_path: Path) -> Fulmar:
    """``fulmar`` on a data directory that exists (as after a first ``fulmar serve``)."""
    return Fulmar(tmp_path / "data").create()
