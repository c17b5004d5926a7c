"""VacationResponse (RFC 8621 §8) over HTTP: the per-account singleton, get and set."""

from __future__ import annotations

import pytest

from tests.conftest import USING, start_server

VACATION = "urn:ietf:params:jmap:vacationresponse"
WITH_VACATION = [*USING, VACATION]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """One server for the module: the tests run in order, the first sees pristine accounts,
    and every test leaves the singleton disabled."""
    server = start_server(tmp_path_factory.mktemp("vacation"))
    yield server.client("alice@example.com"), server.client("bob@example.com")
    server.stop()
    assert "Traceback" not in server.log()


def call(client, name, args):
    response_name, result = client.call(
        name, {"accountId": client.account_id, **args}, using=WITH_VACATION
    )
    return response_name, result


def ok(client, name, args):
    response_name, result = call(client, name, args)
    assert response_name == name, result
    return result


def test_session_advertises_the_capability(fresh):
    alice, _ = fresh
    session = alice.session
    assert session["capabilities"][VACATION] == {}
    account = session["accounts"][alice.account_id]
    assert account["accountCapabilities"][VACATION] == {}
    assert session["primaryAccounts"][VACATION] == alice.account_id


def test_every_account_has_the_disabled_singleton(fresh):
    alice, _ = fresh
    result = ok(alice, "VacationResponse/get", {"ids": None})
    assert result["list"] == [
        {
            "id": "singleton",
            "isEnabled": False,
            "fromDate": None,
            "toDate": None,
            "subject": None,
            "textBody": None,
            "htmlBody": None,
        }
    ]
    assert result["notFound"] == []
    by_id = ok(alice, "VacationResponse/get", {"ids": ["singleton", "other"], "properties": []})
    assert by_id["list"] == [{"id": "singleton"}] and by_id["notFound"] == ["other"]
    assert ok(alice, "VacationResponse/get", {"ids": []})["list"] == []


def test_update_is_kept_and_changes_the_state(fresh):
    alice, bob = fresh
    before = ok(alice, "VacationResponse/get", {"ids": None})["state"]
    patch = {
        "isEnabled": True,
        "fromDate": "2026-12-20T00:00:00Z",
        "toDate": "2027-01-05T00:00:00Z",
        "subject": "Away",
        "textBody": "Back in January.",
    }
    result = ok(
        alice, "VacationResponse/set", {"ifInState": before, "update": {"singleton": patch}}
    )
    assert result["updated"] == {"singleton": None}
    assert result["oldState"] == before and result["newState"] != before
    (got,) = ok(alice, "VacationResponse/get", {"ids": ["singleton"]})["list"]
    assert {k: got[k] for k in patch} == patch and got["htmlBody"] is None
    # a second update patches the stored object; another account is untouched
    ok(alice, "VacationResponse/set", {"update": {"singleton": {"isEnabled": False}}})
    (again,) = ok(alice, "VacationResponse/get", {"ids": None})["list"]
    assert again["isEnabled"] is False and again["subject"] == "Away"
    (bobs,) = ok(bob, "VacationResponse/get", {"ids": None})["list"]
    assert bobs["isEnabled"] is False and bobs["subject"] is None
    stale = call(alice, "VacationResponse/set", {"ifInState": before, "update": {}})
    assert stale[0] == "error" and stale[1]["type"] == "stateMismatch"


def test_create_and_destroy_are_refused_with_singleton(fresh):
    alice, _ = fresh
    result = ok(
        alice,
        "VacationResponse/set",
        {"create": {"c1": {"isEnabled": True}}, "destroy": ["singleton"]},
    )
    assert result["notCreated"]["c1"]["type"] == "singleton"
    assert result["notDestroyed"]["singleton"]["type"] == "singleton"
    assert result["created"] is None or result["created"] == {}
    assert ok(alice, "VacationResponse/get", {"ids": None})["list"][0]["isEnabled"] is False


@pytest.mark.parametrize(
    ("patch", "bad"),
    [
        ({"isEnabled": "yes"}, ["isEnabled"]),
        ({"fromDate": "2030-02-30T00:00:00Z"}, ["fromDate"]),
        ({"toDate": "2030-01-01T00:00:00+01:00"}, ["toDate"]),
        ({"subject": 3, "textBody": []}, ["subject", "textBody"]),
        ({"id": "other"}, ["id"]),
        ({"autoReplyTo": "x@example.com"}, ["autoReplyTo"]),
        ({"fromDate": "2027-01-02T00:00:00Z", "toDate": "2027-01-01T00:00:00Z"}, None),
    ],
)
def test_bad_values_are_invalid_properties(fresh, patch, bad):
    alice, _ = fresh
    result = ok(alice, "VacationResponse/set", {"update": {"singleton": patch}})
    error = result["notUpdated"]["singleton"]
    assert error["type"] == "invalidProperties", error
    if bad is not None:
        assert sorted(error["properties"]) == bad
    assert ok(alice, "VacationResponse/get", {"ids": None})["list"][0]["isEnabled"] is False


def test_other_ids_are_not_found_and_the_capability_is_required(fresh):
    alice, _ = fresh
    result = ok(alice, "VacationResponse/set", {"update": {"other": {"isEnabled": True}}})
    assert result["notUpdated"]["other"]["type"] == "notFound"
    name, error = alice.call("VacationResponse/get", {"accountId": alice.account_id})
    assert name == "error" and error["type"] == "unknownMethod"
