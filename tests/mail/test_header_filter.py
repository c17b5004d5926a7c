"""The ``header`` filter of Email/query (RFC 8621 §4.4.1): presence of a field, and a
case-insensitive substring of its decoded Text form, answered from the header index."""

from __future__ import annotations

import pytest

from jmap.config import Limits
from tests.conftest import start_server

from .conftest import import_raw, mailboxes, message

ENCODED = message(
    "plain subject",
    message_id="enc@x",
    extra="X-Label: =?utf-8?q?Caf=C3=A9_cr=C3=A8me?= =?iso-8859-1?q?_na=EFve?=",
)
TWICE = message(
    "two labels",
    message_id="twice@x",
    extra="X-Label: first value\r\nX-Label: SECOND Value",
)
FOLDED = message("folded", message_id="fold@x", extra="X-Note: the quick\r\n brown fox")
NONE = message("no label", message_id="none@x")


def _setup(client) -> dict[str, str]:
    inbox = mailboxes(client)["inbox"]
    names = ["encoded", "twice", "folded", "none"]
    return dict(zip(names, import_raw(client, [ENCODED, TWICE, FOLDED, NONE], inbox), strict=True))


def _found(client, ids: dict[str, str], header: list[str]) -> set[str]:
    names = {v: k for k, v in ids.items()}
    result = client.ok("Email/query", {"filter": {"header": header}})
    return {names[i] for i in result["ids"]}


CASES = [
    (["X-Label"], {"encoded", "twice"}),
    (["x-LABEL"], {"encoded", "twice"}),  # names match case-insensitively
    (["X-Missing"], set()),
    (["X-Label", "café crème"], {"encoded"}),  # encoded words are decoded
    (["X-Label", "CAFÉ CRÈME NAÏVE"], {"encoded"}),  # across charsets, any case
    (["X-Label", "=?utf-8?"], set()),  # the raw encoding is not what is searched
    (["X-Label", "first"], {"twice"}),  # either instance of a repeated field
    (["X-Label", "second value"], {"twice"}),
    (["X-Label", "first value second"], set()),  # instances are not joined
    (["X-Note", "quick brown"], {"folded"}),  # unfolded
    (["Subject", "LABEL"], {"none", "twice"}),
    (["X-Label", ""], {"encoded", "twice"}),
]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A server of its own (whole-account results), shared by this module's read-only tests."""
    server = start_server(tmp_path_factory.mktemp("headers"))
    yield server.client("alice@example.com")
    server.stop()
    assert "Traceback" not in server.log(), server.log()


@pytest.fixture(scope="module")
def ids(fresh) -> dict[str, str]:
    return _setup(fresh)


def test_header_filter(fresh, ids):
    for header, expected in CASES:
        assert _found(fresh, ids, header) == expected, header
    # NOT and OR over header conditions
    names = {v: k for k, v in ids.items()}
    result = fresh.ok(
        "Email/query",
        {
            "filter": {
                "operator": "NOT",
                "conditions": [{"header": ["X-Label"]}, {"header": ["X-Note"]}],
            }
        },
    )
    assert {names[i] for i in result["ids"]} == {"none"}


def any_of(*conditions) -> dict:
    return {"operator": "OR", "conditions": [{"header": c} for c in conditions]}


MERGED = [
    # conditions on one name are read in one scan; presence wins over substrings
    (any_of(["X-Label", "first"], ["x-label", "crème"]), {"twice", "encoded"}),
    (any_of(["X-Label", "nowhere"], ["X-LABEL"]), {"twice", "encoded"}),
    (any_of(["X-Label", "first"], ["X-Note", "brown"], ["X-Label", "nope"]), {"twice", "folded"}),
    ({"operator": "NOT", "conditions": any_of(["X-Label"], ["X-Note"])["conditions"]}, {"none"}),
    (
        {
            "operator": "OR",
            "conditions": [
                {"header": ["X-Label", "first"]},
                {"header": ["X-Label", "crème"], "subject": "plain"},  # not merged: two props
                {"operator": "AND", "conditions": [{"header": ["X-Note"]}]},
            ],
        },
        {"twice", "encoded", "folded"},
    ),
    (
        any_of(*[["Subject", f"nothing {n}"] for n in range(15)], ["Subject", "LABEL"]),
        {"none", "twice"},
    ),
]


def test_or_of_header_conditions(fresh, ids):
    """An OR (or NOT) of ``header`` conditions on one name is one scan of the header index
    (255 on Subject were 255 scans: 6.9 s on 10,000 messages); the answer is the same."""
    names = {v: k for k, v in ids.items()}
    for filter_, expected in MERGED:
        result = fresh.ok("Email/query", {"filter": filter_})
        assert {names[i] for i in result["ids"]} == expected, filter_


def test_header_conditions_are_bounded(fresh, ids):
    """More than ``max_header_conditions`` is unsupportedFilter (RFC 8620 §5.5), however
    they are combined, for Email/query, Email/queryChanges and SearchSnippet/get."""
    most = Limits().max_header_conditions
    names = {v: k for k, v in ids.items()}
    allowed = any_of(*[["X-Label", f"v{n}"] for n in range(most - 1)], ["X-Note"])
    assert {names[i] for i in fresh.ok("Email/query", {"filter": allowed})["ids"]} == {"folded"}
    state = fresh.ok("Email/query", {})["queryState"]
    over = [
        any_of(*[["X-Label", f"v{n}"] for n in range(most + 1)]),
        {"operator": "AND", "conditions": [{"header": ["X-Label"]}] * most + [{"header": ["A"]}]},
        {"operator": "NOT", "conditions": [any_of(*[["Subject"]] * most), {"header": ["B"]}]},
    ]
    for filter_ in over:
        for name, args in [
            ("Email/query", {"filter": filter_}),
            ("Email/queryChanges", {"filter": filter_, "sinceQueryState": state}),
            ("SearchSnippet/get", {"filter": filter_, "emailIds": list(ids.values())}),
        ]:
            error = fresh.fail(name, {"accountId": fresh.account_id, **args})
            assert error["type"] == "unsupportedFilter", (name, error)
