"""Malformed SMTP sessions over a raw socket: every reply is a well-formed RFC 5321 reply
with an RFC 3463 code, the server never crashes or logs a traceback, and serves after."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.smtp.smtpkit import ALICE, TEST_CONFIG, RawSmtp, SmtpServer, start_smtp_server

CONFIG = TEST_CONFIG.replace("[limits]", "smtp_timeout_seconds = 2.0\n\n[limits]")

VERBS = ["EHLO", "HELO", "MAIL FROM:", "RCPT TO:", "DATA", "RSET", "NOOP", "VRFY", "EXPN"]
VERBS += ["HELP", "AUTH", "BDAT", "STARTTLS", "QUIT", "TURN", "mail from:", "rcpt to:"]
ARGS = st.one_of(
    st.sampled_from(["", " ", "<>", "<alice@example.com>", "<a@b>", "<@x,@y:alice@example.com>"]),
    st.sampled_from([" SIZE=99999999999999999999", " BODY=8BITMIME", " SMTPUTF8", " X=Y"]),
    st.text(max_size=40),
    st.text(alphabet='<>@:"\\ .,[]=+', max_size=20),
)
LINES = st.one_of(
    st.builds(
        lambda verb, arg: (verb + arg).encode("utf-8", "surrogatepass"),
        st.sampled_from(VERBS),
        ARGS,
    ),
    st.binary(max_size=80),
    st.just(b"A" * 1200),
    st.just(b"."),
)
REPLY = re.compile(r"\d{3}[ -]")
CODED = re.compile(r"[245]\d\d[ -][245]\.\d{1,3}\.\d{1,3}( |$)")


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    server = start_smtp_server(tmp_path_factory.mktemp("smtp-fuzz"), CONFIG, (ALICE,))
    yield server
    server.stop()
    log = server.log()
    assert "Traceback" not in log and '"level":"error"' not in log, log


def session(port: int, lines: list[bytes]) -> list[str]:
    """Send the lines, then end any DATA and QUIT; return every reply line until closed."""
    raw = RawSmtp(port, timeout=20)
    replies = []
    try:
        raw.send(b"\r\n".join(lines) + b"\r\n.\r\nQUIT\r\n")
        while True:
            try:
                line = raw.line()
            except ConnectionResetError:
                break
            if not line:
                break
            replies.append(line)
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        raw.close()
    return replies


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(LINES, max_size=12))
def test_malformed_sessions(fuzz_server, lines):
    replies = session(fuzz_server.smtp_port, lines)
    assert replies and replies[0].startswith("220 ")
    in_ehlo = False
    for reply in replies[1:]:
        if not REPLY.match(reply):
            # after STARTTLS the server speaks TLS: nothing more to read as text
            assert any(r.startswith("220 2.0.0 Ready to start TLS") for r in replies), replies
            break
        assert "Traceback" not in reply and "Error: (" not in reply, reply
        code = reply[:3]
        ehlo_line = reply.startswith("250-") or (in_ehlo and code == "250")
        in_ehlo = reply.startswith("250-")
        if code[0] != "3" and not ehlo_line and not reply.startswith("250 mx.example.com"):
            assert CODED.match(reply), reply
    # the server still answers
    with socket.create_connection(("127.0.0.1", fuzz_server.smtp_port), timeout=20) as sock:
        assert sock.recv(100).startswith(b"220 ")
        sock.sendall(b"NOOP\r\n")
        assert sock.recv(100).startswith(b"250 2.0.0")
