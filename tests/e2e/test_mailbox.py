"""Mailbox (RFC 8621 §2) over HTTP: get, set, changes, query, queryChanges."""

from __future__ import annotations

import pytest

from tests.conftest import start_server

RIGHTS = {
    "mayReadItems",
    "mayAddItems",
    "mayRemoveItems",
    "maySetSeen",
    "maySetKeywords",
    "mayCreateChild",
    "mayRename",
    "mayDelete",
    "maySubmit",
}


@pytest.fixture
def fresh(tmp_path):
    """A server of its own, for tests that look at whole-account results."""
    server = start_server(tmp_path / "d")
    yield server.client("alice@example.com")
    server.stop()
    assert "Traceback" not in server.log()


def create(client, **mailboxes):
    result = client.ok("Mailbox/set", {"create": mailboxes})
    assert not result["notCreated"], result["notCreated"]
    return {cid: created["id"] for cid, created in result["created"].items()}


def test_new_account_has_the_standard_mailboxes(fresh):
    result = fresh.ok("Mailbox/get", {"ids": None})
    roles = {m["role"]: m for m in result["list"]}
    assert set(roles) == {"inbox", "drafts", "sent", "trash", "junk", "archive"}
    inbox = roles["inbox"]
    assert set(inbox) == {
        "id",
        "name",
        "parentId",
        "role",
        "sortOrder",
        "totalEmails",
        "unreadEmails",
        "totalThreads",
        "unreadThreads",
        "myRights",
        "isSubscribed",
    }
    assert inbox["parentId"] is None and inbox["isSubscribed"] is True
    assert set(inbox["myRights"]) == RIGHTS and all(inbox["myRights"].values())
    assert inbox["totalEmails"] == inbox["unreadThreads"] == 0
    assert result["notFound"] == []


def test_get_by_ids_properties_and_not_found(alice):
    ids = create(alice, a={"name": "Get me"})
    result = alice.ok("Mailbox/get", {"ids": [ids["a"], ids["a"], "zz9"], "properties": ["name"]})
    assert result["list"] == [{"id": ids["a"], "name": "Get me"}]
    assert result["notFound"] == ["zz9"]


def test_create_returns_server_set_and_defaulted_properties(alice):
    result = alice.ok("Mailbox/set", {"create": {"x": {"name": "Defaults"}}})
    created = result["created"]["x"]
    assert created["id"]
    assert created["sortOrder"] == 0 and created["role"] is None and created["parentId"] is None
    assert created["totalEmails"] == 0 and set(created["myRights"]) == RIGHTS
    assert "name" not in created  # the client knows what it sent
    assert result["oldState"] != result["newState"]


@pytest.mark.parametrize(
    ("mailbox", "bad"),
    [
        ({"name": ""}, ["name"]),
        ({"name": 5}, ["name"]),
        ({"name": "x" * 300}, ["name"]),
        ({"name": "bad\u0000name"}, ["name"]),
        ({"name": "line\nbreak"}, ["name"]),
        ({}, ["name"]),
        ({"name": "ok", "sortOrder": -1}, ["sortOrder"]),
        ({"name": "ok", "sortOrder": 2**31}, ["sortOrder"]),
        ({"name": "ok", "role": "Inbox"}, ["role"]),
        ({"name": "ok", "role": "not-a-registered-role"}, ["role"]),
        ({"name": "ok", "parentId": "nope"}, ["parentId"]),
        ({"name": "ok", "unknownProperty": 1}, ["unknownProperty"]),
        ({"name": "ok", "totalEmails": 0}, ["totalEmails"]),
        ({"name": "ok", "id": "m99"}, ["id"]),
        ({"name": "ok", "myRights": {}}, ["myRights"]),
        ({"name": "ok", "isSubscribed": "yes"}, ["isSubscribed"]),
    ],
)
def test_invalid_creates(alice, mailbox, bad):
    result = alice.ok("Mailbox/set", {"create": {"x": mailbox}})
    assert result["created"] is None
    error = result["notCreated"]["x"]
    assert error["type"] == "invalidProperties"
    assert error["properties"] == bad


def test_sibling_names_must_differ_and_roles_are_unique(alice):
    ids = create(alice, p={"name": "Names parent"})
    ids |= create(alice, a={"name": "Same", "parentId": ids["p"]})
    result = alice.ok(
        "Mailbox/set",
        {
            "create": {
                "dup": {"name": "Same", "parentId": ids["p"]},
                "top": {"name": "Same"},  # same name, other parent: fine
                "role": {"name": "Another inbox", "role": "inbox"},
            }
        },
    )
    # RFC 8620 §5.3 alreadyExists, naming the Mailbox that has the name (issue 7.8)
    dup = result["notCreated"]["dup"]
    assert (dup["type"], dup["existingId"]) == ("alreadyExists", ids["a"])
    assert result["notCreated"]["role"]["properties"] == ["role"]
    assert "top" in result["created"]


def test_update_and_patch_rules(alice):
    ids = create(alice, a={"name": "Patch me"})
    mailbox = ids["a"]
    result = alice.ok(
        "Mailbox/set",
        {"update": {mailbox: {"name": "Patched", "sortOrder": 7, "isSubscribed": False}}},
    )
    assert result["updated"] == {mailbox: None}
    (got,) = alice.ok("Mailbox/get", {"ids": [mailbox]})["list"]
    assert (got["name"], got["sortOrder"], got["isSubscribed"]) == ("Patched", 7, False)
    # null resets to the default
    alice.ok("Mailbox/set", {"update": {mailbox: {"sortOrder": None, "isSubscribed": None}}})
    (got,) = alice.ok("Mailbox/get", {"ids": [mailbox]})["list"]
    assert got["sortOrder"] == 0 and got["isSubscribed"] is True
    # server-set properties may only be "set" to their current value
    same = alice.ok("Mailbox/set", {"update": {mailbox: {"totalEmails": 0, "name": "Again"}}})
    assert same["updated"] == {mailbox: None}
    bad = alice.ok(
        "Mailbox/set",
        {
            "update": {
                mailbox: {"totalEmails": 3},
                "nope": {"name": "x"},
            }
        },
    )
    assert bad["notUpdated"][mailbox]["type"] == "invalidProperties"
    assert bad["notUpdated"][mailbox]["properties"] == ["totalEmails"]
    assert bad["notUpdated"]["nope"]["type"] == "notFound"
    for patch in ({"myRights/mayDelete": False}, {"name/x": "y"}, {"myRights": None}):
        result = alice.ok("Mailbox/set", {"update": {mailbox: patch}})
        assert result["notUpdated"][mailbox]["type"] in ("invalidPatch", "invalidProperties")
    prefix = alice.ok("Mailbox/set", {"update": {mailbox: {"myRights": {}, "myRights/x": 1}}})
    assert prefix["notUpdated"][mailbox]["type"] == "invalidPatch"
    unknown = alice.ok("Mailbox/set", {"update": {mailbox: {"colour": "red"}}})
    assert unknown["notUpdated"][mailbox]["properties"] == ["colour"]


def test_tree_moves_and_cycles_are_refused(alice):
    ids = create(alice, a={"name": "Tree A"})
    ids |= create(alice, b={"name": "Tree B", "parentId": ids["a"]})
    ids |= create(alice, c={"name": "Tree C", "parentId": ids["b"]})
    a, b, c = ids["a"], ids["b"], ids["c"]
    for mailbox, parent in ((a, c), (a, b), (a, a)):
        result = alice.ok("Mailbox/set", {"update": {mailbox: {"parentId": parent}}})
        error = result["notUpdated"][mailbox]
        assert error["type"] == "invalidProperties" and error["properties"] == ["parentId"]
    # a legal move: C goes to the top, then A under C
    alice.ok("Mailbox/set", {"update": {c: {"parentId": None}}})
    result = alice.ok("Mailbox/set", {"update": {a: {"parentId": c}}})
    assert result["updated"] == {a: None}
    got = {m["id"]: m["parentId"] for m in alice.ok("Mailbox/get", {"ids": [a, b, c]})["list"]}
    assert got == {a: c, b: a, c: None}


def test_depth_limit(tmp_path):
    config = tmp_path / "f.toml"
    config.write_text("[limits]\nmax_mailbox_depth = 2\n")
    server = start_server(tmp_path / "d", extra_args=["--config", str(config)])
    try:
        client = server.client("alice@example.com")
        ids = create(client, a={"name": "L1"})
        ids |= create(client, b={"name": "L2", "parentId": ids["a"]})
        result = client.ok("Mailbox/set", {"create": {"c": {"name": "L3", "parentId": ids["b"]}}})
        assert result["notCreated"]["c"]["properties"] == ["parentId"]
    finally:
        server.stop()


def test_destroy_rules(alice):
    ids = create(alice, p={"name": "Destroy parent"})
    ids |= create(alice, c={"name": "Destroy child", "parentId": ids["p"]})
    inbox = next(
        m["id"] for m in alice.ok("Mailbox/get", {"ids": None})["list"] if m["role"] == "inbox"
    )
    result = alice.ok("Mailbox/set", {"destroy": [ids["p"], "nope", inbox]})
    assert result["notDestroyed"][ids["p"]]["type"] == "mailboxHasChild"
    assert result["notDestroyed"]["nope"]["type"] == "notFound"
    assert result["notDestroyed"][inbox]["type"] == "forbidden"
    # parent and child together: fine, whatever the order
    result = alice.ok("Mailbox/set", {"destroy": [ids["p"], ids["c"]]})
    assert sorted(result["destroyed"]) == sorted([ids["p"], ids["c"]])
    assert alice.ok("Mailbox/get", {"ids": [ids["p"]]})["notFound"] == [ids["p"]]


def test_update_of_a_mailbox_destroyed_in_the_same_call(alice):
    ids = create(alice, a={"name": "Doomed"})
    result = alice.ok("Mailbox/set", {"update": {ids["a"]: {"name": "x"}}, "destroy": [ids["a"]]})
    assert result["notUpdated"][ids["a"]]["type"] == "willDestroy"
    assert result["destroyed"] == [ids["a"]]


def test_if_in_state(alice):
    state = alice.ok("Mailbox/get", {"ids": []})["state"]
    ok = alice.ok("Mailbox/set", {"ifInState": state, "create": {"a": {"name": "State 1"}}})
    assert ok["oldState"] == state
    error = alice.fail(
        "Mailbox/set",
        {"accountId": alice.account_id, "ifInState": state, "create": {"b": {"name": "State 2"}}},
    )
    assert error["type"] == "stateMismatch"
    names = {m["name"] for m in alice.ok("Mailbox/get", {"ids": None})["list"]}
    assert "State 2" not in names


def test_too_many_objects_in_set_and_get(alice):
    limit = alice.session["capabilities"]["urn:ietf:params:jmap:core"]["maxObjectsInSet"]
    creates = {f"c{i}": {"name": f"n{i}"} for i in range(limit + 1)}
    error = alice.fail("Mailbox/set", {"accountId": alice.account_id, "create": creates})
    assert error["type"] == "requestTooLarge"
    ids = [f"m{i}" for i in range(501)]
    error = alice.fail("Mailbox/get", {"accountId": alice.account_id, "ids": ids})
    assert error["type"] == "requestTooLarge"


def test_changes_round_trip(fresh):
    start = fresh.ok("Mailbox/get", {"ids": []})["state"]
    ids = create(fresh, a={"name": "Ch A"}, b={"name": "Ch B"}, c={"name": "Ch C"})
    fresh.ok("Mailbox/set", {"update": {ids["a"]: {"name": "Ch A2"}}, "destroy": [ids["c"]]})
    middle = fresh.ok("Mailbox/get", {"ids": []})["state"]
    fresh.ok("Mailbox/set", {"update": {ids["b"]: {"sortOrder": 3}}})
    changes = fresh.ok("Mailbox/changes", {"sinceState": start})
    assert changes["oldState"] == start
    assert sorted(changes["created"]) == sorted([ids["a"], ids["b"]])
    assert changes["updated"] == [] and changes["destroyed"] == []  # c came and went
    assert changes["hasMoreChanges"] is False
    assert changes["updatedProperties"] is None
    since_middle = fresh.ok("Mailbox/changes", {"sinceState": middle})
    assert since_middle["updated"] == [ids["b"]] and since_middle["created"] == []
    now = fresh.ok("Mailbox/changes", {"sinceState": since_middle["newState"]})
    assert now["created"] == now["updated"] == now["destroyed"] == []
    assert now["newState"] == since_middle["newState"]
    assert fresh.ok("Mailbox/get", {"ids": []})["state"] == now["newState"]


def test_changes_paging_with_max_changes(fresh):
    start = fresh.ok("Mailbox/get", {"ids": []})["state"]
    made = create(fresh, **{f"p{i}": {"name": f"Page {i}"} for i in range(7)})
    fresh.ok("Mailbox/set", {"destroy": [made["p0"]]})
    seen_created, seen_destroyed, state, pages = set(), set(), start, 0
    while True:
        page = fresh.ok("Mailbox/changes", {"sinceState": state, "maxChanges": 3})
        assert len(page["created"]) + len(page["updated"]) + len(page["destroyed"]) <= 3
        seen_created |= set(page["created"])
        seen_destroyed |= set(page["destroyed"])
        state, pages = page["newState"], pages + 1
        if not page["hasMoreChanges"]:
            break
    assert pages == 3
    assert seen_created == set(made.values())
    assert seen_destroyed == {made["p0"]}
    assert state == fresh.ok("Mailbox/get", {"ids": []})["state"]


@pytest.mark.parametrize("state", ["bogus", "s999999", "s-1", "x1"])
def test_changes_from_unknown_states(alice, state):
    error = alice.fail("Mailbox/changes", {"accountId": alice.account_id, "sinceState": state})
    assert error["type"] == "cannotCalculateChanges"
    error = alice.fail(
        "Mailbox/changes", {"accountId": alice.account_id, "sinceState": "s0", "maxChanges": 0}
    )
    assert error["type"] == "invalidArguments"


def test_query_filters_and_sorts(fresh):
    ids = create(fresh, w={"name": "Work", "sortOrder": 10}, h={"name": "home", "sortOrder": 10})
    ids |= create(fresh, r={"name": "Reports", "parentId": ids["w"], "isSubscribed": False})
    inbox = next(
        m["id"] for m in fresh.ok("Mailbox/get", {"ids": None})["list"] if m["role"] == "inbox"
    )

    def query(**args):
        return fresh.ok("Mailbox/query", args)["ids"]

    assert query(filter={"parentId": ids["w"]}) == [ids["r"]]
    assert set(query(filter={"parentId": None})) >= {ids["w"], ids["h"], inbox}
    assert ids["r"] not in query(filter={"parentId": None})
    assert query(filter={"name": "REPORT"}) == [ids["r"]]
    assert query(filter={"role": "inbox"}) == [inbox]
    assert set(query(filter={"role": None})) == {ids["w"], ids["h"], ids["r"]}
    assert len(query(filter={"hasAnyRole": True})) == 6
    assert query(filter={"isSubscribed": False}) == [ids["r"]]
    assert (
        query(filter={"operator": "NOT", "conditions": [{"hasAnyRole": True}, {"name": "o"}]}) == []
    )
    assert set(
        query(filter={"operator": "OR", "conditions": [{"name": "work"}, {"name": "home"}]})
    ) == {ids["w"], ids["h"]}
    # default order: sortOrder, then name (Unicode, case-insensitive)
    everything = query()
    assert everything[:6] != [] and everything.index(ids["h"]) < everything.index(ids["w"])
    by_name_desc = query(sort=[{"property": "name", "isAscending": False}])
    assert by_name_desc[0] == ids["w"]  # "Work" > "Trash" > "Sent" ...
    octet = query(sort=[{"property": "name", "collation": "i;octet"}], filter={"role": None})
    assert octet == [ids["r"], ids["w"], ids["h"]]  # "R" < "W" < "h" byte-wise
    error = fresh.fail(
        "Mailbox/query", {"accountId": fresh.account_id, "sort": [{"property": "colour"}]}
    )
    assert error["type"] == "unsupportedSort"
    error = fresh.fail(
        "Mailbox/query",
        {"accountId": fresh.account_id, "sort": [{"property": "name", "collation": "i;klingon"}]},
    )
    assert error["type"] == "unsupportedSort"
    error = fresh.fail(
        "Mailbox/query", {"accountId": fresh.account_id, "filter": {"colour": "red"}}
    )
    assert error["type"] == "invalidArguments"


def test_query_windows_and_total(fresh):
    all_ids = fresh.ok("Mailbox/query", {})["ids"]
    assert len(all_ids) == 6
    page = fresh.ok("Mailbox/query", {"position": 2, "limit": 2, "calculateTotal": True})
    assert page["ids"] == all_ids[2:4] and page["position"] == 2 and page["total"] == 6
    assert "total" not in fresh.ok("Mailbox/query", {})
    assert fresh.ok("Mailbox/query", {"position": -2})["ids"] == all_ids[-2:]
    assert fresh.ok("Mailbox/query", {"position": -99})["ids"] == all_ids
    assert fresh.ok("Mailbox/query", {"position": 99})["ids"] == []
    anchored = fresh.ok("Mailbox/query", {"anchor": all_ids[3], "anchorOffset": -1, "limit": 2})
    assert anchored["ids"] == all_ids[2:4] and anchored["position"] == 2
    clamped = fresh.ok("Mailbox/query", {"anchor": all_ids[1], "anchorOffset": -5})
    assert clamped["position"] == 0
    error = fresh.fail("Mailbox/query", {"accountId": fresh.account_id, "anchor": "zz"})
    assert error["type"] == "anchorNotFound"
    error = fresh.fail("Mailbox/query", {"accountId": fresh.account_id, "limit": -1})
    assert error["type"] == "invalidArguments"


def test_sort_as_tree_and_filter_as_tree(fresh):
    ids = create(
        fresh, a={"name": "A tree", "sortOrder": 20}, z={"name": "Z tree", "sortOrder": 20}
    )
    ids |= create(
        fresh,
        a1={"name": "zz child", "parentId": ids["a"]},
        z1={"name": "aa child", "parentId": ids["z"]},
    )
    ids |= create(fresh, a11={"name": "grandchild", "parentId": ids["a1"]})
    tree = fresh.ok("Mailbox/query", {"sortAsTree": True, "filter": {"hasAnyRole": False}})["ids"]
    assert tree == [ids["a"], ids["a1"], ids["a11"], ids["z"], ids["z1"]]
    flat = fresh.ok(
        "Mailbox/query", {"filter": {"hasAnyRole": False}, "sort": [{"property": "name"}]}
    )["ids"]
    # "A tree" < "aa child" < "grandchild" < "Z tree" < "zz child", case-insensitively
    assert flat == [ids["a"], ids["z1"], ids["a11"], ids["z"], ids["a1"]]
    # filterAsTree: a match counts only if all its ancestors match too
    matches = {"name": "child"}
    assert set(fresh.ok("Mailbox/query", {"filter": matches})["ids"]) == {
        ids["a1"],
        ids["z1"],
        ids["a11"],
    }
    assert fresh.ok("Mailbox/query", {"filter": matches, "filterAsTree": True})["ids"] == []
    tree_filter = {"operator": "OR", "conditions": [{"name": "tree"}, {"name": "child"}]}
    result = fresh.ok(
        "Mailbox/query", {"filter": tree_filter, "filterAsTree": True, "sortAsTree": True}
    )["ids"]
    assert result == [ids["a"], ids["a1"], ids["a11"], ids["z"], ids["z1"]]


def test_query_changes_agrees_with_running_the_query_again(fresh):
    args = {"filter": {"hasAnyRole": False}, "sort": [{"property": "name"}]}
    ids = create(fresh, a={"name": "qc a"}, b={"name": "qc b"}, c={"name": "qc c"})
    before = fresh.ok("Mailbox/query", args)
    fresh.ok(
        "Mailbox/set",
        {
            "create": {"d": {"name": "qc 0 first"}},
            "update": {ids["c"]: {"name": "qc aa"}},
            "destroy": [ids["b"]],
        },
    )
    after = fresh.ok("Mailbox/query", args)
    changes = fresh.ok(
        "Mailbox/queryChanges",
        {**args, "sinceQueryState": before["queryState"], "calculateTotal": True},
    )
    assert changes["oldQueryState"] == before["queryState"]
    assert changes["newQueryState"] == after["queryState"]
    assert changes["total"] == len(after["ids"])
    # apply the changes to the old list: the result must be the new list
    patched = [i for i in before["ids"] if i not in set(changes["removed"])]
    for item in sorted(changes["added"], key=lambda a: a["index"]):
        patched.insert(item["index"], item["id"])
    assert patched == after["ids"]
    assert [a["index"] for a in changes["added"]] == sorted(a["index"] for a in changes["added"])
    assert ids["b"] in changes["removed"]
    # nothing changed since: nothing to report
    idle = fresh.ok("Mailbox/queryChanges", {**args, "sinceQueryState": after["queryState"]})
    assert idle["added"] == [] and idle["removed"] == []
    # too many changes for maxChanges
    error = fresh.fail(
        "Mailbox/queryChanges",
        {
            "accountId": fresh.account_id,
            **args,
            "sinceQueryState": before["queryState"],
            "maxChanges": 1,
        },
    )
    assert error["type"] == "tooManyChanges"
    error = fresh.fail(
        "Mailbox/queryChanges",
        {"accountId": fresh.account_id, **args, "sinceQueryState": "nonsense"},
    )
    assert error["type"] == "cannotCalculateChanges"


def test_query_changes_up_to_id(fresh):
    args = {"filter": {"hasAnyRole": False}, "sort": [{"property": "name"}]}
    ids = create(fresh, a={"name": "u a"}, c={"name": "u c"}, e={"name": "u e"})
    before = fresh.ok("Mailbox/query", args)
    new = create(fresh, b={"name": "u b"}, f={"name": "u f"})
    changes = fresh.ok(
        "Mailbox/queryChanges",
        {**args, "sinceQueryState": before["queryState"], "upToId": ids["c"]},
    )
    assert changes["added"] == [{"id": new["b"], "index": 1}]


def test_read_only_shared_account(tmp_path):

    server = start_server(tmp_path / "d")
    try:
        owner = server.client("alice@example.com")
        guest = server.client("bob@example.com")
        server.share("alice@example.com", "bob@example.com", read_only=True)
        shared = owner.account_id
        name, result = guest.call("Mailbox/get", {"accountId": shared, "ids": None})
        assert name == "Mailbox/get" and len(result["list"]) == 6
        rights = result["list"][0]["myRights"]
        assert rights["mayReadItems"] is True and rights["mayDelete"] is False
        error = guest.fail("Mailbox/set", {"accountId": shared, "create": {"x": {"name": "Nope"}}})
        assert error["type"] == "accountReadOnly"
    finally:
        server.stop()


def test_is_subscribed_is_per_user_in_shared_accounts(tmp_path):
    server = start_server(tmp_path / "d")
    try:
        owner = server.client("alice@example.com")
        guest = server.client("bob@example.com")
        server.share("alice@example.com", "bob@example.com")
        shared = owner.account_id
        mailbox = create(owner, a={"name": "Shared folder", "isSubscribed": False})["a"]

        def flag(client):
            _, result = client.call("Mailbox/get", {"accountId": shared, "ids": [mailbox]})
            (got,) = result["list"]
            assert "subscribers" not in got  # bookkeeping stays inside the server
            return got["isSubscribed"]

        assert (flag(owner), flag(guest)) == (False, False)
        _, result = guest.call(
            "Mailbox/set", {"accountId": shared, "update": {mailbox: {"isSubscribed": True}}}
        )
        assert result["updated"] == {mailbox: None}
        assert (flag(owner), flag(guest)) == (False, True)
        owner.ok("Mailbox/set", {"update": {mailbox: {"isSubscribed": True, "name": "Renamed"}}})
        guest.call(
            "Mailbox/set", {"accountId": shared, "update": {mailbox: {"isSubscribed": False}}}
        )
        assert (flag(owner), flag(guest)) == (True, False)
        # other properties edited by the guest are the Mailbox's own
        guest.call("Mailbox/set", {"accountId": shared, "update": {mailbox: {"sortOrder": 4}}})
        (got,) = owner.ok("Mailbox/get", {"ids": [mailbox]})["list"]
        assert (got["name"], got["sortOrder"], got["isSubscribed"]) == ("Renamed", 4, True)
    finally:
        server.stop()


def test_values_the_server_changes_are_reported(alice):
    decomposed = "Cafe\u0301"  # "Café" as e + combining acute; stored in NFC
    result = alice.ok(
        "Mailbox/set", {"create": {"n": {"name": decomposed}, "p": {"name": "Plain NFC"}}}
    )
    assert result["created"]["n"]["name"] == "Caf\u00e9"
    assert "name" not in result["created"]["p"]
    mailbox = result["created"]["n"]["id"]
    update = alice.ok("Mailbox/set", {"update": {mailbox: {"name": "Cre\u0300me"}}})
    assert update["updated"] == {mailbox: {"name": "Cr\u00e8me"}}
    plain = alice.ok("Mailbox/set", {"update": {mailbox: {"sortOrder": 2}}})
    assert plain["updated"] == {mailbox: None}
