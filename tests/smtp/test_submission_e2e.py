"""The real server: EmailSubmission/set over HTTP, its outbound worker delivering through
``FULMAR_SMTP_ROUTES`` to an aiosmtpd sink on 127.0.0.1, and each deliveryStatus change
pushed over the WebSocket (RFC 8887)."""

from __future__ import annotations

import asyncio
import base64
import email
import json
from email.policy import default

import httpx
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from tests.conftest import USERS, start_server
from tests.smtp.outkit import SUBMISSION, USING, Sink

ALICE = "alice@example.com"


def test_submit_deliver_and_push(tmp_path):
    with Sink() as sink:
        sink.handler.rcpt_replies["gone@example.net"] = "550 5.1.1 No such user"
        server = start_server(tmp_path, env={"FULMAR_SMTP_ROUTES": f"example.net={sink.address}"})
        try:
            result = asyncio.run(_session(server.port))
        finally:
            server.stop()
        assert "Traceback" not in server.log(), server.log()
    sub, pushes = result
    assert sub["undoStatus"] == "final"
    ok = sub["deliveryStatus"]["rcpt@example.net"]
    assert ok["delivered"] == "yes" and ok["smtpReply"] == "250 2.0.0 Ok: queued as SINK1"
    assert sub["deliveryStatus"]["gone@example.net"]["delivered"] == "no"
    assert len(sub["dsnBlobIds"]) == 1
    assert pushes >= 1
    (got,) = sink.received
    assert got.rcpts == ["rcpt@example.net"]
    message = email.message_from_bytes(got.data, policy=default)
    assert message["Bcc"] is None and message["Subject"] == "From the real server"


async def _session(port: int) -> tuple[dict, int]:
    login = (ALICE, USERS[ALICE])
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", auth=login) as http:
        session = (await http.get("/.well-known/jmap")).json()
        account = session["primaryAccounts"][SUBMISSION]

        async def call(name: str, args: dict) -> dict:
            body = {"using": USING, "methodCalls": [[name, {"accountId": account, **args}, "c"]]}
            ((got, result, _),) = (await http.post("/jmap/api/", json=body)).json()[
                "methodResponses"
            ]
            assert got == name, result
            return result

        auth = base64.b64encode(f"{ALICE}:{USERS[ALICE]}".encode()).decode()
        async with connect(
            f"ws://127.0.0.1:{port}/jmap/ws",
            subprotocols=[Subprotocol("jmap")],
            additional_headers={"Authorization": f"Basic {auth}"},
        ) as ws:
            await ws.send(json.dumps({"@type": "WebSocketPushEnable", "dataTypes": None}))
            echo = {
                "@type": "Request",
                "id": "e",
                "using": USING,
                "methodCalls": [["Core/echo", {}, "e"]],
            }
            await ws.send(json.dumps(echo))
            while json.loads(await ws.recv()).get("requestId") != "e":
                pass
            mailboxes = (await call("Mailbox/get", {"ids": None}))["list"]
            drafts = next(m["id"] for m in mailboxes if m["role"] == "drafts")
            identity = (await call("Identity/get", {"ids": None}))["list"][0]["id"]
            draft = {
                "mailboxIds": {drafts: True},
                "from": [{"email": ALICE}],
                "to": [{"email": "rcpt@example.net"}],
                "bcc": [{"email": "gone@example.net"}],
                "subject": "From the real server",
                "bodyValues": {"1": {"value": "Hello."}},
                "textBody": [{"partId": "1", "type": "text/plain"}],
            }
            email_id = (await call("Email/set", {"create": {"d": draft}}))["created"]["d"]["id"]
            created = await call(
                "EmailSubmission/set",
                {"create": {"s": {"identityId": identity, "emailId": email_id}}},
            )
            sub_id = created["created"]["s"]["id"]
            pushes = 0
            async with asyncio.timeout(60):
                while True:
                    message = json.loads(await ws.recv())
                    changed = message.get("changed", {}).get(account, {})
                    if message.get("@type") != "StateChange" or "EmailSubmission" not in changed:
                        continue
                    pushes += 1
                    (sub,) = (await call("EmailSubmission/get", {"ids": [sub_id]}))["list"]
                    if all(s["delivered"] != "queued" for s in sub["deliveryStatus"].values()):
                        return sub, pushes
