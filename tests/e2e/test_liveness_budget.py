"""The time budget of the worker pool (issue 8.2): work on one message that runs past
``cpu_budget_seconds`` is stopped, and the method answers for that message alone.

The budget here is a millisecond against seconds of parsing a 40 MB message and tens of
milliseconds of decoding its body (whose 40 MB value the response limit is raised to allow).
"""

from __future__ import annotations

import pytest

from tests.conftest import start_server
from tests.e2e.test_liveness import huge_message, inbox, upload
from tests.mail.conftest import message

BUDGET = "cpu_budget_seconds = 0.001\n[limits]\nmax_size_response = 200000000\n"


@pytest.fixture
def budget_server(tmp_path):
    config = tmp_path / "fulmar.toml"
    config.write_text("")
    server = start_server(tmp_path / "d", extra_args=["--config", str(config)])
    yield server, config
    server.stop()
    assert "Traceback" not in server.log(), server.log()


def test_a_message_past_the_budget_is_unparsable(budget_server):
    """RFC 8621 §4.8: Email/import answers ``invalidEmail`` for it; §4.9: Email/parse lists
    it in ``notParsable``; other messages of the same call are imported."""
    server, config = budget_server
    server.stop()
    config.write_text(BUDGET)
    server.start()
    alice = server.client("alice@example.com")
    alice.http.timeout = 120
    huge, small = upload(alice, huge_message()), upload(alice, message("Small"))
    box = inbox(alice)
    result = alice.ok(
        "Email/import",
        {
            "emails": {
                "huge": {"blobId": huge, "mailboxIds": {box: True}},
                "small": {"blobId": small, "mailboxIds": {box: True}},
            }
        },
    )
    assert result["notCreated"]["huge"]["type"] == "invalidEmail"
    assert set(result["created"]) == {"small"}
    parsed = alice.ok("Email/parse", {"blobIds": [huge, small], "properties": ["subject"]})
    assert parsed["notParsable"] == [huge]
    assert parsed["parsed"] == {small: {"subject": "Small"}}
    assert alice.http.get("/healthz").status_code == 200


def test_body_values_past_the_budget_are_flagged(budget_server):
    """RFC 8621 §4.1.4: an Email/get whose body value cannot be decoded in the budget shows
    it empty, with ``isTruncated`` and ``isEncodingProblem``; the rest of the /get stands."""
    server, config = budget_server
    alice = server.client("alice@example.com")
    alice.http.timeout = 120
    box = inbox(alice)
    emails = {
        "huge": {"blobId": upload(alice, huge_message()), "mailboxIds": {box: True}},
        "small": {"blobId": upload(alice, message("Small", "Short.")), "mailboxIds": {box: True}},
    }
    created = alice.ok("Email/import", {"emails": emails})["created"]
    server.stop()
    config.write_text(BUDGET)
    server.start()
    alice = server.client("alice@example.com")
    alice.http.timeout = 120
    ids = [created["huge"]["id"], created["small"]["id"]]
    got = alice.ok(
        "Email/get",
        {"ids": ids, "properties": ["subject", "bodyValues"], "fetchTextBodyValues": True},
    )
    huge_values, small_values = (e["bodyValues"] for e in got["list"])
    assert list(huge_values.values()) == [
        {"value": "", "isEncodingProblem": True, "isTruncated": True}
    ]
    assert [v["value"].strip() for v in small_values.values()] == ["Short."]
