"""Whatever a client sends, the server answers with JMAP's errors, never with a crash."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import CORE, MAIL

METHODS = [
    "Core/echo",
    "Blob/copy",
    "Mailbox/get",
    "Mailbox/set",
    "Mailbox/changes",
    "Mailbox/query",
    "Mailbox/queryChanges",
    "Nope/get",
]
ARGUMENTS = [
    "accountId",
    "fromAccountId",
    "ids",
    "properties",
    "sinceState",
    "maxChanges",
    "create",
    "update",
    "destroy",
    "ifInState",
    "filter",
    "sort",
    "position",
    "anchor",
    "anchorOffset",
    "limit",
    "calculateTotal",
    "sinceQueryState",
    "upToId",
    "blobIds",
    "sortAsTree",
    "filterAsTree",
    "onDestroyRemoveEmails",
    "#ids",
]
PROPERTIES = [
    "name",
    "parentId",
    "role",
    "sortOrder",
    "isSubscribed",
    "totalEmails",
    "myRights",
    "operator",
    "conditions",
    "property",
    "isAscending",
    "collation",
    "resultOf",
    "path",
    "hasAnyRole",
    "c1",
    "m0",
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["s0", "m0", "#c", "/ids", "name", "parentId"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(max_size=10) | st.sampled_from(ARGUMENTS + PROPERTIES), children, max_size=4
        )
    ),
    max_leaves=12,
)
arguments = st.dictionaries(st.sampled_from(ARGUMENTS), json_values, max_size=5)
calls = st.lists(st.tuples(st.sampled_from(METHODS), arguments, st.text(max_size=4)), max_size=4)

FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def check(response) -> None:
    assert response.status_code in (200, 400, 413), response.text
    if response.status_code != 200:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].startswith("urn:ietf:params:jmap:error:")
        return
    body = response.json()
    for name, args, call_id in body["methodResponses"]:
        assert isinstance(args, dict) and isinstance(call_id, str)
        if name == "error":
            assert args["type"] != "serverFail", args


@FUZZ
@given(calls=calls)
def test_random_method_calls(alice, calls):
    account = alice.account_id
    method_calls = [
        [name, {**args, "accountId": account} if "accountId" not in args else args, call_id]
        for name, args, call_id in calls
    ]
    check(alice.request(method_calls, using=[CORE, MAIL]))


@FUZZ
@given(body=json_values | st.binary(max_size=50).map(lambda b: b))
def test_random_request_bodies(alice, body):
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    response = alice.http.post(
        "/jmap/api/", content=content, headers={"Content-Type": "application/json"}
    )
    check(response)
