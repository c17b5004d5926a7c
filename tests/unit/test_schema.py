"""Argument and property validation built from ``schemas/`` (Mailbox as the example)."""

from __future__ import annotations

import pytest

from jmap.errors import MethodError
from jmap.schema import schema_names, type_schema


@pytest.fixture(scope="module")
def mailbox():
    return type_schema("Mailbox")


def test_schema_shape(mailbox):
    assert mailbox.capability == "urn:ietf:params:jmap:mail"
    assert {"get", "changes", "set", "query", "queryChanges"} <= set(mailbox.methods)
    assert "name" in mailbox.required
    assert {"id", "totalEmails", "unreadEmails", "myRights"} <= mailbox.read_only
    assert "name" not in mailbox.read_only
    assert mailbox.defaults["parentId"] is None
    assert mailbox.with_defaults({"name": "x", "sortOrder": 3})["sortOrder"] == 3
    assert mailbox.with_defaults({"name": "x"})["isSubscribed"] is True
    assert "Mailbox" in schema_names() and "core" in schema_names()


GOOD = [
    ("get", {"accountId": "a1"}),
    ("get", {"accountId": "a1", "ids": None, "properties": None}),
    ("get", {"accountId": "a1", "ids": ["m1", "m-2_x"], "properties": ["name", "role"]}),
    ("changes", {"accountId": "a1", "sinceState": "s1", "maxChanges": 5}),
    ("changes", {"accountId": "a1", "sinceState": "s1", "maxChanges": None}),
    ("set", {"accountId": "a1", "create": {"c1": {"name": "x"}}, "destroy": ["m1"]}),
    ("set", {"accountId": "a1", "update": {"m1": {"name": "y"}}, "ifInState": None}),
    ("set", {"accountId": "a1", "onDestroyRemoveEmails": True}),
    ("query", {"accountId": "a1", "filter": None, "sort": None, "limit": None}),
    ("query", {"accountId": "a1", "filter": {"role": None, "parentId": None}}),
    (
        "query",
        {
            "accountId": "a1",
            "filter": {
                "operator": "AND",
                "conditions": [
                    {"name": "Inbox"},
                    {"operator": "NOT", "conditions": [{"role": "trash"}, {"hasAnyRole": True}]},
                    {"operator": "OR", "conditions": []},
                ],
            },
            "sort": [{"property": "name", "isAscending": False, "collation": "i;octet"}],
            "position": -3,
            "anchor": "m1",
            "anchorOffset": -1,
            "limit": 0,
            "calculateTotal": True,
            "sortAsTree": True,
            "filterAsTree": False,
        },
    ),
    ("queryChanges", {"accountId": "a1", "sinceQueryState": "q1", "upToId": None}),
]


@pytest.mark.parametrize(("method", "args"), GOOD)
def test_valid_arguments(mailbox, method, args):
    mailbox.validate_arguments(method, args)


BAD = [
    ("get", {}),  # accountId is required
    ("get", {"accountId": 1}),
    ("get", {"accountId": "a b"}),
    ("get", {"accountId": "a1", "bogus": 1}),  # unknown argument
    ("get", {"accountId": "a1", "ids": "m1"}),
    ("get", {"accountId": "a1", "ids": [1]}),
    ("get", {"accountId": "a1", "properties": ["name", "nope"]}),  # unknown property
    ("get", {"accountId": "a1", "properties": "name"}),
    ("changes", {"accountId": "a1"}),  # sinceState is required
    ("changes", {"accountId": "a1", "sinceState": "s1", "maxChanges": 0}),
    ("changes", {"accountId": "a1", "sinceState": "s1", "maxChanges": -1}),
    ("changes", {"accountId": "a1", "sinceState": "s1", "maxChanges": 1.5}),
    ("changes", {"accountId": "a1", "sinceState": ""}),
    ("set", {"accountId": "a1", "create": {"bad id": {}}}),
    ("set", {"accountId": "a1", "create": {"c1": "not an object"}}),
    ("set", {"accountId": "a1", "update": {"m1": None}}),
    ("set", {"accountId": "a1", "destroy": "m1"}),
    ("set", {"accountId": "a1", "onDestroyRemoveEmails": "yes"}),
    ("set", {"accountId": "a1", "sortAsTree": True}),  # a query argument on set
    ("query", {"accountId": "a1", "limit": -1}),
    ("query", {"accountId": "a1", "position": "0"}),
    ("query", {"accountId": "a1", "calculateTotal": 1}),
    ("query", {"accountId": "a1", "sort": [{"isAscending": True}]}),  # property required
    ("query", {"accountId": "a1", "sort": [{"property": "name", "extra": 1}]}),
    ("query", {"accountId": "a1", "filter": {"bogus": 1}}),  # unknown condition
    ("query", {"accountId": "a1", "filter": {"name": 5}}),
    ("query", {"accountId": "a1", "filter": {"hasAnyRole": "yes"}}),
    ("query", {"accountId": "a1", "filter": []}),
    ("query", {"accountId": "a1", "filter": {"operator": "XOR", "conditions": []}}),
    ("query", {"accountId": "a1", "filter": {"operator": "AND"}}),
    ("query", {"accountId": "a1", "filter": {"operator": "AND", "conditions": {}}}),
    ("query", {"accountId": "a1", "filter": {"operator": "AND", "conditions": [], "x": 1}}),
    # a FilterCondition must not have "operator"
    ("query", {"accountId": "a1", "filter": {"operator": "AND", "name": "x"}}),
    # errors deep inside nested operators are found too
    (
        "query",
        {
            "accountId": "a1",
            "filter": {
                "operator": "OR",
                "conditions": [
                    {"name": "ok"},
                    {"operator": "NOT", "conditions": [{"role": "x"}, {"parentId": 7}]},
                ],
            },
        },
    ),
    (
        "query",
        {
            "accountId": "a1",
            "filter": {"operator": "OR", "conditions": [{"operator": "NOPE", "conditions": []}]},
        },
    ),
    ("queryChanges", {"accountId": "a1"}),
    ("queryChanges", {"accountId": "a1", "sinceQueryState": "q", "maxChanges": 0}),
]


@pytest.mark.parametrize(("method", "args"), BAD)
def test_invalid_arguments(mailbox, method, args):
    with pytest.raises(MethodError) as info:
        mailbox.validate_arguments(method, args)
    assert info.value.kind == "invalidArguments"
    assert info.value.description  # says what is wrong
    assert "Traceback" not in info.value.description


def test_invalid_arguments_description_names_the_argument(mailbox):
    with pytest.raises(MethodError) as info:
        mailbox.validate_arguments("get", {"accountId": "a1", "ids": "m1"})
    assert "ids" in (info.value.description or "")


def test_invalid_properties(mailbox):
    good = {"name": "x", "parentId": None, "role": "inbox", "sortOrder": 10, "isSubscribed": False}
    assert mailbox.invalid_properties(good) == []
    assert mailbox.invalid_properties({"parentId": "m1", "role": None}) == []
    bad = {
        "name": "",
        "parentId": 5,
        "role": "Inbox",
        "sortOrder": -1,
        "isSubscribed": "yes",
        "bogus": 1,
    }
    assert sorted(mailbox.invalid_properties({**bad, "name": "ok"})) == sorted(set(bad) - {"name"})
    assert sorted(mailbox.invalid_properties(bad)) == sorted(bad)
    assert mailbox.invalid_properties({"sortOrder": 2**31}) == ["sortOrder"]
    assert mailbox.invalid_properties({"myRights": {"mayRename": "no"}}) == ["myRights"]


def test_core_echo_takes_any_arguments():
    core = type_schema("Core")
    core.validate_arguments("echo", {"anything": [1, {"x": None}], "more": True})
