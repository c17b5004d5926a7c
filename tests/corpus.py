"""The real-world message corpus some tests read: optional, it is not part of the repository.

It is looked for in ``FULMAR_TEST_CORPUS`` or else in ``shared/corpus`` beside the
repository. Without it those tests skip and say why, except under CI (``CI=true``), where
its absence fails them: there it is always laid out, so a missing corpus is a broken setup.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CORPUS = Path(
    os.environ.get("FULMAR_TEST_CORPUS")
    or Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
)
#: fewer messages than this is not the corpus (a half-copied or wrong folder)
MIN_FILES = 100

ABSENT = (
    f"the message corpus is not available ({CORPUS} has fewer than {MIN_FILES} .eml files); "
    "set FULMAR_TEST_CORPUS to a folder of .eml messages to run these tests"
)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def corpus_files() -> list[Path]:
    """The corpus messages, or [] when it is absent."""
    files = sorted(CORPUS.glob("*.eml"))
    return files if len(files) >= MIN_FILES else []


def require_corpus() -> list[Path]:
    """In a test: the corpus messages; skip when absent (fail under CI)."""
    files = corpus_files()
    if not files:
        if in_ci():
            pytest.fail(ABSENT)
        pytest.skip(ABSENT)
    return files


def load(name: str) -> bytes:
    """One corpus message by file name (skips, or fails under CI, without the corpus)."""
    require_corpus()
    path = CORPUS / name
    if not path.exists():
        pytest.fail(f"corpus file {name} is missing from {CORPUS}")
    return path.read_bytes()
