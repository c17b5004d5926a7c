"""Mailbox/set rules over HTTP: destroy order, the per-account limit, SetErrors that name
every invalid property, alreadyExists (issues 7.6, 7.8, 8.3, 8.12)."""

from __future__ import annotations

from tests.conftest import start_server
from tests.mail.conftest import import_raw, message


def create(client, **mailboxes):
    result = client.ok("Mailbox/set", {"create": mailboxes})
    assert not result["notCreated"], result["notCreated"]
    return {cid: created["id"] for cid, created in result["created"].items()}


def test_parent_survives_when_its_childs_destroy_fails(alice):
    """RFC 8621 §2.5: a Mailbox with a child is refused with mailboxHasChild; when the
    child's own destroy fails (mailboxHasEmail), the parent must stay, whatever the order."""
    ids = create(alice, p={"name": "Kept parent"})
    ids |= create(alice, c={"name": "Full child", "parentId": ids["p"]})
    import_raw(alice, [message("Keeps the child")], ids["c"])
    result = alice.ok("Mailbox/set", {"destroy": [ids["p"], ids["c"]]})
    assert result["destroyed"] is None
    assert result["notDestroyed"][ids["c"]]["type"] == "mailboxHasEmail"
    assert result["notDestroyed"][ids["p"]]["type"] == "mailboxHasChild"
    got = alice.ok("Mailbox/get", {"ids": [ids["p"], ids["c"]]})
    assert {m["id"]: m["parentId"] for m in got["list"]} == {ids["p"]: None, ids["c"]: ids["p"]}


def test_three_levels_destroyed_in_one_call_parent_first(alice):
    ids = create(alice, a={"name": "Level 1"})
    ids |= create(alice, b={"name": "Level 2", "parentId": ids["a"]})
    ids |= create(alice, c={"name": "Level 3", "parentId": ids["b"]})
    result = alice.ok("Mailbox/set", {"destroy": [ids["a"], ids["b"], ids["c"]]})
    assert sorted(result["destroyed"]) == sorted(ids.values())
    assert result["notDestroyed"] is None


def test_duplicate_sibling_name_answers_already_exists(alice):
    """RFC 8620 §5.3: alreadyExists carries existingId, the Mailbox holding the name; also
    on an update that renames into a taken name."""
    ids = create(alice, p={"name": "Dup parent"})
    ids |= create(alice, a={"name": "Taken", "parentId": ids["p"]}, b={"name": "Free"})
    result = alice.ok("Mailbox/set", {"create": {"x": {"name": "Taken", "parentId": ids["p"]}}})
    assert result["notCreated"]["x"] == {
        "type": "alreadyExists",
        "description": "A sibling Mailbox has that name.",
        "existingId": ids["a"],
    }
    result = alice.ok(
        "Mailbox/set", {"update": {ids["b"]: {"name": "Taken", "parentId": ids["p"]}}}
    )
    error = result["notUpdated"][ids["b"]]
    assert (error["type"], error["existingId"]) == ("alreadyExists", ids["a"])
    # two creates of one call with the same name: the second finds the first
    result = alice.ok("Mailbox/set", {"create": {"one": {"name": "Twin"}, "two": {"name": "Twin"}}})
    assert result["notCreated"]["two"]["existingId"] == result["created"]["one"]["id"]


def test_every_invalid_property_is_named_at_once(alice):
    """RFC 8620 §5.3: invalidProperties lists all the invalid properties, not the first."""
    result = alice.ok(
        "Mailbox/set",
        {
            "create": {
                "generic": {"name": 7, "sortOrder": -1, "totalEmails": 3, "bogus": True},
                "rules": {"name": "Bad\x00name", "role": "nonsense", "parentId": "mnone"},
                "empty": {},
            }
        },
    )
    errors = result["notCreated"]
    assert errors["generic"]["properties"] == ["bogus", "name", "sortOrder", "totalEmails"]
    assert errors["rules"]["properties"] == ["name", "parentId", "role"]
    assert errors["empty"]["properties"] == ["name"]
    assert result["created"] is None


def test_mailbox_limit_per_account(tmp_path):
    """A server limit on the number of Mailboxes: RFC 8620 §5.3 overQuota ("the create
    would exceed a server-defined limit on the number ... of objects of this type";
    RFC 8621 §2.5 adds no SetError for it). Advertised in the mail account capability."""
    config = tmp_path / "f.toml"
    config.write_text("[limits]\nmax_mailboxes_per_account = 8\n")
    server = start_server(tmp_path / "d", extra_args=["--config", str(config)])
    try:
        client = server.client("alice@example.com")  # 6 standard Mailboxes
        capability = client.session["accounts"][client.account_id]["accountCapabilities"]
        assert capability["urn:ietf:params:jmap:mail"]["fulmar:maxMailboxesPerAccount"] == 8
        result = client.ok(
            "Mailbox/set", {"create": {f"c{i}": {"name": f"Box {i}"} for i in range(4)}}
        )
        assert sorted(result["created"]) == ["c0", "c1"]
        assert {e["type"] for e in result["notCreated"].values()} == {"overQuota"}
        victim = result["created"]["c0"]["id"]
        # creates are done before destroys (RFC 8620 §5.3), so this destroy comes too late
        result = client.ok("Mailbox/set", {"destroy": [victim], "create": {"n": {"name": "New"}}})
        assert result["notCreated"]["n"]["type"] == "overQuota"
        client.ok("Mailbox/set", {"destroy": [victim]})
        assert "n" in client.ok("Mailbox/set", {"create": {"n": {"name": "New"}}})["created"]
    finally:
        server.stop()
    assert "Traceback" not in server.log()
