"""Whatever a client sends, the server answers with JMAP's errors, never with a crash."""

from __future__ import annotations

from urllib.parse import quote

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


wire_text = st.text(max_size=12) | st.sampled_from(["*", "0", "30", "\u00b2", "state", "no", "%"])


@FUZZ
@given(types=wire_text, closeafter=wire_text, ping=wire_text)
def test_random_event_source_parameters(alice, types, closeafter, ping):
    params = {"types": types, "closeafter": closeafter, "ping": ping}
    with alice.http.stream("GET", "/jmap/eventsource/", params=params, timeout=10) as response:
        assert response.status_code in (200, 400), response.status_code
        if response.status_code == 400:
            response.read()
            assert response.headers["content-type"] == "application/problem+json"


@FUZZ
@given(blob=wire_text, name=wire_text, accept=wire_text, account=wire_text)
def test_random_download_urls(alice, blob, name, accept, account):
    account = account or alice.account_id
    path = f"/jmap/download/{quote(account, safe='')}/{quote(blob, safe='')}/"
    response = alice.http.get(path + quote(name or "x", safe=""), params={"accept": accept})
    # 307: a path made non-canonical by "." or ".." segments is redirected, not served
    assert response.status_code in (307, 400, 404), response.status_code


@FUZZ
@given(account=wire_text, media_type=wire_text, body=st.binary(max_size=64))
def test_random_uploads(alice, account, media_type, body):
    target = alice.account_id if account == "*" else account
    printable = "".join(c for c in media_type if " " <= c <= "~").strip()
    response = alice.http.post(
        f"/jmap/upload/{quote(target or 'x', safe='')}/",
        content=body,
        headers={"Content-Type": printable or "x/y"},
    )
    assert response.status_code in (201, 400, 404), response.status_code
