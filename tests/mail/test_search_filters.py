"""Email/query filters a client controls never reach storage as something it cannot run:
too big a filter is ``unsupportedFilter`` (RFC 8620 §5.5), control characters in search
text are word separators, and no search text gives serverFail or serverUnavailable."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from methods.email_filter import (
    MAX_FILTER_CONDITIONS,
    MAX_FILTER_DEPTH,
    MAX_SEARCH_TERMS,
    MAX_SEARCH_TEXT_CHARS,
)
from tests.conftest import USING
from tests.mongo.servers import BACKEND_ENV, EMULATORS

from .conftest import import_raw, mailboxes, message

TEXT_FIELDS = ["text", "from", "to", "cc", "bcc", "subject", "body"]


@pytest.fixture(scope="module")
def mail(server, alice):
    inbox = mailboxes(alice)["inbox"]
    raws = [
        message("hello world", "hello there, a NEAR b AND c OR d NOT e: body (text) *star*"),
        message("control", "before \x01 after needle and \x02 more"),
        message("other", "nothing to see"),
    ]
    return dict(zip(["hello", "control", "other"], import_raw(alice, raws, inbox), strict=True))


def raw_call(client, name: str, args: dict[str, Any]) -> tuple[int, Any]:
    """One call sent as ASCII JSON (any string, NULs and lone surrogates included)."""
    body = json.dumps({"using": USING, "methodCalls": [[name, args, "c"]]})
    response = client.http.post(
        "/jmap/api/", content=body, headers={"Content-Type": "application/json"}
    )
    payload = response.json()
    if response.status_code != 200:
        return response.status_code, payload
    return 200, payload["methodResponses"][0]


def calls(client, filter_: Any, email_ids: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """Email/query, Email/queryChanges and SearchSnippet/get with this filter."""
    account = client.account_id
    state = client.ok("Email/query", {})["queryState"]
    out = []
    for name, args in [
        ("Email/query", {"filter": filter_, "calculateTotal": True}),
        ("Email/queryChanges", {"filter": filter_, "sinceQueryState": state}),
        ("SearchSnippet/get", {"filter": filter_, "emailIds": email_ids}),
    ]:
        status, response = raw_call(client, name, {"accountId": account, **args})
        assert status == 200, response
        out.append((response[0], response[1]))
    return out


def nested(depth: int, operator: str = "NOT") -> dict[str, Any]:
    """A filter ``depth`` levels deep: operators around one text condition."""
    node: dict[str, Any] = {"text": "hello"}
    for _ in range(depth - 1):
        node = {"operator": operator, "conditions": [node, {"hasKeyword": "$seen"}]}
    return node


def unsupported(client, filter_: Any, email_ids: list[str]) -> None:
    for name, result in calls(client, filter_, email_ids):
        assert (name, result["type"]) == ("error", "unsupportedFilter"), result


@pytest.mark.parametrize("operator", ["NOT", "AND", "OR"])
def test_filter_depth_is_bounded(alice, mail, operator):
    """A filter deeper than SQLite's parser can take was a storage failure; past the
    documented depth it is unsupportedFilter (RFC 8620 §5.5), up to it it is answered."""
    ids = list(mail.values())
    for name, result in calls(alice, nested(MAX_FILTER_DEPTH, operator), ids):
        assert name != "error", result
    unsupported(alice, nested(MAX_FILTER_DEPTH + 1, operator), ids)


def test_eighty_deep_filter_is_not_a_storage_failure(alice, mail):
    """About 80 levels overflowed SQLite's parser stack: serverUnavailable. Either this
    filter's limit answers (unsupportedFilter) or the request's JSON nesting limit does."""
    body = json.dumps(
        {
            "using": USING,
            "methodCalls": [
                ["Email/query", {"accountId": alice.account_id, "filter": nested(80)}, "c"]
            ],
        }
    )
    response = alice.http.post(
        "/jmap/api/", content=body, headers={"Content-Type": "application/json"}
    )
    if response.status_code == 200:
        name, result, _ = response.json()["methodResponses"][0]
        assert (name, result["type"]) == ("error", "unsupportedFilter"), result
    else:
        assert response.status_code == 400, response.text
        assert response.json()["type"].startswith("urn:ietf:params:jmap:error:")


def test_number_of_conditions_is_bounded(alice, mail):
    """An OR of 2,000 text conditions passed SQLite's expression depth: serverUnavailable."""
    ids = list(mail.values())
    wide = {"operator": "OR", "conditions": [{"text": f"w{n}"} for n in range(2000)]}
    unsupported(alice, wide, ids)
    most = MAX_FILTER_CONDITIONS - 1
    widest = {"operator": "OR", "conditions": [{"text": f"w{n}"} for n in range(most - 1)]}
    widest["conditions"].append({"text": "hello"})
    (query, total), *_ = calls(alice, widest, ids)
    assert query == "Email/query" and total["ids"] == [mail["hello"]]


def test_search_words_and_text_length_are_bounded(alice, mail):
    ids = list(mail.values())
    words = " ".join(f"w{n}" for n in range(MAX_SEARCH_TERMS))
    for name, result in calls(alice, {"text": words}, ids):
        assert name != "error", result
    unsupported(alice, {"text": words + " more"}, ids)
    split = {"operator": "AND", "conditions": [{"subject": words}, {"body": "one more"}]}
    unsupported(alice, split, ids)
    unsupported(alice, {"body": "x" * (MAX_SEARCH_TEXT_CHARS + 1)}, ids)


@pytest.mark.parametrize("text", ["hello\x00", "\x00hello", '"hello\x00"', "\x1fhel\x7f"])
def test_control_characters_in_search_text_separate_words(alice, mail, text):
    """A NUL in search text was an FTS5 syntax error (serverUnavailable): control characters
    are not part of words, in the index or in a query (RFC 8621 §4.4.1 leaves matching to
    the server), so "hello\\x00" searches for "hello"."""
    found = alice.ok("Email/query", {"filter": {"text": "hello"}})["ids"]
    assert found == [mail["hello"]]
    (query, result), _, (snippets, got) = calls(alice, {"text": text}, [mail["hello"]])
    assert query == "Email/query" and result["ids"] == found, result
    assert snippets == "SearchSnippet/get", got
    assert got["list"][0]["subject"] == "<mark>hello</mark> world"


def test_control_characters_in_a_body_are_not_taken_for_match_marks(alice, mail):
    """The index marks matches with control characters; a body's own are blanked when it is
    indexed, so a snippet marks only the match."""
    result = alice.ok(
        "SearchSnippet/get", {"filter": {"text": "needle"}, "emailIds": [mail["control"]]}
    )
    preview = result["list"][0]["preview"]
    assert preview.count("<mark>") == 1 and "<mark>needle</mark>" in preview, preview


@pytest.mark.skipif(
    os.environ.get(BACKEND_ENV, "sqlite") in EMULATORS,
    reason="SQLite's parameter limit; the MongoDB emulators take minutes for this $nin",
)
def test_many_mailboxes_in_in_mailbox_other_than(alice, mail):
    """inMailboxOtherThan with more ids than SQLite takes parameters (250,000 in the usual
    builds) was "too many SQL variables": serverUnavailable."""
    others = [f"M{n}" for n in range(260_000)]
    result = alice.ok("Email/query", {"filter": {"inMailboxOtherThan": others}})
    assert set(mail.values()) <= set(result["ids"])


FTS5_SYNTAX = [
    '"', "*", "^", ":", "(", ")", "{", "}", "+", "-", ",", ".", "\\", "'", "NEAR", "NEAR(",
    "AND", "OR", "NOT", "body", "subject", "from_", "{body}:", "\x00", "\x01", "\x02", "\x1f",
    "\ud800", "\udfff", "é", "e\u0301", "😀", "\u200b", "\ufeff", " ", "\t", "\n", "hello",
    "hel", "a", "smartc",
]  # fmt: skip
search_texts = st.lists(st.sampled_from(FTS5_SYNTAX) | st.text(max_size=8), max_size=12).map(
    "".join
)
conditions = st.fixed_dictionaries(
    {},
    optional={
        **{field: search_texts for field in TEXT_FIELDS},
        "header": st.lists(search_texts, min_size=1, max_size=2),
    },
)
filters = st.recursive(
    conditions,
    lambda children: st.fixed_dictionaries(
        {
            "operator": st.sampled_from(["AND", "OR", "NOT"]),
            "conditions": st.lists(children, max_size=4),
        }
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(filter_=filters)
def test_no_search_text_is_a_server_failure(alice, mail, filter_):
    """Any search text, with any FTS5 syntax in it, is answered (RFC 8620 §3.6.2: serverFail
    and serverUnavailable are for the server's own failures). Lone surrogates are not
    Unicode text, so the request may be refused as notJSON (RFC 8620 §3.6.1)."""
    ids = list(mail.values())
    for name, args in [
        ("Email/query", {"filter": filter_}),
        ("SearchSnippet/get", {"filter": filter_, "emailIds": ids}),
    ]:
        status, response = raw_call(alice, name, {"accountId": alice.account_id, **args})
        if status != 200:
            assert response["type"] == "urn:ietf:params:jmap:error:notJSON", response
            assert "\\ud" in json.dumps(filter_)
            continue
        assert response[0] == name, response
