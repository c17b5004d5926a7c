"""Accepted means durable: a restart of the server loses nothing."""

from __future__ import annotations

from tests.conftest import start_server


def test_restart_loses_nothing(tmp_path):
    server = start_server(tmp_path / "d")
    try:
        alice = server.client("alice@example.com")
        created = alice.ok(
            "Mailbox/set", {"create": {"a": {"name": "Durable"}, "b": {"name": "Gone"}}}
        )["created"]
        alice.ok(
            "Mailbox/set",
            {"update": {created["a"]["id"]: {"sortOrder": 9}}, "destroy": [created["b"]["id"]]},
        )
        blob = alice.http.post(f"/jmap/upload/{alice.account_id}/", content=b"kept bytes")
        blob_id = blob.json()["blobId"]
        before = alice.ok("Mailbox/get", {"ids": None})
        session = alice.session
        token_state = before["state"]
    finally:
        server.stop()

    server.start()
    try:
        alice = server.client("alice@example.com")
        after = alice.ok("Mailbox/get", {"ids": None})
        assert after == before
        assert alice.session == session
        assert (
            alice.http.get(f"/jmap/download/{alice.account_id}/{blob_id}/k").content
            == b"kept bytes"
        )
        # the change log survived too, and new states keep counting up
        changes = alice.ok("Mailbox/changes", {"sinceState": "s0"})
        assert created["a"]["id"] in changes["created"]
        assert created["b"]["id"] not in changes["created"] + changes["destroyed"]
        later = alice.ok("Mailbox/set", {"create": {"c": {"name": "After restart"}}})
        assert later["oldState"] == token_state and later["newState"] != token_state
        new_id = later["created"]["c"]["id"]
        assert new_id not in {m["id"] for m in before["list"]}  # ids are never reused
    finally:
        server.stop()
