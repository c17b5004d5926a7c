"""Mailbox unreadThreads with the trash rule of RFC 8621 §2, over HTTP.

Every step compares every Mailbox's four counters with a recount from the Emails
(``assert_counters_exact``), and the steps where the trash rule makes a difference also
check the numbers themselves, so a wrong oracle cannot hide a wrong index.
"""

from __future__ import annotations

import random
from typing import Any

from .conftest import assert_counters_exact, import_raw, mailboxes, message, utc


def unread_threads(client: Any) -> dict[str, int]:
    """unreadThreads by Mailbox id, after checking all counters against the recount."""
    assert_counters_exact(client)
    listed = client.ok("Mailbox/get", {"ids": None})["list"]
    return {m["id"]: m["unreadThreads"] for m in listed}


def set_emails(client: Any, update: dict[str, Any]) -> None:
    result = client.ok("Email/set", {"update": update})
    assert sorted(result["updated"]) == sorted(update), result


def set_mailboxes(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    result = client.ok("Mailbox/set", args)
    for failed in ("notCreated", "notUpdated", "notDestroyed"):
        assert not result[failed], result
    return result


def mailbox_state(client: Any) -> str:
    return client.ok("Mailbox/get", {"ids": []})["state"]


def assert_all_counters_changed(client: Any, since: str, moved: set[str]) -> None:
    """Mailbox/changes names every Mailbox (those whose role moved, and the others for
    their counters), so a client refetches every unreadThreads."""
    changes = client.ok("Mailbox/changes", {"sinceState": since})
    everyone = set(mailboxes(client).values())
    assert set(changes["updated"]) | set(changes["destroyed"]) == everyone | moved


def test_unread_threads_apply_the_trash_rule(fresh):
    boxes = mailboxes(fresh)
    inbox, archive, trash = boxes["inbox"], boxes["archive"], boxes["trash"]
    root, reply = import_raw(
        fresh,
        [
            message("Trip", message_id="trip@x"),
            message("Re: Trip", message_id="trip2@x", in_reply_to="trip@x"),
        ],
        inbox,
        received=[utc(1), utc(2)],
    )
    (lone,) = import_raw(fresh, [message("Lone", message_id="lone@x")], trash)
    got = unread_threads(fresh)
    assert (got[inbox], got[trash]) == (1, 1)

    # the reply goes to the trash: both sides of the thread have unread mail
    set_emails(fresh, {reply: {"mailboxIds": {trash: True}}})
    got = unread_threads(fresh)
    assert (got[inbox], got[trash]) == (1, 2)

    # the root is read: the unread reply is only in the trash, so the inbox ignores it
    set_emails(fresh, {root: {"keywords/$seen": True}})
    got = unread_threads(fresh)
    assert (got[inbox], got[trash]) == (0, 2)

    # the reply is read, then the root is unread again: the trash ignores the inbox's root
    set_emails(fresh, {reply: {"keywords/$seen": True}})
    set_emails(fresh, {root: {"keywords/$seen": None}})
    got = unread_threads(fresh)
    assert (got[inbox], got[trash]) == (1, 1)

    # a draft is not unread, wherever it is
    set_emails(fresh, {lone: {"keywords/$draft": True}})
    got = unread_threads(fresh)
    assert got[trash] == 0
    set_emails(fresh, {lone: {"keywords/$draft": None}})

    # the reply unread again, and in the archive as well as the trash: both sides see it
    set_emails(fresh, {reply: {"keywords/$seen": None, f"mailboxIds/{archive}": True}})
    set_emails(fresh, {root: {"keywords/$seen": True}})
    got = unread_threads(fresh)
    assert (got[inbox], got[archive], got[trash]) == (1, 1, 2)

    # out of the archive: only in the trash now, so the inbox and the archive ignore it
    set_emails(fresh, {reply: {f"mailboxIds/{archive}": None}})
    got = unread_threads(fresh)
    assert (got[inbox], got[archive], got[trash]) == (0, 0, 2)

    # back out of the trash into the inbox: the trash no longer holds the thread
    set_emails(fresh, {reply: {"mailboxIds": {inbox: True}}})
    got = unread_threads(fresh)
    assert (got[inbox], got[trash]) == (1, 1)

    # the root moves to the trash (read), the reply stays unread in the inbox
    set_emails(fresh, {root: {"mailboxIds": {trash: True}}})
    got = unread_threads(fresh)
    assert (got[inbox], got[trash]) == (1, 1)

    # destroy the unread reply: nothing unread left in the thread
    assert fresh.ok("Email/set", {"destroy": [reply]})["destroyed"] == [reply]
    got = unread_threads(fresh)
    assert (got[inbox], got[trash]) == (0, 1)
    assert fresh.ok("Email/set", {"destroy": [lone]})["destroyed"] == [lone]
    got = unread_threads(fresh)
    assert got[trash] == 0


def test_trash_role_moves_recount_every_mailbox(fresh):
    boxes = mailboxes(fresh)
    inbox, archive, trash = boxes["inbox"], boxes["archive"], boxes["trash"]
    root, reply, both = import_raw(
        fresh,
        [
            message("Plan", message_id="plan@x"),
            message("Re: Plan", message_id="plan2@x", in_reply_to="plan@x"),
            message("Both", message_id="both@x"),
        ],
        inbox,
        received=[utc(1), utc(2), utc(3)],
    )
    set_emails(
        fresh,
        {
            root: {"keywords/$seen": True},
            reply: {"mailboxIds": {trash: True}},
            both: {"mailboxIds": {archive: True, trash: True}},
        },
    )
    got = unread_threads(fresh)
    assert (got[inbox], got[archive], got[trash]) == (0, 1, 2)

    # the trash loses its role: no Mailbox is treated apart any more
    before = mailbox_state(fresh)
    set_mailboxes(fresh, {"update": {trash: {"role": None}}})
    assert_all_counters_changed(fresh, before, {trash})
    got = unread_threads(fresh)
    assert (got[inbox], got[archive], got[trash]) == (1, 1, 2)

    # the archive becomes the trash
    before = mailbox_state(fresh)
    set_mailboxes(fresh, {"update": {archive: {"role": "trash"}}})
    assert_all_counters_changed(fresh, before, {archive})
    got = unread_threads(fresh)
    # "both" is in the archive (now trash) and the old trash: counted on both sides
    assert (got[inbox], got[archive], got[trash]) == (1, 1, 2)

    # the reply moves into the new trash: the inbox's thread has unread mail only there
    set_emails(fresh, {reply: {"mailboxIds": {archive: True}}})
    got = unread_threads(fresh)
    assert (got[inbox], got[archive], got[trash]) == (0, 2, 1)

    # the role moves back in one /set: taken from the archive, given to the old trash
    before = mailbox_state(fresh)
    set_mailboxes(fresh, {"update": {archive: {"role": None}, trash: {"role": "trash"}}})
    assert_all_counters_changed(fresh, before, {archive, trash})
    got = unread_threads(fresh)
    assert (got[inbox], got[archive], got[trash]) == (1, 2, 1)

    # the trash is destroyed with its Emails: "both" stays in the archive, now unread there
    # as in any Mailbox, and no Mailbox is the trash
    before = mailbox_state(fresh)
    result = set_mailboxes(fresh, {"destroy": [trash], "onDestroyRemoveEmails": True})
    assert result["destroyed"] == [trash]
    assert_all_counters_changed(fresh, before, {trash})
    got = unread_threads(fresh)
    assert (got[inbox], got[archive]) == (1, 2)

    # a new trash, created empty, then given mail
    created = set_mailboxes(fresh, {"create": {"t": {"name": "Bin", "role": "trash"}}})
    bin_id = created["created"]["t"]["id"]
    got = unread_threads(fresh)
    assert (got[inbox], got[archive], got[bin_id]) == (1, 2, 0)
    set_emails(
        fresh,
        {root: {"mailboxIds": {bin_id: True}, "keywords": {}}, reply: {"keywords/$seen": True}},
    )
    got = unread_threads(fresh)
    # the root is unread but only in the bin, the reply in the archive is read: the archive
    # counts only the thread of "both"
    assert (got[inbox], got[archive], got[bin_id]) == (0, 1, 1)

    # an empty trash is destroyed
    set_emails(fresh, {root: {"mailboxIds": {inbox: True}}})
    before = mailbox_state(fresh)
    set_mailboxes(fresh, {"destroy": [bin_id]})
    assert_all_counters_changed(fresh, before, {bin_id})
    got = unread_threads(fresh)
    assert (got[inbox], got[archive]) == (1, 2)


def test_a_failed_trash_destroy_changes_nothing(fresh):
    trash = mailboxes(fresh)["trash"]
    import_raw(fresh, [message("Kept")], trash)
    before = mailbox_state(fresh)
    result = fresh.ok("Mailbox/set", {"destroy": [trash]})
    assert result["notDestroyed"][trash]["type"] == "mailboxHasEmail"
    assert mailbox_state(fresh) == before
    assert unread_threads(fresh)[trash] == 1


def test_random_walk_keeps_counters_exact(fresh):
    """A fixed-seed mix of imports, keyword changes, moves, destroys and trash role moves;
    the counters match the recount after every step."""
    rng = random.Random(8621)
    extra = set_mailboxes(fresh, {"create": {"x": {"name": "Extra"}}})["created"]["x"]["id"]
    boxes = [*mailboxes(fresh).values()]
    assert extra in boxes
    emails: dict[str, str] = {}  # Email id -> its Message-ID
    seen_actions: set[str] = set()
    for step in range(80):
        action = rng.choice(("import", "import", "keywords", "move", "move", "destroy", "role"))
        if action == "import" or not emails:
            action = "import"
            parent = rng.choice([*emails.values(), None, None])
            message_id = f"walk{step}@x"
            (new,) = import_raw(
                fresh,
                [message("Walk", message_id=message_id, in_reply_to=parent)],
                rng.choice(boxes),
                keywords=rng.choice(({}, {"$seen": True}, {"$draft": True})),
            )
            emails[new] = message_id
        elif action == "keywords":
            keywords = rng.choice(({}, {"$seen": True}, {"$draft": True}, {"$flagged": True}))
            set_emails(fresh, {rng.choice([*emails]): {"keywords": keywords}})
        elif action == "move":
            chosen = rng.sample(boxes, rng.randint(1, 3))
            set_emails(fresh, {rng.choice([*emails]): {"mailboxIds": dict.fromkeys(chosen, True)}})
        elif action == "destroy":
            gone = rng.choice([*emails])
            del emails[gone]
            assert fresh.ok("Email/set", {"destroy": [gone]})["destroyed"] == [gone]
        else:
            _move_trash_role(fresh, rng.choice([*boxes, None]))
        seen_actions.add(action)
        assert_counters_exact(fresh)
    assert len(seen_actions) == 5
    got = fresh.ok("Email/get", {"ids": [*emails], "properties": ["threadId"]})["list"]
    assert len({e["threadId"] for e in got}) < len(got)  # some threads hold several Emails


def _move_trash_role(client: Any, target: str | None) -> None:
    """Give the trash role to ``target`` (None: to no Mailbox), in one Mailbox/set."""
    listed = client.ok("Mailbox/get", {"ids": None})["list"]
    holders = [m["id"] for m in listed if m["role"] == "trash"]
    if target in holders:
        return
    update: dict[str, Any] = {m: {"role": None} for m in holders}
    if target is not None:
        update[target] = {"role": "trash"}
    if update:
        set_mailboxes(client, {"update": update})
