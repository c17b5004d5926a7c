"""Shared helpers for the message parser tests."""

from __future__ import annotations

from tests.corpus import corpus_files, load

__all__ = ["corpus_files", "load"]
