"""PushSubscription (RFC 8620 §7.2) against the running server and a local receiver.

The receiver plays the push service: it records every POST, decrypts RFC 8291 bodies with the
client's keys (made here, as a browser makes them) and checks the VAPID signature.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest
from py_vapid import Vapid02

from tests.push.pushkit import FULMAR, PushKeys, Receiver

CAROL = "carol@example.com"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def subscribe(client, url: str, **extra) -> dict:
    result = client.ok(
        "PushSubscription/set",
        {"create": {"s": {"deviceClientId": "test-device", "url": url, **extra}}},
    )
    assert result["created"], result
    return result["created"]["s"]


def verify(client, receiver: Receiver, path: str, keys: PushKeys | None = None) -> str:
    """Read the PushVerification from the receiver and hand the code back; returns the id."""
    received = receiver.next(path)
    body = keys.decrypt(received.body) if keys else json.loads(received.body)
    assert body["@type"] == "PushVerification"
    result = client.ok(
        "PushSubscription/set",
        {"update": {body["pushSubscriptionId"]: {"verificationCode": body["verificationCode"]}}},
    )
    assert result["updated"] is not None and body["pushSubscriptionId"] in result["updated"]
    return body["pushSubscriptionId"]


def test_encrypted_delivery_after_verification(push_server, receiver):
    node = push_server.node
    client = node.client(CAROL)
    keys = PushKeys()
    created = subscribe(client, receiver.url("/enc"), keys=keys.as_jmap(), types=["Mailbox"])
    sub_id = created["id"]

    # 1. the PushVerification comes first, encrypted like everything else
    received = receiver.next("/enc")
    assert received.headers["Content-Encoding"] == "aes128gcm"
    assert received.headers["TTL"].isdigit()
    verification = keys.decrypt(received.body)
    assert verification["@type"] == "PushVerification"
    assert verification["pushSubscriptionId"] == sub_id
    assert len(verification["verificationCode"]) >= 16

    # VAPID: signed with the key the server publishes
    assert Vapid02.verify(received.headers["Authorization"])
    public = httpx.get(node.url + "/jmap/push/vapid-key").json()["publicKey"]
    assert f"k={public}" in received.headers["Authorization"]

    # 2. nothing else is sent until the code is set: this change is not pushed
    client.create_mailbox("Before verification")

    # 3. a wrong code is refused, the right one accepted
    _, wrong = client.call(
        "PushSubscription/set", {"update": {sub_id: {"verificationCode": "nope"}}}
    )
    assert wrong["notUpdated"][sub_id]["type"] == "invalidProperties"
    result = client.ok(
        "PushSubscription/set",
        {"update": {sub_id: {"verificationCode": verification["verificationCode"]}}},
    )
    assert sub_id in result["updated"]

    # 4. the next change arrives, encrypted, as the first push after the verification
    _, state = client.create_mailbox("After verification")
    pushed = receiver.next("/enc")
    change = keys.decrypt(pushed.body)
    assert change == {"@type": "StateChange", "changed": {client.account_id: {"Mailbox": state}}}
    assert pushed.headers["Content-Type"].startswith("application/json")


def test_get_never_shows_url_or_keys(push_server, receiver):
    client = push_server.node.client(CAROL)
    created = subscribe(client, receiver.url("/get"))
    listed = client.ok("PushSubscription/get", {"ids": None})["list"]
    mine = next(s for s in listed if s["id"] == created["id"])
    assert set(mine) == {"id", "deviceClientId", "verificationCode", "expires", "types"}
    assert mine["verificationCode"] is None
    for prop in ("url", "keys"):
        name, error = client.call("PushSubscription/get", {"properties": ["id", prop]})
        assert name == "error" and error["type"] == "forbidden"
    name, error = client.call("PushSubscription/get", {"accountId": client.account_id})
    assert name == "error" and error["type"] == "invalidArguments"
    # another user sees none of them
    other = push_server.node.client("alice@example.com")
    result = other.ok("PushSubscription/get", {"ids": [created["id"]]})
    assert result == {"list": [], "notFound": [created["id"]]}
    client.ok("PushSubscription/set", {"destroy": [created["id"]]})


def test_create_checks(push_server, receiver):
    client = push_server.node.client(CAROL)
    bad = {
        "ftp": {"deviceClientId": "d", "url": "ftp://127.0.0.1/x"},
        # internal addresses are refused by the classifier (tests/push/test_push_units.py):
        # requests to the server name only 127.0.0.1
        "credentials": {"deviceClientId": "d", "url": "http://user:pw@127.0.0.1:9/push"},
        "nohost": {"deviceClientId": "d", "url": "https:///push"},
        "keys": {"deviceClientId": "d", "url": receiver.url("/k"), "keys": {"p256dh": "AAAA",
                 "auth": "AAAA"}},
        "code": {"deviceClientId": "d", "url": receiver.url("/c"), "verificationCode": "x"},
        "missing": {"url": receiver.url("/m")},
    }  # fmt: skip
    result = client.ok("PushSubscription/set", {"create": bad})
    assert result["created"] is None
    assert set(result["notCreated"]) == set(bad)
    for error in result["notCreated"].values():
        assert error["type"] == "invalidProperties"
    assert result["notCreated"]["credentials"]["properties"] == ["url"]
    assert result["notCreated"]["nohost"]["properties"] == ["url"]
    assert result["notCreated"]["keys"]["properties"] == ["keys"]


def test_create_names_every_invalid_property_at_once(push_server, receiver):
    """RFC 8620 §5.3: invalidProperties lists all the invalid properties, not the first."""
    client = push_server.node.client(CAROL)
    obj = {"id": "x", "verificationCode": "x", "types": 7, "url": "ftp://127.0.0.1/x"}
    result = client.ok("PushSubscription/set", {"create": {"all": obj}})
    error = result["notCreated"]["all"]
    assert error["type"] == "invalidProperties"
    assert error["properties"] == ["deviceClientId", "id", "types", "url", "verificationCode"]


def test_expires_is_clamped_and_expired_subscriptions_get_nothing(push_server, receiver):
    client = push_server.node.client(CAROL)
    created = subscribe(client, receiver.url("/exp"), expires="2999-01-01T00:00:00Z")
    expires = datetime.fromisoformat(created["expires"].replace("Z", "+00:00"))
    # the test server allows 2 days
    assert expires.timestamp() <= time.time() + 2 * 86400 + 60
    sub_id = verify(client, receiver, "/exp")
    barrier_id = None
    try:
        client.ok("PushSubscription/set", {"update": {sub_id: {"expires": "2001-01-01T00:00:00Z"}}})
        subscribe(client, receiver.url("/barrier"))
        barrier_id = verify(client, receiver, "/barrier")
        _, state = client.create_mailbox("Only for the barrier")
        change = json.loads(receiver.next("/barrier").body)
        assert change["changed"][client.account_id]["Mailbox"] == state
        with pytest.raises(AssertionError, match="no push"):
            receiver.next("/exp", timeout=1.0)
    finally:
        client.ok("PushSubscription/set", {"destroy": [i for i in (sub_id, barrier_id) if i]})


def test_retries_then_gone(push_server, receiver):
    client = push_server.node.client(CAROL)
    subscribe(client, receiver.url("/flaky"), types=["Mailbox"])
    sub_id = verify(client, receiver, "/flaky")
    # a failure is retried (with backoff) and the retry carries the change
    receiver.answers["/flaky"] = [503]
    _, state = client.create_mailbox("Retried")
    first = json.loads(receiver.next("/flaky").body)
    second = json.loads(receiver.next("/flaky").body)
    assert first == second
    assert second["changed"][client.account_id]["Mailbox"] == state
    # 410 Gone destroys the subscription
    receiver.answers["/flaky"] = [410]
    client.create_mailbox("Gone")
    receiver.next("/flaky")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        result = client.ok("PushSubscription/get", {"ids": [sub_id]})
        if result["notFound"] == [sub_id]:
            break
        time.sleep(0.1)
    assert result["notFound"] == [sub_id]


def test_limits_on_subscriptions(push_server, receiver):
    """At most push_max_subscriptions (20 by default) per user."""
    client = push_server.node.client("dave@example.com")
    create = {f"s{i}": {"deviceClientId": "d", "url": receiver.url(f"/many{i}")} for i in range(21)}
    result = client.ok("PushSubscription/set", {"create": create})
    assert len(result["created"]) == 20
    (refused,) = result["notCreated"].values()
    assert refused["type"] == "overQuota"
    ids = [c["id"] for c in result["created"].values()]
    client.ok("PushSubscription/set", {"destroy": ids})
    assert client.ok("PushSubscription/get", {})["list"] == []


def test_subscriptions_belong_to_the_credentials_that_made_them(push_server, receiver):
    """RFC 8620 §7.2: /get shows only the caller's credentials' subscriptions, and revoking
    those credentials destroys them."""
    node = push_server.node

    def fulmar(*args: str) -> str:
        return subprocess.run(
            [FULMAR, *args, "--data-dir", str(node.data_dir)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    def bearer_call(token: str, name: str, args: dict) -> dict:
        response = httpx.post(
            node.url + "/jmap/api/",
            json={"using": ["urn:ietf:params:jmap:core"], "methodCalls": [[name, args, "0"]]},
            headers={"Authorization": f"Bearer {token}"},
        )
        ((response_name, result, _),) = response.json()["methodResponses"]
        assert response_name == name, result
        return result

    token, other_token = fulmar("token", "create", CAROL), fulmar("token", "create", CAROL)
    created = bearer_call(
        token,
        "PushSubscription/set",
        {"create": {"s": {"deviceClientId": "phone", "url": receiver.url("/cred")}}},
    )["created"]["s"]
    code = json.loads(receiver.next("/cred").body)["verificationCode"]
    bearer_call(
        token, "PushSubscription/set", {"update": {created["id"]: {"verificationCode": code}}}
    )
    mine = bearer_call(token, "PushSubscription/get", {"ids": None})["list"]
    assert [s["id"] for s in mine] == [created["id"]]
    # the same user with other credentials sees nothing, and cannot touch it
    for listing in (
        bearer_call(other_token, "PushSubscription/get", {"ids": [created["id"]]}),
        node.client(CAROL).ok("PushSubscription/get", {"ids": [created["id"]]}),
    ):
        assert listing == {"list": [], "notFound": [created["id"]]}
    refused = node.client(CAROL).ok("PushSubscription/set", {"destroy": [created["id"]]})
    assert refused["notDestroyed"][created["id"]]["type"] == "notFound"

    carol = node.client(CAROL)
    carol.create_mailbox("Pushed while the token is good")
    assert json.loads(receiver.next("/cred").body)["@type"] == "StateChange"

    fulmar("token", "revoke", token)
    carol.create_mailbox("After the token was revoked")
    with pytest.raises(AssertionError, match="no push"):
        receiver.next("/cred", timeout=2)
    database = sqlite3.connect(node.data_dir / "fulmar.db")
    try:
        left = database.execute(
            "SELECT COUNT(*) FROM objects WHERE type = 'PushSubscription' AND id = ?",
            (created["id"],),
        ).fetchone()[0]
    finally:
        database.close()
    assert left == 0
