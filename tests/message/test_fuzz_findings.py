"""Defects the coverage-guided fuzzers under fuzz/ found, kept as regression tests."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from jmap.message import parse_message
from jmap.message.headers import as_addresses


def test_stray_closing_parenthesis_in_an_address_field():
    """fuzz/mime.py, found in 20 minutes: a ')' outside a comment made the address
    tokenizer append empty atoms forever without moving on (a hang, then memory
    exhaustion) for any ``From: a)b``.  The loop is run in a child process with 512 MiB of
    address space, so the old code fails with MemoryError instead of hanging the suite."""
    child = textwrap.dedent(
        """
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (512 << 20, 512 << 20))
        from jmap.message.addresses import parse_addresses
        print(parse_addresses("a)b, Ann (x)) <ann@example.com>"))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ann@example.com" in result.stdout
    assert as_addresses(") <b@example.com>") == [{"name": None, "email": "b@example.com"}]
    model = parse_message(b"From: Ann) <ann@example.com>\r\nTo: )))\r\n\r\nhi")
    assert model["from"] == [{"name": "Ann", "email": "ann@example.com"}]
