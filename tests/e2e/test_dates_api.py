"""UTCDates from clients over the wire (RFC 8620 §1.4; issues 7.1 and 8.10): Email receivedAt
on import and create, the Email/query before/after filters, PushSubscription expires."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.conftest import Client, FulmarServer, start_server
from tests.mail.conftest import mailboxes, message, upload
from tests.push.pushkit import Receiver

JS_DATE = "2026-11-21T19:04:15.960Z"  # new Date(…).toISOString()
NOT_A_DAY = "2030-02-30T00:00:00Z"  # matches the old pattern, names no day


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FulmarServer]:
    data_dir = tmp_path_factory.mktemp("dates")
    config = data_dir / "fulmar.toml"
    config.write_text("push_allow_local_http = true\npush_retry_attempts = 0\n")
    server = start_server(data_dir, extra_args=["--config", str(config)])
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def inbox(alice: Client) -> str:
    return mailboxes(alice)["inbox"]


def _import(client: Client, inbox: str, received: str, subject: str = "x") -> dict:
    blob = upload(client, message(subject=subject))
    item = {"blobId": blob, "mailboxIds": {inbox: True}, "receivedAt": received}
    return client.ok("Email/import", {"emails": {"k": item}})


def _push_set(client: Client, args: dict) -> dict:
    """PushSubscription/set takes no accountId (RFC 8620 §7.2)."""
    name, result = client.call("PushSubscription/set", args)
    assert name == "PushSubscription/set", result
    return result


def _received_at(client: Client, email_id: str) -> str:
    (email,) = client.ok("Email/get", {"ids": [email_id], "properties": ["receivedAt"]})["list"]
    return email["receivedAt"]


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (JS_DATE, "2026-11-21T19:04:15.96Z"),
        ("2026-11-21T19:04:15.000Z", "2026-11-21T19:04:15Z"),
        ("2026-11-21T19:04:15.5Z", "2026-11-21T19:04:15.5Z"),
        ("2016-12-31T23:59:60Z", "2016-12-31T23:59:60Z"),
    ],
)
def test_import_takes_any_utc_date(alice, inbox, given, stored):
    """RFC 8621 §4.8 receivedAt is a UTCDate; shown normalised (§1.4: no zero fraction)."""
    result = _import(alice, inbox, given)
    assert result["notCreated"] is None, result["notCreated"]
    assert _received_at(alice, result["created"]["k"]["id"]) == stored


@pytest.mark.parametrize(
    "given", [NOT_A_DAY, "2026-11-21T99:99:99Z", "2026-11-21T19:04:15+01:00", "2026-11-21"]
)
def test_import_refuses_what_is_no_utc_date(alice, inbox, given):
    """RFC 8620 §5.3: invalidProperties for that Email alone."""
    result = _import(alice, inbox, given)
    assert result["created"] is None
    assert result["notCreated"]["k"]["type"] == "invalidProperties"
    assert result["notCreated"]["k"]["properties"] == ["receivedAt"]


def test_create_takes_javascript_dates_and_refuses_non_days(alice, inbox):
    """Email/set create (RFC 8621 §4.6): each create stands alone."""

    def draft(received: str) -> dict:
        return {
            "mailboxIds": {inbox: True},
            "receivedAt": received,
            "subject": "draft",
            "bodyValues": {"b": {"value": "hi"}},
            "textBody": [{"partId": "b", "type": "text/plain"}],
        }

    create = {"ok": draft("2026-11-21T19:04:15.000Z"), "bad": draft(NOT_A_DAY)}
    result = alice.ok("Email/set", {"create": create})
    assert result["notCreated"]["bad"]["type"] == "invalidProperties"
    assert result["notCreated"]["bad"]["properties"] == ["receivedAt"]
    assert _received_at(alice, result["created"]["ok"]["id"]) == "2026-11-21T19:04:15Z"


def test_before_and_after_take_fractions(alice, inbox):
    """RFC 8621 §4.4.1: before is receivedAt < value, after is receivedAt >= value."""
    email_id = _import(alice, inbox, "2031-05-05T10:00:15Z", "when")["created"]["k"]["id"]

    def query(condition: dict) -> list[str]:
        return alice.ok("Email/query", {"filter": condition})["ids"]

    assert email_id in query({"before": "2031-05-05T10:00:15.960Z"})
    assert email_id not in query({"before": "2031-05-05T10:00:15.000Z"})
    assert email_id in query({"after": "2031-05-05T10:00:15.000Z"})
    assert email_id not in query({"after": "2031-05-05T10:00:15.960Z"})


@pytest.mark.parametrize("bad", [NOT_A_DAY, "2031-05-05T99:99:99Z", "2031-05-05t10:00:00z"])
def test_before_and_after_refuse_non_dates(alice, bad):
    """RFC 8620 §5.5: a filter that is not valid is invalidArguments."""
    for condition in ({"before": bad}, {"after": bad}):
        error = alice.fail("Email/query", {"accountId": alice.account_id, "filter": condition})
        assert error["type"] == "invalidArguments", error


def test_push_expires_takes_javascript_dates(alice, receiver):
    """RFC 8620 §7.2: expires is a UTCDate; the server may shorten it, and says so."""
    soon = datetime.now(UTC).replace(microsecond=0).timestamp() + 3600
    given = datetime.fromtimestamp(soon, UTC).strftime("%Y-%m-%dT%H:%M:%S") + ".000Z"
    create = {"deviceClientId": "d", "url": receiver.url("/js"), "expires": given}
    result = _push_set(alice, {"create": {"s": create}})
    assert result["notCreated"] is None, result["notCreated"]
    assert result["created"]["s"]["expires"] == given.replace(".000Z", "Z")


def test_push_expires_that_is_no_day_refuses_that_create_alone(alice, receiver):
    """Issue 8.10: invalidProperties for the bad record (RFC 8620 §5.3), not serverFail."""
    create = {
        "bad": {"deviceClientId": "d", "url": receiver.url("/bad"), "expires": NOT_A_DAY},
        "good": {"deviceClientId": "d", "url": receiver.url("/good")},
    }
    result = _push_set(alice, {"create": create})
    assert result["notCreated"]["bad"]["type"] == "invalidProperties"
    assert result["notCreated"]["bad"]["properties"] == ["expires"]
    assert "good" in result["created"]
    update = {result["created"]["good"]["id"]: {"expires": "2030-02-29T00:00:00Z"}}
    updated = _push_set(alice, {"update": update})
    assert updated["notUpdated"][next(iter(update))]["type"] == "invalidProperties"
