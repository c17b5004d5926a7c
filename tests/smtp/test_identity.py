"""Identity/get, /changes, /set (RFC 8621 §6): the addresses an account may send as."""

from __future__ import annotations

from jmap.config import Config
from jmap.session import build_session
from jmap.store.base import Account, Principal
from tests.smtp.outkit import SUBMISSION, Fulmar, run

ALICE = "alice@example.com"


def test_a_new_account_has_one_identity_for_its_address(tmp_path):
    async def body(f: Fulmar):
        first = await f.call(ALICE, "Identity/get", {"ids": None})
        again = await f.call(ALICE, "Identity/get", {"ids": None})
        return first, again

    first, again = run(tmp_path, body)
    (identity,) = first["list"]
    assert identity["email"] == ALICE and identity["mayDelete"] is True
    assert identity["name"] == "" and identity["textSignature"] == ""
    assert identity["replyTo"] is None and identity["bcc"] is None
    # created at provisioning: reading it writes nothing, the state stays
    assert first["state"] == again["state"]


def test_create_is_forbidden_from_addresses_the_account_does_not_own(tmp_path):
    async def body(f: Fulmar):
        await f.add_alias("sales@example.com", ALICE)
        await f.add_alias("other@example.com", "bob@example.com")
        create = {
            "own": {"email": "ALICE@example.com", "name": "Alice"},
            "alias": {"email": "sales@example.com"},
            "wildcard": {"email": "*@example.com"},
            "bob": {"email": "bob@example.com"},
            "bobs-alias": {"email": "other@example.com"},
            "foreign-wildcard": {"email": "*@example.org"},
            "stranger": {"email": "someone@example.org"},
            "not-an-address": {"email": "alice"},
        }
        return await f.call(ALICE, "Identity/set", {"create": create})

    result = run(tmp_path, body)
    assert set(result["created"]) == {"own", "alias", "wildcard"}
    assert result["created"]["own"]["mayDelete"] is True
    assert {k: v["type"] for k, v in result["notCreated"].items()} == {
        "bob": "forbiddenFrom",
        "bobs-alias": "forbiddenFrom",
        "foreign-wildcard": "forbiddenFrom",
        "stranger": "forbiddenFrom",
        "not-an-address": "forbiddenFrom",
    }


def test_bad_properties_are_named(tmp_path):
    async def body(f: Fulmar):
        create = {
            "no-email": {"name": "x"},
            "bad-types": {"email": ALICE, "replyTo": "x", "bcc": [{"name": "n"}]},
            "server-set": {"email": ALICE, "mayDelete": False, "id": "I9"},
            "unknown": {"email": ALICE, "colour": "blue"},
        }
        return await f.call(ALICE, "Identity/set", {"create": create})

    result = run(tmp_path, body)
    errors = result["notCreated"]
    assert all(e["type"] == "invalidProperties" for e in errors.values())
    assert errors["no-email"]["properties"] == ["email"]
    assert errors["bad-types"]["properties"] == ["bcc", "replyTo"]
    assert errors["server-set"]["properties"] == ["id", "mayDelete"]
    assert errors["unknown"]["properties"] == ["colour"]


def test_update_changes_and_destroy(tmp_path):
    async def body(f: Fulmar):
        start = (await f.call(ALICE, "Identity/get", {"ids": None}))["state"]
        identity = await f.identity(ALICE)
        update = {
            identity: {
                "name": "Alice A.",
                "textSignature": "-- \nAlice",
                "replyTo": [{"name": None, "email": ALICE}],
            }
        }
        updated = await f.call(ALICE, "Identity/set", {"update": update})
        immutable = await f.call(
            ALICE, "Identity/set", {"update": {identity: {"email": "*@example.com"}}}
        )
        created = await f.call(ALICE, "Identity/set", {"create": {"w": {"email": "*@example.com"}}})
        new_id = created["created"]["w"]["id"]
        changes = await f.call(ALICE, "Identity/changes", {"sinceState": start})
        destroyed = await f.call(ALICE, "Identity/set", {"destroy": [new_id, "Inope"]})
        after = await f.call(ALICE, "Identity/changes", {"sinceState": changes["newState"]})
        got = await f.call(ALICE, "Identity/get", {"ids": [identity, new_id]})
        return identity, new_id, updated, immutable, changes, destroyed, after, got

    identity, new_id, updated, immutable, changes, destroyed, after, got = run(tmp_path, body)
    assert identity in updated["updated"]
    assert immutable["notUpdated"][identity]["type"] == "invalidProperties"
    assert immutable["notUpdated"][identity]["properties"] == ["email"]
    assert changes["created"] == [new_id] and changes["updated"] == [identity]
    assert changes["oldState"] != changes["newState"]
    assert destroyed["destroyed"] == [new_id]
    assert destroyed["notDestroyed"]["Inope"]["type"] == "notFound"
    assert after["destroyed"] == [new_id]
    (shown,) = got["list"]
    assert shown["name"] == "Alice A." and shown["textSignature"] == "-- \nAlice"
    assert got["notFound"] == [new_id]


def test_session_advertises_submission_with_max_delayed_send():
    principal = Principal("p1", ALICE, "")
    own = Account("a1", ALICE, "p1")
    shared = Account("a2", "bob@example.com", "p2", is_personal=False, is_read_only=True)
    session = build_session(Config(smtp_max_delayed_send_seconds=3600), principal, [own, shared])
    assert session["capabilities"][SUBMISSION] == {}
    capability = session["accounts"]["a1"]["accountCapabilities"][SUBMISSION]
    assert capability == {
        "maxDelayedSend": 3600,
        "submissionExtensions": {"FUTURERELEASE": ["3600"]},
    }
    # a read-only account cannot send: no submission capability there
    assert SUBMISSION not in session["accounts"]["a2"]["accountCapabilities"]
    assert session["primaryAccounts"][SUBMISSION] == "a1"
    off = build_session(Config(smtp_max_delayed_send_seconds=0), principal, [own])
    assert off["accounts"]["a1"]["accountCapabilities"][SUBMISSION] == {
        "maxDelayedSend": 0,
        "submissionExtensions": {},
    }
