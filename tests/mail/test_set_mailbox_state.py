"""The Mailbox state moves when, and only when, a Mailbox's counters move (issue 7.11).

Mailbox objects change through their counters (RFC 8621 §2: totalEmails, unreadEmails,
totalThreads, unreadThreads); a keyword that changes none of them, such as ``$flagged``,
must not make every client re-fetch every Mailbox (RFC 8620 §5.2: /changes lists the
objects that changed).
"""

from __future__ import annotations

import random

from .conftest import COUNTERS, import_raw, mailboxes, message, upload


def counters(client) -> dict[str, dict[str, int]]:
    listed = client.ok("Mailbox/get", {"ids": None})["list"]
    return {m["id"]: {c: m[c] for c in COUNTERS} for m in listed}


def mailbox_state(client) -> str:
    return client.ok("Mailbox/get", {"ids": []})["state"]


def test_flagged_leaves_the_mailbox_state_alone(fresh):
    boxes = mailboxes(fresh)
    (email,) = import_raw(fresh, [message("Flag me")], boxes["inbox"])
    before = mailbox_state(fresh)
    email_state = fresh.ok("Email/get", {"ids": []})["state"]
    result = fresh.ok("Email/set", {"update": {email: {"keywords/$flagged": True}}})
    assert result["updated"] == {email: None}
    assert fresh.ok("Email/get", {"ids": []})["state"] != email_state
    assert mailbox_state(fresh) == before
    changes = fresh.ok("Mailbox/changes", {"sinceState": before})
    assert changes["updated"] == [] and changes["newState"] == before
    # $seen changes unreadEmails and unreadThreads of the inbox, and of nothing else
    fresh.ok("Email/set", {"update": {email: {"keywords/$seen": True}}})
    changes = fresh.ok("Mailbox/changes", {"sinceState": before})
    assert changes["updated"] == [boxes["inbox"]]
    assert sorted(changes["updatedProperties"]) == sorted(COUNTERS)


def test_state_moves_exactly_with_the_counters(fresh):
    """Random keyword, move, create and destroy operations; after each, the Mailboxes
    /changes reports are exactly those whose counters differ."""
    boxes = mailboxes(fresh)
    ids = list(boxes.values())
    rng = random.Random(7)
    emails = import_raw(
        fresh,
        [
            message(
                f"Thread {n % 3}",
                in_reply_to=f"root{n % 3}@x" if n >= 3 else None,
                message_id=f"root{n}@x" if n < 3 else None,
            )
            for n in range(8)
        ],
        boxes["inbox"],
    )

    def check(step: int, method: str, args: dict) -> dict:
        """Make one method call; the Mailboxes it reports changed are those it moved."""
        before, state = counters(fresh), mailbox_state(fresh)
        result = fresh.ok(method, args)
        after = counters(fresh)
        moved = sorted(m for m in after if after[m] != before.get(m))
        changes = fresh.ok("Mailbox/changes", {"sinceState": state})
        assert sorted(changes["updated"]) == moved, (step, method, args)
        assert (changes["newState"] == state) == (not moved), step
        return result

    for step in range(40):
        email = rng.choice(emails)
        keyword = rng.choice(["$seen", "$flagged", "$draft", "work"])
        choice = rng.randrange(5)
        if choice == 4:
            check(step, "Email/set", {"destroy": [email]})
            emails.remove(email)
            raw = message(f"Thread {step % 3}", body=str(step), in_reply_to="root1@x")
            item = {"blobId": upload(fresh, raw), "mailboxIds": {rng.choice(ids): True}}
            created = check(step, "Email/import", {"emails": {"n": item}})["created"]
            emails.append(created["n"]["id"])
            continue
        patch = [
            {f"keywords/{keyword}": True},
            {f"keywords/{keyword}": None},
            {"mailboxIds": {m: True for m in rng.sample(ids, rng.randint(1, 2))}},
            {f"mailboxIds/{rng.choice(ids)}": True},
        ][choice]
        check(step, "Email/set", {"update": {email: patch}})
