"""Helpers of the outbound tests: an in-process Fulmar (real data, blob and job stores,
real methods and worker) driven with a clock the test sets, and an aiosmtpd sink on
127.0.0.1 that answers each recipient as the test says."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from jmap.api import parse_request, run_request
from jmap.auth import Credentials
from jmap.config import Config
from jmap.provision import add_account
from jmap.services import Services
from jmap.store.base import SERVER_ACCOUNT
from jmap.store.factory import open_data_store
from jmap.store.files import FileBlobStore
from methods import build_registry
from smtp_gateway.outbound import OutboundWorker
from smtp_gateway.queues import INBOUND, OUTBOUND
from tests.processes import free_port

CORE = "urn:ietf:params:jmap:core"
MAIL = "urn:ietf:params:jmap:mail"
SUBMISSION = "urn:ietf:params:jmap:submission"
USING = [CORE, MAIL, SUBMISSION]
PASSWORD = "outbound-test-password"


class RecordingBus:
    """The bus role, keeping what was published (push reads the same events)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, str]]] = []

    async def publish(self, account_id: str, changed: dict[str, str]) -> None:
        self.events.append((account_id, changed))

    async def close(self) -> None:
        pass


class InlineWorkers:
    """Runs the worker-pool tasks (the real parse and build functions) in this process:
    the process pool itself is not what these tests are about."""

    async def run(self, owner: str, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)

    async def close(self) -> None:
        pass


@dataclass
class Clock:
    t: float

    def __call__(self) -> float:
        return self.t


@dataclass
class Received:
    mail_from: str
    rcpts: list[str]
    data: bytes
    tls: bool = False
    auth: Any = None
    mail_options: list[str] = field(default_factory=list)
    peer: str = ""


class SinkHandler:
    def __init__(self) -> None:
        self.received: list[Received] = []
        #: recipient -> the reply RCPT gets (default 250)
        self.rcpt_replies: dict[str, str] = {}
        self.data_reply = "250 2.0.0 Ok: queued as SINK1"
        self.sessions = 0
        #: every RCPT address, in order
        self.rcpt_attempts: list[str] = []

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpt_attempts.append(address)
        reply = self.rcpt_replies.get(address.lower())
        if reply is not None and not reply.startswith("2"):
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.original_content or envelope.content,
                session.ssl is not None,
                session.auth_data,
                list(envelope.mail_options),
                session.peer[0],
            )
        )
        return self.data_reply


class Sink:
    """An aiosmtpd server on 127.0.0.1; ``logins`` turns on AUTH (PLAIN/LOGIN); other
    keyword arguments go to aiosmtpd (``tls_context``, ``enable_SMTPUTF8``)."""

    def __init__(self, logins: dict[str, str] | None = None, **kwargs: Any) -> None:
        self.handler = SinkHandler()
        self.port = free_port()
        if logins is not None:

            def authenticator(server, session, envelope, mechanism, auth_data):
                ok = logins.get(auth_data.login.decode()) == auth_data.password.decode()
                return AuthResult(success=ok, handled=False, auth_data=auth_data)

            kwargs = {
                "authenticator": authenticator,
                "auth_required": True,
                "auth_require_tls": False,
            }
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **kwargs)

    def __enter__(self) -> Sink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def received(self) -> list[Received]:
        return self.handler.received


@dataclass
class Fulmar:
    """One in-process server: the roles, the methods, and outbound workers on demand."""

    services: Services
    clock: Clock
    accounts: dict[str, str] = field(default_factory=dict)
    registry: Any = field(default_factory=build_registry)

    @property
    def data(self):
        return self.services.data

    @property
    def bus(self) -> RecordingBus:
        return self.services.bus  # type: ignore[return-value]

    async def request(self, login: str, calls: list[list[Any]]) -> list[list[Any]]:
        principal = await self.data.principal_by_login(login)
        assert principal is not None
        accounts = await self.data.accounts_for(principal.id)
        credentials = Credentials("Basic x", principal, accounts)
        body = orjson.dumps({"using": USING, "methodCalls": calls})
        request = parse_request(body, self.services.config.limits)
        response = await run_request(request, self.services, self.registry, credentials, "s")
        return orjson.loads(orjson.dumps(response))["methodResponses"]

    async def call(self, login: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
        args = {"accountId": self.accounts[login], **args}
        ((response_name, result, _),) = await self.request(login, [[name, args, "c"]])
        assert response_name == name, result
        return result

    async def mailbox(self, login: str, role: str) -> str:
        result = await self.call(login, "Mailbox/get", {"ids": None})
        return next(m["id"] for m in result["list"] if m["role"] == role)

    async def identity(self, login: str) -> str:
        result = await self.call(login, "Identity/get", {"ids": None})
        return result["list"][0]["id"]

    async def draft(self, login: str, **headers: Any) -> dict[str, Any]:
        """An Email in Drafts from the fields given (``frm`` for From)."""
        drafts = await self.mailbox(login, "drafts")
        sender = headers.pop("frm", login)
        email = {
            "mailboxIds": {drafts: True},
            "keywords": {"$draft": True, "$seen": True},
            **({"from": [{"email": sender}]} if sender else {}),
            "subject": headers.pop("subject", "Hello"),
            "bodyValues": {"1": {"value": headers.pop("body", "Hello there.")}},
            "textBody": [{"partId": "1", "type": "text/plain"}],
            **{k: [{"email": a} for a in v] for k, v in headers.items()},
        }
        result = await self.call(login, "Email/set", {"create": {"d": email}})
        assert "d" in (result.get("created") or {}), result
        return result["created"]["d"]

    async def submit(
        self, login: str, email_id: str, envelope: Any = None, **args: Any
    ) -> dict[str, Any]:
        create: dict[str, Any] = {"identityId": await self.identity(login), "emailId": email_id}
        if envelope is not None:
            create["envelope"] = envelope
        return await self.call(login, "EmailSubmission/set", {"create": {"s": create}, **args})

    async def submission(self, login: str, submission_id: str) -> dict[str, Any]:
        result = await self.call(login, "EmailSubmission/get", {"ids": [submission_id]})
        return result["list"][0]

    def worker(self, **kwargs: Any) -> OutboundWorker:
        return OutboundWorker(self.services, now=self.clock, **kwargs)

    async def inbound_jobs(self) -> list[dict[str, Any]]:
        """Take every inbound job (as smtpin's delivery worker would) and return payloads."""
        jobs = await self.data.jobs.claim(INBOUND, "test", self.clock() + 1e9, 60, limit=1000)
        for job in jobs:
            await self.data.jobs.complete(job)
        return [j.payload for j in jobs]

    async def outbound_due(self) -> float | None:
        return await self.data.jobs.next_due(OUTBOUND)

    async def import_raw(self, login: str, raw: bytes) -> dict[str, Any]:
        """An Email from raw octets, through Email/import (into Drafts)."""
        blob_id = await self.services.blobs.put(raw)
        account = self.accounts[login]
        await self.data.add_upload(account, blob_id, len(raw), time.time() + 3600)
        drafts = await self.mailbox(login, "drafts")
        item = {"blobId": blob_id, "mailboxIds": {drafts: True}}
        result = await self.call(login, "Email/import", {"emails": {"e": item}})
        return result["created"]["e"]

    async def add_alias(self, alias: str, target: str) -> None:
        async with self.data.transaction(SERVER_ACCOUNT) as tx:
            await tx.create("Alias", {"id": alias, "target": target})


def run(
    tmp_path: Path,
    body: Callable[[Fulmar], Any],
    users: tuple[str, ...] = ("alice@example.com", "bob@example.com"),
    **settings: Any,
) -> Any:
    """Run ``body(fulmar)`` on a fresh in-process server with these Config settings."""

    async def main() -> Any:
        data = open_data_store(tmp_path / "fulmar.db")
        await data.open()
        blobs = FileBlobStore(tmp_path / "blobs")
        config = Config(data_dir=tmp_path, smtp_hostname="out.example.com", **settings)
        services = Services(config, data, blobs, RecordingBus(), InlineWorkers())  # type: ignore[arg-type]
        try:
            accounts = {u: (await add_account(data, u, PASSWORD)).id for u in users}
            # the clock of the workers starts a minute after the methods' (real) clock
            return await body(Fulmar(services, Clock(time.time() + 60), accounts))
        finally:
            await blobs.close()
            await data.close()

    return asyncio.run(main())
