"""API requests (RFC 8620 §3): request-level errors, references, createdIds, method errors."""

from __future__ import annotations

import json

import pytest

from tests.conftest import CORE, USING, start_server

PROBLEM = "application/problem+json"


def problem_of(response, status: int, kind: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == f"urn:ietf:params:jmap:error:{kind}"
    assert body["status"] == status
    return body


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"not json", b'{"using": [}', b"\xff\xfe", b'{"a": NaN}'],
)
def test_not_json(alice, body):
    response = alice.http.post(
        "/jmap/api/", content=body, headers={"Content-Type": "application/json"}
    )
    problem_of(response, 400, "notJSON")


def test_wrong_content_type_is_not_json(alice):
    body = json.dumps({"using": [CORE], "methodCalls": []})
    response = alice.http.post("/jmap/api/", content=body, headers={"Content-Type": "text/plain"})
    problem_of(response, 400, "notJSON")


@pytest.mark.parametrize(
    "request_obj",
    [
        [],
        "string",
        {"methodCalls": []},
        {"using": [CORE]},
        {"using": CORE, "methodCalls": []},
        {"using": [CORE, 5], "methodCalls": []},
        {"using": [CORE], "methodCalls": {}},
        {"using": [CORE], "methodCalls": [["Core/echo", {}]]},
        {"using": [CORE], "methodCalls": [["Core/echo", [], "0"]]},
        {"using": [CORE], "methodCalls": [[1, {}, "0"]]},
        {"using": [CORE], "methodCalls": [["Core/echo", {}, 0]]},
        {"using": [CORE], "methodCalls": ["Core/echo"]},
        {"using": [CORE], "methodCalls": [], "createdIds": []},
        {"using": [CORE], "methodCalls": [], "createdIds": {"a": 1}},
    ],
)
def test_not_request(alice, request_obj):
    response = alice.http.post("/jmap/api/", json=request_obj)
    problem_of(response, 400, "notRequest")


def test_unknown_properties_on_the_request_are_ignored(alice):
    response = alice.http.post(
        "/jmap/api/",
        json={"using": [CORE], "methodCalls": [["Core/echo", {"a": 1}, "0"]], "extra": True},
    )
    assert response.json()["methodResponses"] == [["Core/echo", {"a": 1}, "0"]]


def test_unknown_capability(alice):
    response = alice.request([["Core/echo", {}, "0"]], using=[CORE, "urn:example:nope"])
    body = problem_of(response, 400, "unknownCapability")
    assert "urn:example:nope" in body["detail"]


def test_too_many_calls_is_a_limit_error(alice):
    limit = alice.session["capabilities"][CORE]["maxCallsInRequest"]
    response = alice.request([["Core/echo", {}, str(i)] for i in range(limit + 1)])
    body = problem_of(response, 400, "limit")
    assert body["limit"] == "maxCallsInRequest"
    ok = alice.request([["Core/echo", {}, str(i)] for i in range(limit)])
    assert len(ok.json()["methodResponses"]) == limit


def test_oversize_request_is_a_limit_error(tmp_path):
    config = tmp_path / "f.toml"
    config.write_text("[limits]\nmax_size_request = 1000\nmax_calls_in_request = 2\n")
    server = start_server(tmp_path / "d", extra_args=["--config", str(config)])
    try:
        alice = server.client("alice@example.com")
        assert alice.session["capabilities"][CORE]["maxSizeRequest"] == 1000
        big = alice.request([["Core/echo", {"pad": "x" * 2000}, "0"]])
        assert problem_of(big, 413, "limit")["limit"] == "maxSizeRequest"
        # also when the client does not say how long the body is (chunked)
        body = json.dumps({"using": [CORE], "methodCalls": [["Core/echo", {"p": "x" * 5000}, "0"]]})
        chunked = alice.http.post(
            "/jmap/api/",
            content=iter([body[:10].encode(), body[10:].encode()]),
            headers={"Content-Type": "application/json"},
        )
        assert problem_of(chunked, 413, "limit")["limit"] == "maxSizeRequest"
        calls = alice.request([["Core/echo", {}, str(i)] for i in range(3)])
        assert problem_of(calls, 400, "limit")["limit"] == "maxCallsInRequest"
    finally:
        server.stop()


def test_unknown_method_and_missing_capability(alice):
    response = alice.request(
        [["Nope/get", {}, "a"], ["Mailbox/get", {"accountId": alice.account_id}, "b"]],
        using=[CORE],
    ).json()
    assert response["methodResponses"][0] == [
        "error",
        {"type": "unknownMethod", "description": "Unknown method Nope/get."},
        "a",
    ]
    # Mailbox/get needs the mail capability in "using"
    assert response["methodResponses"][1][1]["type"] == "unknownMethod"


def test_core_echo_and_calls_in_order_with_their_ids(alice):
    response = alice.request(
        [["Core/echo", {"n": 1}, "first"], ["Core/echo", {"n": [2, {"x": None}]}, "second"]]
    ).json()
    assert response["methodResponses"] == [
        ["Core/echo", {"n": 1}, "first"],
        ["Core/echo", {"n": [2, {"x": None}]}, "second"],
    ]
    assert response["sessionState"] == alice.session["state"]
    assert "createdIds" not in response


def test_method_errors_do_not_stop_later_calls(alice):
    response = alice.request(
        [
            ["Mailbox/get", {"accountId": "nope"}, "0"],
            ["Mailbox/get", {"accountId": alice.account_id, "ids": []}, "1"],
        ]
    ).json()["methodResponses"]
    assert response[0] == ["error", {"type": "accountNotFound"}, "0"]
    assert response[1][0] == "Mailbox/get"


@pytest.mark.parametrize(
    "args",
    [
        {"ids": "m0"},
        {"ids": [1]},
        {"ids": ["bad id!"]},
        {"properties": ["name", "nope"]},
        {"properties": "name"},
        {"unknownArgument": 1},
    ],
)
def test_invalid_arguments(alice, args):
    result = alice.fail("Mailbox/get", {"accountId": alice.account_id, **args})
    assert result["type"] == "invalidArguments"


def test_missing_account_id_is_invalid_or_not_found(alice):
    result = alice.fail("Mailbox/get", {})
    assert result["type"] == "invalidArguments"  # RFC 8620 §3.6.2


def test_another_users_account_is_not_found(alice, bob):
    result = alice.fail("Mailbox/get", {"accountId": bob.account_id})
    assert result["type"] == "accountNotFound"
    result = alice.fail(
        "Mailbox/set", {"accountId": bob.account_id, "create": {"x": {"name": "Mine"}}}
    )
    assert result["type"] == "accountNotFound"
    names = {m["name"] for m in bob.ok("Mailbox/get", {"ids": None})["list"]}
    assert "Mine" not in names


def test_result_references_including_star_paths(alice):
    account = alice.account_id
    response = alice.request(
        [
            ["Mailbox/query", {"accountId": account, "filter": {"hasAnyRole": True}}, "q"],
            [
                "Mailbox/get",
                {
                    "accountId": account,
                    "#ids": {"resultOf": "q", "name": "Mailbox/query", "path": "/ids"},
                    "properties": ["role", "parentId"],
                },
                "g",
            ],
            [
                "Core/echo",
                {
                    "#roles": {"resultOf": "g", "name": "Mailbox/get", "path": "/list/*/role"},
                    "#first": {"resultOf": "q", "name": "Mailbox/query", "path": "/ids/0"},
                },
                "e",
            ],
        ]
    ).json()["methodResponses"]
    ids = response[0][1]["ids"]
    assert len(ids) == 6
    assert [m["id"] for m in response[1][1]["list"]] == ids
    echo = response[2][1]
    assert sorted(echo["roles"]) == ["archive", "drafts", "inbox", "junk", "sent", "trash"]
    assert echo["first"] == ids[0]


def test_star_paths_flatten_nested_arrays(alice):
    response = alice.request(
        [
            ["Core/echo", {"list": [{"ids": ["a", "b"]}, {"ids": ["c"]}, {"ids": []}]}, "e"],
            [
                "Core/echo",
                {"#all": {"resultOf": "e", "name": "Core/echo", "path": "/list/*/ids"}},
                "f",
            ],
        ]
    ).json()["methodResponses"]
    assert response[1] == ["Core/echo", {"all": ["a", "b", "c"]}, "f"]


@pytest.mark.parametrize(
    "reference",
    [
        {"resultOf": "missing", "name": "Core/echo", "path": "/a"},
        {"resultOf": "e", "name": "Mailbox/get", "path": "/a"},
        {"resultOf": "e", "name": "Core/echo", "path": "/nope"},
        {"resultOf": "e", "name": "Core/echo", "path": "/a/5"},
        {"resultOf": "e", "name": "Core/echo", "path": "a"},
        {"resultOf": "e", "name": "Core/echo"},
        "not an object",
    ],
)
def test_bad_result_references(alice, reference):
    response = alice.request(
        [["Core/echo", {"a": [1]}, "e"], ["Core/echo", {"#x": reference}, "f"]]
    ).json()["methodResponses"]
    assert response[1][0] == "error"
    assert response[1][1]["type"] == "invalidResultReference"
    assert response[1][2] == "f"


def test_reference_and_plain_argument_together_are_invalid(alice):
    response = alice.request(
        [
            ["Core/echo", {"a": 1}, "e"],
            [
                "Core/echo",
                {"x": 1, "#x": {"resultOf": "e", "name": "Core/echo", "path": "/a"}},
                "f",
            ],
        ]
    ).json()["methodResponses"]
    assert response[1][1]["type"] == "invalidArguments"


def test_reference_to_an_error_response_fails(alice):
    response = alice.request(
        [
            ["Mailbox/get", {"accountId": "nope"}, "g"],
            ["Core/echo", {"#x": {"resultOf": "g", "name": "Mailbox/get", "path": "/list"}}, "f"],
        ]
    ).json()["methodResponses"]
    assert response[1][1]["type"] == "invalidResultReference"


def test_created_ids_are_passed_through_and_extended(alice):
    account = alice.account_id
    response = alice.request(
        [
            [
                "Mailbox/set",
                {"accountId": account, "create": {"new": {"name": "Created ids"}}},
                "s",
            ],
            ["Mailbox/get", {"accountId": account, "ids": ["#new", "#old"]}, "g"],
        ],
        createdIds={"old": "m0"},
    ).json()
    new_id = response["methodResponses"][0][1]["created"]["new"]["id"]
    assert response["createdIds"] == {"old": "m0", "new": new_id}
    got = response["methodResponses"][1][1]["list"]
    assert {m["id"] for m in got} == {new_id, "m0"}


def test_creation_ids_are_shared_across_calls_of_one_request(alice):
    account = alice.account_id
    response = alice.request(
        [
            [
                "Mailbox/set",
                {"accountId": account, "create": {"p": {"name": "Parent by ref"}}},
                "a",
            ],
            [
                "Mailbox/set",
                {"accountId": account, "create": {"c": {"name": "Child by ref", "parentId": "#p"}}},
                "b",
            ],
            ["Mailbox/set", {"accountId": account, "update": {"#c": {"sortOrder": 5}}}, "c"],
        ]
    ).json()["methodResponses"]
    parent = response[0][1]["created"]["p"]["id"]
    child = response[1][1]["created"]["c"]["id"]
    assert response[2][1]["updated"] == {"#c": None} or response[2][1]["updated"] == {child: None}
    (got,) = alice.ok("Mailbox/get", {"ids": [child]})["list"]
    assert got["parentId"] == parent and got["sortOrder"] == 5


def test_unknown_creation_id_reference(alice):
    result = alice.ok(
        "Mailbox/set", {"create": {"c": {"name": "Orphan ref", "parentId": "#nowhere"}}}
    )
    error = result["notCreated"]["c"]
    assert error["type"] == "invalidProperties" and error["properties"] == ["parentId"]


@pytest.mark.parametrize(
    "junk",
    [
        {"accountId": None},
        {"accountId": 5},
        {"accountId": ["a"]},
        {"accountId": {}},
        {"ids": {"a": 1}},
        {"ids": [None]},
        {"properties": [None]},
        {"filter": []},
        {"filter": "x"},
        {"sort": {}},
        {"sort": [{"property": 1}]},
        {"position": "1"},
        {"limit": 1.5},
        {"anchor": 5},
        {"create": []},
        {"update": {"m0": []}},
        {"destroy": "m0"},
        {"ifInState": 5},
        {"sinceState": None},
    ],
)
@pytest.mark.parametrize(
    "method",
    ["Mailbox/get", "Mailbox/set", "Mailbox/query", "Mailbox/changes", "Mailbox/queryChanges"],
)
def test_no_junk_argument_crashes_a_method(alice, method, junk):
    base = {"accountId": alice.account_id}
    if method.endswith("/changes"):
        base["sinceState"] = "s0"
    if method.endswith("/queryChanges"):
        base["sinceQueryState"] = "s0"
    args = {**base, **junk}
    response = alice.request([[method, args, "0"]], using=USING)
    assert response.status_code == 200
    name, result, _ = response.json()["methodResponses"][0]
    if name == "error":
        assert result["type"] in {"invalidArguments", "accountNotFound"}, result


@pytest.mark.parametrize(
    "body",
    [
        b'{"using": ["urn:ietf:params:jmap:core"], "using": [], "methodCalls": []}',
        b'{"using": ["urn:ietf:params:jmap:core"], "methodCalls": '
        b'[["Core/echo", {"a": 1, "a": 2}, "0"]]}',
        b'{"using": ["urn:ietf:params:jmap:core"], "methodCalls": [["Core/echo", '
        b'{"x": "\\ud800"}, "0"]]}',
    ],
)
def test_i_json_duplicate_names_and_lone_surrogates_are_not_json(alice, body):
    response = alice.http.post(
        "/jmap/api/", content=body, headers={"Content-Type": "application/json"}
    )
    problem_of(response, 400, "notJSON")


def test_every_advertised_capability_may_be_used(alice):
    advertised = list(alice.session["capabilities"])
    assert "urn:ietf:params:jmap:websocket" in advertised
    response = alice.request([["Core/echo", {"ok": True}, "0"]], using=advertised)
    assert response.json()["methodResponses"] == [["Core/echo", {"ok": True}, "0"]]
