"""Slow and idle clients: read timeouts and the connection cap (``jmap.serving``).

The timeouts are configured short here; the tests observe that the server closes the
connection, never how long it took (a generous client-side timeout only keeps a failing
test from hanging).
"""

from __future__ import annotations

import base64
import socket
import time

import httpx
import pytest

from tests.conftest import start_server

CLIENT_TIMEOUT = 60


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("strict")
    config = data_dir / "f.toml"
    config.write_text("header_timeout_seconds = 0.5\nbody_timeout_seconds = 0.5\n")
    server = start_server(data_dir / "d", extra_args=["--config", str(config)])
    yield server
    server.stop()
    assert "Traceback" not in server.log()


def connect(server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.settimeout(CLIENT_TIMEOUT)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def basic(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


def test_half_sent_headers_are_answered_408_and_closed(strict):
    with connect(strict) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 ")


def test_silent_connections_are_closed(strict):
    with connect(strict) as sock:
        assert read_until_closed(sock) == b""


def test_a_stalled_body_closes_the_connection(strict):
    alice = strict.client("alice@example.com")
    with connect(strict) as sock:
        sock.sendall(
            f"POST /jmap/upload/{alice.account_id}/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: {basic(alice.login, alice.password)}\r\n"
            "Content-Length: 1000\r\n\r\n".encode()
            + b"only part of the body"
        )
        read_until_closed(sock)
    # the server is still well
    assert alice.http.get("/healthz").status_code == 200


def test_headers_are_bounded(strict):
    """RFC 6585 §5: a request whose headers are too large is answered 431 and closed."""
    headers = b"".join(b"X-Filler-%d: %s\r\n" % (n, b"a" * 1000) for n in range(70))
    with connect(strict) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n")
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 ")


def test_a_slow_but_steady_request_is_served(strict):
    """The timeouts bound waiting, not work: a request sent whole is answered."""
    with connect(strict) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200 ")


def test_connections_past_the_cap_are_refused(tmp_path):
    config = tmp_path / "f.toml"
    config.write_text("max_connections = 3\n")
    server = start_server(tmp_path / "d", extra_args=["--config", str(config)])
    try:
        held = [connect(server) for _ in range(3)]
        # the server has taken each of them in once it answers on it
        for sock in held[:2]:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        with connect(server) as extra:  # answered at once, before it sends anything
            refused = read_until_closed(extra)
        assert refused.startswith(b"HTTP/1.1 503 ")
        assert b"retry-after:" in refused.lower()
        for sock in held:
            sock.close()
        # with the connections gone, new ones are served again
        for _ in range(200):
            try:
                response = httpx.get(f"{server.url}/healthz", headers={"Connection": "close"})
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code == 200:
                break
            time.sleep(0.05)
        assert response is not None and response.status_code == 200
    finally:
        server.stop()
    assert "Traceback" not in server.log()
