"""Issue 7.9: ``looks_like_message`` tells messages from other blobs (RFC 8621 §4.8, §4.9)."""

from __future__ import annotations

import random

import pytest

from jmap.message import looks_like_message
from tests.corpus import require_corpus


def test_every_corpus_message_is_a_message():
    """Skips without the corpus (fails under CI, where it is always laid out)."""
    not_messages = [p.name for p in require_corpus() if not looks_like_message(p.read_bytes())]
    assert not_messages == []


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n\r\nbody only",
        b"just text\nno header\n",
        b"<html><head><title>x</title></head></html>",
        b"%PDF-1.7\n",
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00",
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00",
        b"Key:\x00\x00\x00binary",
        b"From nobody Mon Jan  1 00:00:00 2024\n",  # an mbox separator alone
    ],
)
def test_not_messages(raw):
    assert not looks_like_message(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"Subject: only a subject",
        b"From nobody Mon Jan  1 00:00:00 2024\nFrom: a@b\n\nx",
        b"  \r\n From: a@example.com\r\n\r\nbody",
        b"X-Junk: \xff\xfe 8-bit junk\r\nnot a field line\r\n\r\nbody\x00with NUL in the body",
    ],
)
def test_damaged_mail_is_still_a_message(raw):
    assert looks_like_message(raw)


def test_random_binary_is_not_a_message():
    rng = random.Random(7)
    blobs = [bytes(rng.randrange(256) for _ in range(512)) for _ in range(200)]
    assert not any(looks_like_message(b) for b in blobs)
