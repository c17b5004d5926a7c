"""Threads, Email/Thread/Mailbox /changes round trips and exact Mailbox counters."""

from __future__ import annotations

from .conftest import assert_counters_exact, import_raw, mailboxes, message, utc


def changes(client, type_name, since):
    result = client.ok(f"{type_name}/changes", {"sinceState": since})
    assert result["oldState"] == since and not result["hasMoreChanges"]
    return result


def states(client):
    return {t: client.ok(f"{t}/get", {"ids": []})["state"] for t in ("Email", "Thread", "Mailbox")}


def test_threading_by_references_and_subject(fresh):
    inbox = mailboxes(fresh)["inbox"]
    first, reply, other, same_subject = import_raw(
        fresh,
        [
            message("Plans", message_id="root@x"),
            message("Re: Plans", message_id="reply@x", in_reply_to="root@x"),
            message("Different", message_id="other@x", in_reply_to="root@x"),
            message("Plans", message_id="unrelated@x"),
        ],
        inbox,
        received=[utc(2), utc(1), utc(3), utc(4)],
    )
    got = fresh.ok(
        "Email/get", {"ids": [first, reply, other, same_subject], "properties": ["threadId"]}
    )
    threads = {e["id"]: e["threadId"] for e in got["list"]}
    assert threads[first] == threads[reply]
    assert threads[other] != threads[first]  # a reference alone does not thread
    assert threads[same_subject] != threads[first]  # nor does a subject alone
    (thread,) = fresh.ok("Thread/get", {"ids": [threads[first]]})["list"]
    assert thread == {"id": threads[first], "emailIds": [reply, first]}  # by receivedAt
    # a later reply in another request joins the same thread
    (late,) = import_raw(
        fresh,
        [message("Re: Plans", message_id="late@x", in_reply_to="reply@x")],
        inbox,
        received=[utc(5)],
    )
    (thread,) = fresh.ok("Thread/get", {"ids": [threads[first]]})["list"]
    assert thread["emailIds"] == [reply, first, late]
    assert fresh.ok("Thread/get", {"ids": ["Tnope"]})["notFound"] == ["Tnope"]


def test_state_changes_round_trip(fresh):
    boxes = mailboxes(fresh)
    inbox, archive = boxes["inbox"], boxes["archive"]
    before = states(fresh)
    a, b = import_raw(
        fresh,
        [
            message("One", message_id="one@x"),
            message("Re: One", message_id="two@x", in_reply_to="one@x"),
        ],
        inbox,
    )
    after_import = states(fresh)
    assert all(after_import[t] != before[t] for t in before)
    email = changes(fresh, "Email", before["Email"])
    assert sorted(email["created"]) == sorted([a, b]) and not email["updated"]
    thread = changes(fresh, "Thread", before["Thread"])
    assert len(thread["created"]) == 1
    mailbox = changes(fresh, "Mailbox", before["Mailbox"])
    assert mailbox["updated"] == [inbox] and mailbox["updatedProperties"] == [
        "totalEmails", "unreadEmails", "totalThreads", "unreadThreads",
    ]  # fmt: skip
    assert_counters_exact(fresh)

    # keyword change: Email updated, Thread unchanged, Mailbox counters changed
    result = fresh.ok("Email/set", {"update": {a: {"keywords/$seen": True}}})
    assert result["updated"] == {a: None}
    email = changes(fresh, "Email", after_import["Email"])
    assert email["updated"] == [a] and not email["created"]
    assert changes(fresh, "Thread", after_import["Thread"])["updated"] == []
    assert changes(fresh, "Mailbox", after_import["Mailbox"])["updated"] == [inbox]
    assert_counters_exact(fresh)

    # move, then destroy
    after_seen = states(fresh)
    fresh.ok("Email/set", {"update": {b: {"mailboxIds": {archive: True}}}})
    assert sorted(changes(fresh, "Mailbox", after_seen["Mailbox"])["updated"]) == sorted(
        [inbox, archive]
    )
    assert_counters_exact(fresh)
    after_move = states(fresh)
    result = fresh.ok("Email/set", {"destroy": [a, "Mnope"]})
    assert result["destroyed"] == [a] and result["notDestroyed"]["Mnope"]["type"] == "notFound"
    assert changes(fresh, "Email", after_move["Email"])["destroyed"] == [a]
    assert changes(fresh, "Thread", after_move["Thread"])["updated"]
    assert_counters_exact(fresh)
    fresh.ok("Email/set", {"destroy": [b]})
    thread = changes(fresh, "Thread", after_move["Thread"])
    assert len(thread["destroyed"]) == 1
    email = changes(fresh, "Email", before["Email"])
    assert email["created"] == [] and email["destroyed"] == []  # created and gone: omitted
    assert_counters_exact(fresh)


def test_unread_threads_follow_the_thread(fresh):
    boxes = mailboxes(fresh)
    inbox, sent = boxes["inbox"], boxes["sent"]
    (root,) = import_raw(fresh, [message("Trip", message_id="trip@x")], inbox)
    (mine,) = import_raw(
        fresh,
        [message("Re: Trip", message_id="trip2@x", in_reply_to="trip@x")],
        sent,
        keywords={"$seen": True},
    )
    counts = {m["id"]: m for m in fresh.ok("Mailbox/get", {"ids": [inbox, sent]})["list"]}
    assert counts[sent]["unreadThreads"] == 1 and counts[sent]["unreadEmails"] == 0
    before = states(fresh)["Mailbox"]
    fresh.ok("Email/set", {"update": {root: {"keywords": {"$seen": True}}}})
    counts = {m["id"]: m for m in fresh.ok("Mailbox/get", {"ids": [inbox, sent]})["list"]}
    assert counts[sent]["unreadThreads"] == 0 and counts[inbox]["unreadThreads"] == 0
    assert sorted(changes(fresh, "Mailbox", before)["updated"]) == sorted([inbox, sent])
    assert mine
    assert_counters_exact(fresh)


def test_mailbox_destroy_with_emails(fresh):
    boxes = mailboxes(fresh)
    created = fresh.ok("Mailbox/set", {"create": {"p": {"name": "Projects"}}})["created"]["p"]["id"]
    only, both = import_raw(fresh, [message("Only here"), message("Both")], created)
    fresh.ok("Email/set", {"update": {both: {f"mailboxIds/{boxes['inbox']}": True}}})
    result = fresh.ok("Mailbox/set", {"destroy": [created]})
    assert result["notDestroyed"][created]["type"] == "mailboxHasEmail"
    result = fresh.ok("Mailbox/set", {"destroy": [created], "onDestroyRemoveEmails": True})
    assert result["destroyed"] == [created]
    got = fresh.ok("Email/get", {"ids": [only, both], "properties": ["mailboxIds"]})
    assert got["notFound"] == [only]
    assert got["list"][0]["mailboxIds"] == {boxes["inbox"]: True}
    assert_counters_exact(fresh)


def test_changes_bad_input(alice):
    for type_name in ("Email", "Thread"):
        assert (
            alice.fail(
                f"{type_name}/changes", {"accountId": alice.account_id, "sinceState": "bogus"}
            )["type"]
            == "cannotCalculateChanges"
        )
        assert (
            alice.fail(
                f"{type_name}/changes",
                {"accountId": alice.account_id, "sinceState": "s0", "maxChanges": 0},
            )["type"]
            == "invalidArguments"
        )
    assert (
        alice.fail(
            "Thread/get", {"accountId": alice.account_id, "ids": [], "properties": ["subject"]}
        )["type"]
        == "invalidArguments"
    )
