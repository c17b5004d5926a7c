"""Grammars of hostile but valid JMAP requests (RFC 8620 §3.3) against a running server
holding a populated account: filters to the maximum depth and one past, wide requests
(the most calls, the most objects, long arrays in filters and sorts), chains of result
references (``*`` paths, references to references, to errors and to missing calls), mixed
with the mail methods.

Properties of every answer: a valid Response (RFC 8620 §3.4: one or more responses per
call, in call order, under the call's id) or the exact request error (§3.6.1); exactly the
method error the input calls for where it is known from the input alone (§3.6.2, §5.5);
never a 500, ``serverFail`` or ``serverUnavailable``; and the server answers another user
and ``/healthz`` after each example.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jmap.config import Limits
from methods.email_filter import MAX_FILTER_CONDITIONS, MAX_FILTER_DEPTH, MAX_SEARCH_TERMS
from methods.email_filter import TEXT_PROPERTIES as TEXT_FIELDS
from tests.conftest import CORE, MAIL, start_server
from tests.mail.conftest import import_raw, mailboxes, message

LIMITS = Limits()
GRAMMAR = settings(
    max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False
)
REQUEST_ERRORS = {"limit", "notJSON", "notRequest"}
#: method errors a valid call may get here (RFC 8620 §3.6.2, §5.1, §5.5; RFC 8621)
METHOD_ERRORS = {
    "invalidArguments",
    "invalidResultReference",
    "unsupportedFilter",
    "unsupportedSort",
    "requestTooLarge",
    "anchorNotFound",
    "cannotCalculateChanges",
    "unknownMethod",
}


@pytest.fixture(scope="module")
def populated(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("grammar"))
    alice, bob = server.client("alice@example.com"), server.client("bob@example.com")
    inbox = mailboxes(alice)["inbox"]
    raws = [
        message(
            f"subject {n} {word}",
            f"body of message {n}: {word} and more {word[:2]} text",
            extra=f"X-Tag: tag{n % 3}",
            in_reply_to="m0@x" if n % 4 else None,
            message_id=f"m{n}@x",
        )
        for n, word in enumerate(["alpha", "beta", "gamma", "delta", "epsilon", "zeta"] * 3)
    ]
    ids = import_raw(alice, raws, inbox, keywords={"$seen": True})
    yield server, alice, bob, inbox, ids
    server.stop()
    assert "Traceback" not in server.log(), server.log()


# -- filters --
words = st.sampled_from(["alpha", "be", "gam", "delta", "x", '"more text"', "ze ta", "é"])


def conditions(inbox: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.builds(lambda f, w: {f: w}, st.sampled_from(TEXT_FIELDS), words),
        st.builds(lambda h: {"header": h}, st.sampled_from([["X-Tag"], ["X-Tag", "tag1"]])),
        st.sampled_from(
            [
                {"inMailbox": inbox},
                {"inMailboxOtherThan": [inbox] * 3},
                {"hasKeyword": "$seen"},
                {"notKeyword": "$flagged"},
                {"someInThreadHaveKeyword": "$seen"},
                {"allInThreadHaveKeyword": "$seen"},
                {"before": "2030-01-01T00:00:00Z"},
                {"minSize": 10, "maxSize": 10**9},
                {"hasAttachment": False},
                {},
            ]
        ),
    )


def filters(inbox: str, max_depth: int) -> st.SearchStrategy[dict[str, Any]]:
    """Operator trees up to ``max_depth`` levels, some of them wide."""
    leaf = conditions(inbox)
    return st.recursive(
        leaf,
        lambda inner: st.builds(
            lambda op, kids: {"operator": op, "conditions": kids},
            st.sampled_from(["AND", "OR", "NOT"]),
            st.lists(inner, min_size=0, max_size=6),
        ),
        max_leaves=40,
    ).filter(lambda f: depth(f) <= max_depth)


def chain(inbox: str, levels: int) -> dict[str, Any]:
    """A filter exactly ``levels`` deep."""
    node: dict[str, Any] = {"text": "alpha"}
    for n in range(levels - 1):
        node = {"operator": ["NOT", "OR", "AND"][n % 3], "conditions": [node, {"inMailbox": inbox}]}
    return node


def depth(node: dict[str, Any]) -> int:
    if "operator" not in node:
        return 1
    return 1 + max((depth(c) for c in node["conditions"]), default=0)


def size(node: dict[str, Any]) -> tuple[int, int, int]:
    """(FilterOperators and FilterConditions, header conditions, search words)."""
    if "operator" not in node:
        words_ = sum(len(str(v).split()) for k, v in node.items() if k in TEXT_FIELDS)
        return 1, int("header" in node), words_
    counts = [size(c) for c in node["conditions"]]
    return (
        1 + sum(c[0] for c in counts),
        sum(c[1] for c in counts),
        sum(c[2] for c in counts),
    )


def expected_filter_error(filter_: dict[str, Any]) -> str | None:
    nodes, headers, terms = size(filter_)
    too_big = nodes > MAX_FILTER_CONDITIONS or terms > MAX_SEARCH_TERMS
    if depth(filter_) > MAX_FILTER_DEPTH or too_big or headers > LIMITS.max_header_conditions:
        return "unsupportedFilter"
    return None


sorts = st.lists(
    st.sampled_from(
        [
            {"property": "receivedAt", "isAscending": False},
            {"property": "subject"},
            {"property": "from", "isAscending": True},
            {"property": "size"},
            {"property": "hasKeyword", "keyword": "$seen"},
            {"property": "allInThreadHaveKeyword", "keyword": "$seen"},
        ]
    ),
    max_size=40,
)
paths = st.sampled_from(
    ["/ids", "/ids/*", "/list/*/id", "/list/*/threadId", "/list/*/emailIds", "/list", "",
     "/list/*/emailIds/*", "/ids/0", "/nothing", "/list/*/nothing"]
)  # fmt: skip


@st.composite
def requests(draw: st.DrawFn, account: str, inbox: str, ids: list[str]):
    """Calls and, per call, the method error its own input calls for (None: no error,
    ``...``: it depends on what a reference resolves to)."""
    calls: list[list[Any]] = []
    expect: list[Any] = []
    for n in range(draw(st.integers(1, LIMITS.max_calls_in_request))):
        cid = f"c{n}"
        kind = draw(
            st.sampled_from(
                ["query", "deep", "wide", "get", "many", "snippet", "thread", "echo", "mailbox"]
            )
        )
        earlier = draw(st.sampled_from(calls)) if calls else None
        if kind in ("query", "deep", "wide"):
            if kind == "deep":
                filter_ = chain(
                    inbox, draw(st.sampled_from([MAX_FILTER_DEPTH, MAX_FILTER_DEPTH + 1]))
                )
            elif kind == "wide":
                count = draw(st.sampled_from([MAX_FILTER_CONDITIONS - 1, MAX_FILTER_CONDITIONS]))
                filter_ = {"operator": "OR", "conditions": [{"inMailbox": inbox}] * count}
            else:
                filter_ = draw(filters(inbox, MAX_FILTER_DEPTH + 1))
            args = {"accountId": account, "filter": filter_, "sort": draw(sorts)}
            args["collapseThreads"] = draw(st.booleans())
            args["calculateTotal"] = True
            calls.append(["Email/query", args, cid])
            expect.append(expected_filter_error(filter_))
        elif kind == "many":
            count = draw(
                st.sampled_from([LIMITS.max_objects_in_get, LIMITS.max_objects_in_get + 1])
            )
            many = [*(ids * count)[: count - 1], "nonexistent"]
            calls.append(["Email/get", {"accountId": account, "ids": many}, cid])
            expect.append("requestTooLarge" if len(set(many)) > LIMITS.max_objects_in_get else None)
        elif kind in ("get", "snippet", "thread", "echo") and earlier is not None:
            ref = {"resultOf": earlier[2], "name": earlier[0], "path": draw(paths)}
            if draw(st.integers(0, 9)) == 0:  # a call that is not there (RFC 8620 §3.7)
                ref = {**ref, "resultOf": "missing"}
            name, args = {
                "get": (
                    "Email/get",
                    {"accountId": account, "#ids": ref, "properties": ["subject"]},
                ),
                "snippet": (
                    "SearchSnippet/get",
                    {"accountId": account, "#emailIds": ref, "filter": {"text": "alpha"}},
                ),
                "thread": ("Thread/get", {"accountId": account, "#ids": ref}),
                "echo": ("Core/echo", {f"#r{i}": ref for i in range(draw(st.integers(1, 3)))}),
            }[kind]
            calls.append([name, args, cid])
            expect.append("invalidResultReference" if ref["resultOf"] == "missing" else ...)
        elif kind == "mailbox":
            calls.append(["Mailbox/get", {"accountId": account, "ids": None}, cid])
            expect.append(None)
        else:
            calls.append(["Core/echo", {"v": draw(st.lists(st.integers(), max_size=50))}, cid])
            expect.append(None)
    return calls, expect


def check(response, calls: list[list[Any]], expect: list[Any]) -> None:
    assert response.status_code in (200, 400), (response.status_code, response.text[:300])
    body = response.json()
    if response.status_code == 400:
        assert response.headers["content-type"] == "application/problem+json"
        kind = body["type"].removeprefix("urn:ietf:params:jmap:error:")
        assert kind in REQUEST_ERRORS, body
        if kind == "limit":
            assert body["limit"] in {"maxSizeResponse", "maxSizeReferences"}, body
        return
    assert isinstance(body["sessionState"], str)
    answered = body["methodResponses"]
    # every call is answered, in order, under its own id (§3.4)
    order = [cid for _, _, cid in answered]
    assert list(dict.fromkeys(order)) == [c[2] for c in calls], (order, calls)
    first = {}
    for name, args, cid in answered:
        assert isinstance(name, str) and isinstance(args, dict)
        first.setdefault(cid, (name, args))
    for (name, _, cid), wanted in zip(calls, expect, strict=True):
        got_name, got = first[cid]
        if got_name == "error":
            assert got["type"] in METHOD_ERRORS, (name, got)
            assert wanted is not None, (name, got, calls[int(cid[1:])])
            if wanted is not ...:
                assert got["type"] == wanted, (name, got)
        else:
            assert got_name == name, (got_name, name)
            assert wanted in (None, ...), (name, wanted, got)


def test_hostile_grammar_requests(populated):
    _, alice, bob, inbox, ids = populated
    account = alice.account_id

    @GRAMMAR
    @given(requests(account, inbox, ids))
    def run(generated):
        calls, expect = generated
        check(alice.request(calls, using=[CORE, MAIL]), calls, expect)
        assert alice.http.get("/healthz").status_code == 200
        echoed = bob.request([["Core/echo", {"still": "here"}, "b"]], using=[CORE])
        assert echoed.json()["methodResponses"] == [["Core/echo", {"still": "here"}, "b"]]

    run()


def test_references_to_an_error_and_to_references(populated):
    """RFC 8620 §3.7: a reference to a call that answered an error names a response that is
    not there (invalidResultReference); references to references resolve in order."""
    _, alice, _, inbox, ids = populated
    account = alice.account_id

    def ref(call_id: str, name: str, path: str) -> dict[str, str]:
        return {"resultOf": call_id, "name": name, "path": path}

    calls = [
        ["Email/query", {"accountId": account, "filter": chain(inbox, MAX_FILTER_DEPTH + 1)}, "q"],
        ["Email/get", {"accountId": account, "#ids": ref("q", "Email/query", "/ids")}, "g"],
        ["Email/query", {"accountId": account, "filter": {"inMailbox": inbox}}, "q2"],
        ["Email/get", {"accountId": account, "properties": ["threadId"],
                       "#ids": ref("q2", "Email/query", "/ids")}, "g2"],
        ["Thread/get", {"accountId": account,
                        "#ids": ref("g2", "Email/get", "/list/*/threadId")}, "t"],
        ["Email/get", {"accountId": account, "properties": ["subject"],
                       "#ids": ref("t", "Thread/get", "/list/*/emailIds")}, "g3"],
    ]  # fmt: skip
    answered = alice.request(calls, using=[CORE, MAIL]).json()["methodResponses"]
    assert [(r[0], r[1].get("type")) for r in answered[:2]] == [
        ("error", "unsupportedFilter"),
        ("error", "invalidResultReference"),
    ]
    assert [r[0] for r in answered[2:]] == ["Email/query", "Email/get", "Thread/get", "Email/get"]
    assert sorted(e["id"] for e in answered[-1][1]["list"]) == sorted(ids)
