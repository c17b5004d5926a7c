"""Shutdown: a request still running when the grace period ends is answered 503 with
Retry-After (RFC 9110 §15.6.4), never a 500 with a traceback."""

from __future__ import annotations

import base64
import signal
import socket

from tests.conftest import start_server


def read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_a_request_outliving_the_grace_period_gets_503(tmp_path):
    config = tmp_path / "f.toml"
    config.write_text("shutdown_grace_seconds = 0.5\n")
    server = start_server(tmp_path / "d", extra_args=["--config", str(config)])
    try:
        alice = server.client("alice@example.com")
        auth = base64.b64encode(f"{alice.login}:{alice.password}".encode()).decode()
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.settimeout(60)
            sock.sendall(
                f"POST /jmap/upload/{alice.account_id}/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Basic {auth}\r\nContent-Length: 1000\r\n"
                "Expect: 100-continue\r\n\r\n".encode()
            )
            # the server asks for the body once the upload is reading it
            continued = b""
            while b"\r\n\r\n" not in continued:
                continued += sock.recv(1)
            assert continued == b"HTTP/1.1 100 Continue\r\n\r\n"
            sock.sendall(b"the first few octets")
            assert server.process is not None
            server.process.send_signal(signal.SIGTERM)
            answer = read_until_closed(sock)
        head = answer.split(b"\r\n\r\n")[0].lower()
        assert head.startswith(b"http/1.1 503 "), answer
        assert b"\r\nretry-after: " in head
        assert server.process.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        server.stop()
    log = server.log()
    assert "Traceback" not in log, log
    assert "Exception in ASGI application" not in log, log
