"""Request and method-call processing (RFC 8620 §3): accountId errors, ``using``."""

from __future__ import annotations

import pytest

from tests.conftest import CORE, MAIL

ACCOUNT_METHODS = [
    ("Mailbox/get", {}),
    ("Mailbox/changes", {"sinceState": "s0"}),
    ("Mailbox/query", {}),
    ("Mailbox/set", {}),
    ("Email/get", {"ids": []}),
    ("Email/query", {}),
    ("Email/import", {"emails": {}}),
    ("Email/parse", {"blobIds": []}),
    ("Thread/get", {"ids": []}),
    ("SearchSnippet/get", {"emailIds": []}),
    ("Blob/copy", {"fromAccountId": "__ACCOUNT__", "blobIds": []}),
]


def _args(alice, extra: dict, **account) -> dict:
    fixed = {k: alice.account_id if v == "__ACCOUNT__" else v for k, v in extra.items()}
    return {**fixed, **account}


@pytest.mark.parametrize(("name", "extra"), ACCOUNT_METHODS)
@pytest.mark.parametrize("account_id", ["missing", None, 5, ["x"], {"id": "x"}, True])
def test_missing_or_non_string_account_id_is_invalid_arguments(alice, name, extra, account_id):
    """RFC 8620 §3.6.2: invalidArguments, not accountNotFound (issue 7.2)."""
    args = (
        _args(alice, extra)
        if account_id == "missing"
        else _args(alice, extra, accountId=account_id)
    )
    response_name, result = alice.call(name, args, using=[CORE, MAIL])
    assert response_name == "error" and result["type"] == "invalidArguments", result


@pytest.mark.parametrize(("name", "extra"), ACCOUNT_METHODS)
def test_unknown_account_id_is_account_not_found(alice, name, extra):
    """RFC 8620 §3.6.2: accountNotFound is for an id that names no account."""
    response_name, result = alice.call(name, _args(alice, extra, accountId="nobody"))
    assert response_name == "error" and result["type"] == "accountNotFound", result


def test_empty_using_is_processed(alice):
    """RFC 8620 §3.3: nothing listed is unsupported, so the request is processed; each call
    whose capability is not in ``using`` is unknownMethod (§3.6.2) (issue 7.3)."""
    calls = [["Core/echo", {"a": 1}, "0"], ["Mailbox/get", {"accountId": alice.account_id}, "1"]]
    response = alice.http.post("/jmap/api/", json={"using": [], "methodCalls": calls})
    assert response.status_code == 200, response.text
    responses = response.json()["methodResponses"]
    assert [(name, args["type"], call_id) for name, args, call_id in responses] == [
        ("error", "unknownMethod", "0"),
        ("error", "unknownMethod", "1"),
    ]


def test_mail_without_core_runs_mail_methods_only(alice):
    response = alice.request(
        [["Mailbox/get", {"accountId": alice.account_id, "ids": []}, "0"], ["Core/echo", {}, "1"]],
        using=[MAIL],
    )
    assert response.status_code == 200, response.text
    (first, second) = response.json()["methodResponses"]
    assert first[0] == "Mailbox/get" and first[1]["list"] == []
    assert second[0] == "error" and second[1]["type"] == "unknownMethod"


def test_empty_using_and_no_calls(alice):
    response = alice.http.post("/jmap/api/", json={"using": [], "methodCalls": []})
    assert response.status_code == 200, response.text
    assert response.json()["methodResponses"] == []
