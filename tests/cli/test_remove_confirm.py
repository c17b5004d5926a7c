"""``fulmar account remove`` deletes only on an explicit yes."""

from __future__ import annotations

import os
import pty
import subprocess

from .conftest import FULMAR

PASSWORD = "correct horse"


def test_remove_without_yes_and_no_terminal_refuses(fulmar):
    """Scripts, cron, ``ssh host cmd`` and ``echo n |`` have no terminal: nothing is deleted."""
    fulmar.ok("account", "add", "alice@example.com", "--password", PASSWORD)
    for stdin in ("", "n\n", "y\n", "yes\n"):
        message = fulmar.fails("account", "remove", "alice@example.com", stdin=stdin)
        assert "--yes" in message and "alice@example.com" in message
    assert "alice@example.com" in fulmar.ok("account", "list")
    fulmar.ok("account", "remove", "alice@example.com", "--yes")
    assert fulmar.ok("account", "list") == ""


def answer_on_terminal(fulmar, answer: bytes) -> tuple[int, bytes]:
    """Run ``account remove`` on a pseudo-terminal and type ``answer`` at its question."""
    main_fd, terminal = pty.openpty()
    command = [str(FULMAR), "account", "remove", "alice@example.com"]
    command += ["--data-dir", str(fulmar.data_dir)]
    process = subprocess.Popen(command, stdin=terminal, stdout=terminal, stderr=terminal)
    os.close(terminal)
    os.write(main_fd, answer)
    output = b""
    while True:
        try:
            chunk = os.read(main_fd, 4096)
        except OSError:  # the terminal closed: the command ended
            break
        if not chunk:
            break
        output += chunk
    os.close(main_fd)
    return process.wait(timeout=60), output


def test_remove_on_a_terminal_asks(fulmar):
    fulmar.ok("account", "add", "alice@example.com", "--password", PASSWORD)
    code, output = answer_on_terminal(fulmar, b"n\n")
    assert code != 0 and b"Remove alice@example.com" in output
    assert "alice@example.com" in fulmar.ok("account", "list")
    code, output = answer_on_terminal(fulmar, b"y\n")
    assert code == 0 and b"removed alice@example.com" in output, output
    assert fulmar.ok("account", "list") == ""
