"""JSON Pointer (RFC 6901) with JMAP's ``*`` (RFC 8620 §3.7)."""

from __future__ import annotations

import pytest

from jmap.pointer import PointerError, evaluate

DOC = {
    "list": [
        {"id": "a", "threadId": "T1", "tags": ["x", "y"], "mailboxIds": {"m1": True}},
        {"id": "b", "threadId": "T2", "tags": [], "mailboxIds": {"m2": True}},
        {"id": "c", "threadId": "T1", "tags": ["z"], "mailboxIds": {}},
    ],
    "a/b": 1,
    "m~n": 2,
    "~1": 3,
    "": {"": "empty"},
    "nested": {"deep": [[1, 2], [3]]},
    "n": None,
    "s": "text",
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("", DOC),
        ("/list/0/id", "a"),
        ("/list/2/threadId", "T1"),
        ("/a~1b", 1),
        ("/m~0n", 2),
        # ~01 is "~1" (unescape ~1 first, then ~0), not "/" or "~~"
        ("/~01", 3),
        ("/", {"": "empty"}),
        ("//", "empty"),
        ("/n", None),
        ("/nested/deep/1/0", 3),
    ],
)
def test_plain_pointers(path, expected):
    assert evaluate(DOC, path) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/list/*/id", ["a", "b", "c"]),
        ("/list/*/threadId", ["T1", "T2", "T1"]),
        # arrays produced per item are flattened into one array, in order
        ("/list/*/tags", ["x", "y", "z"]),
        ("/list/*/tags/*", ["x", "y", "z"]),
        ("/nested/deep/*", [1, 2, 3]),
        ("/list/*/mailboxIds", [{"m1": True}, {"m2": True}, {}]),
    ],
)
def test_star_maps_and_flattens(path, expected):
    assert evaluate(DOC, path) == expected


def test_star_over_empty_array():
    assert evaluate({"list": []}, "/list/*/id") == []


@pytest.mark.parametrize(
    "path",
    [
        "list",  # no leading slash
        "/missing",
        "/list/0/missing",
        "/list/3/id",  # out of range
        "/list/01/id",  # leading zero
        "/list/-/id",  # "-" is past the end, never an element
        "/list/-1",
        "/list/+1",
        "/list/1.0",
        "/list/ 1",
        "/list/²",  # a Unicode digit that is not an ASCII one
        "/list/\u0661",  # ARABIC-INDIC DIGIT ONE
        "/list/id",  # a name used on an array
        "/s/0",  # descending into a scalar
        "/n/x",
        "/list/0/id/x",
        "/list/*/missing",  # * maps the error too
        "/a~2b",
        "/a/b",  # the member is "a/b", escaped as a~1b
    ],
)
def test_errors(path):
    with pytest.raises(PointerError):
        evaluate(DOC, path)
