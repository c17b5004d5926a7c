"""Helpers of the push tests: Fulmar processes, JMAP clients over HTTP and WebSocket.

Everything listens on 127.0.0.1 only, on free ports.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import http_ece
import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from jmap.auth import new_token
from jmap.provision import add_account
from jmap.store.sqlite import SqliteDataStore
from tests.conftest import Client as JmapClient
from tests.processes import free_port

CORE = "urn:ietf:params:jmap:core"
MAIL = "urn:ietf:params:jmap:mail"
WEBSOCKET = "urn:ietf:params:jmap:websocket"
USING = [CORE, MAIL]
FULMAR = str(Path(sys.executable).parent / "fulmar")
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
PASSWORD = "push-test-password"
USERS = ("alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com")

#: test settings: receivers on 127.0.0.1 allowed, quick pings and retries, small limits
TEST_CONFIG = """
push_allow_local_http = true
eventsource_ping_min = 2
push_retry_base_seconds = 0.2
push_retry_attempts = 3
push_subscription_max_days = 2
push_reauth_seconds = 2

[limits]
max_size_request = 100000
"""


def provision(data_dir: Path, users: tuple[str, ...] = USERS) -> dict[str, str]:
    """Create the users (password PASSWORD) and a Bearer token for each; returns the tokens."""
    tokens: dict[str, str] = {}

    async def run() -> None:
        data = SqliteDataStore(data_dir / "fulmar.db")
        await data.open()
        try:
            for address in users:
                await add_account(data, address, PASSWORD)
                principal = await data.principal_by_login(address)
                assert principal is not None
                token, digest = new_token()
                await data.add_token(digest, principal.id, "push tests", None)
                tokens[address] = token
        finally:
            await data.close()

    data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(run())
    return tokens


def basic(login: str, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


@dataclass
class Node:
    """One ``fulmar serve`` process."""

    data_dir: Path
    config_file: Path | None = None
    extra_args: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/jmap/ws"

    def start(self) -> None:
        self.log_path = self.data_dir / f"node-{self.port}.log"
        args = [FULMAR, "serve", "--data-dir", str(self.data_dir)]
        args += ["--listen", f"127.0.0.1:{self.port}", *self.extra_args]
        if self.config_file:
            args += ["--config", str(self.config_file)]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not start:\n{self.log()}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def client(self, login: str) -> Client:
        return Client(self, login, PASSWORD)


class Client(JmapClient):
    """The suite's JMAP client with the push tests' password, plus a helper or two."""

    def ok(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """Like the suite's, without adding an accountId (PushSubscription takes none)."""
        response_name, result = self.call(name, args)
        assert response_name == name, result
        return result

    def create_mailbox(self, name: str) -> tuple[str, str]:
        """Create a Mailbox; returns its id and the new Mailbox state."""
        result = self.ok(
            "Mailbox/set", {"accountId": self.account_id, "create": {"m": {"name": name}}}
        )
        assert result["created"], result
        return result["created"]["m"]["id"], result["newState"]


class JmapSocket:
    """A JMAP-over-WebSocket client (RFC 8887) on the ``websockets`` package."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.inbox: list[dict[str, Any]] = []

    @classmethod
    async def open(
        cls, node: Node, login: str | None = None, token: str | None = None, **kwargs: Any
    ) -> JmapSocket:
        url = node.ws_url + (f"?access_token={token}" if token else "")
        headers = {"Authorization": basic(login)} if login else {}
        ws = await connect(
            url, subprotocols=[Subprotocol("jmap")], additional_headers=headers, **kwargs
        )
        return cls(ws)

    async def __aenter__(self) -> JmapSocket:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()

    async def send(self, obj: Any) -> None:
        await self.ws.send(obj if isinstance(obj, str | bytes) else json.dumps(obj))

    async def next(self, match: Any, timeout: float = 10) -> dict[str, Any]:
        """The first message (received earlier or now) for which ``match(message)`` holds."""
        for message in self.inbox:
            if match(message):
                self.inbox.remove(message)
                return message
        async with asyncio.timeout(timeout):
            while True:
                message = json.loads(await self.ws.recv())
                if match(message):
                    return message
                self.inbox.append(message)

    async def next_type(self, kind: str, timeout: float = 10) -> dict[str, Any]:
        return await self.next(lambda m: m.get("@type") == kind, timeout)

    async def none_of(self, kind: str, wait: float) -> None:
        """Fail if a message of type ``kind`` arrives within ``wait`` seconds."""
        try:
            message = await self.next_type(kind, wait)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected {kind}: {message}")

    async def request(
        self, calls: list[list[Any]], request_id: str = "r", using: list[str] | None = None
    ) -> dict[str, Any]:
        await self.send(
            {"@type": "Request", "id": request_id, "using": using or USING, "methodCalls": calls}
        )
        return await self.next(lambda m: m.get("requestId") == request_id)

    async def enable_push(
        self, data_types: list[str] | None = None, push_state: str | None = None
    ) -> None:
        message: dict[str, Any] = {"@type": "WebSocketPushEnable", "dataTypes": data_types}
        if push_state is not None:
            message["pushState"] = push_state
        await self.send(message)
        # A request answered after the enable proves the push is set up (messages are
        # handled in order, and enabling completes before the next message is read).
        await self.request([["Core/echo", {}, "e"]], request_id="after-enable")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A small HTTP server on 127.0.0.1 standing in for a push service."""

    def __init__(self) -> None:
        self.requests: queue.Queue[Received] = queue.Queue()
        #: path -> status codes to answer, in turn (then 201)
        self.answers: dict[str, list[int]] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.requests.put(Received(self.path, dict(self.headers.items()), body))
                codes = receiver.answers.get(self.path)
                status = codes.pop(0) if codes else 201
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def next(self, path: str, timeout: float = 10) -> Received:
        """The next request to ``path``; requests to other paths are kept for later."""
        deadline = time.monotonic() + timeout
        kept = []
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no push to {path} within {timeout}s")
                try:
                    received = self.requests.get(timeout=remaining)
                except queue.Empty:
                    continue
                if received.path == path:
                    return received
                kept.append(received)
        finally:
            for received in kept:
                self.requests.put(received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class PushKeys:
    """A client's RFC 8291 key pair and auth secret, as a browser would make them."""

    def __init__(self) -> None:
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)

    def as_jmap(self) -> dict[str, str]:
        point = self.private_key.public_key().public_bytes(
            Encoding.X962, PublicFormat.UncompressedPoint
        )
        return {"p256dh": b64url(point), "auth": b64url(self.auth)}

    def decrypt(self, body: bytes) -> dict[str, Any]:
        plain = http_ece.decrypt(
            body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm"
        )
        return json.loads(plain)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
