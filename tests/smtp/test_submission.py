"""EmailSubmission/set (RFC 8621 §7.5): every SetError, the envelope derived from the
headers, the implicit Email/set, FUTURERELEASE holds and cancelling."""

from __future__ import annotations

import time
from dataclasses import replace

from jmap.ids import timestamp
from smtp_gateway.queues import OUTBOUND
from tests.smtp.outkit import Fulmar, Sink, run

ALICE = "alice@example.com"
BOB = "bob@example.com"


def _error(result: dict, key: str = "s") -> dict:
    assert "created" not in result or not result["created"], result
    return result["notCreated"][key]


def test_every_create_set_error(tmp_path):
    async def body(f: Fulmar):
        out = {}
        ok = await f.draft(ALICE, to=["x@example.net"])
        out["unknown ids"] = await f.call(
            ALICE,
            "EmailSubmission/set",
            {"create": {"s": {"identityId": "Inope", "emailId": "Mnope"}}},
        )
        no_from = await f.draft(ALICE, frm=None, to=["x@example.net"])
        out["invalidEmail"] = await f.submit(ALICE, no_from["id"])
        many = {
            "mailFrom": {"email": ALICE},
            "rcptTo": [{"email": f"r{n}@example.net"} for n in range(6)],
        }
        out["tooManyRecipients"] = await f.submit(ALICE, ok["id"], many)
        nobody = await f.draft(ALICE)
        out["noRecipients"] = await f.submit(ALICE, nobody["id"])
        out["noRecipients (envelope)"] = await f.submit(
            ALICE, ok["id"], {"mailFrom": {"email": ALICE}, "rcptTo": []}
        )
        bad = {
            "mailFrom": {"email": ALICE},
            "rcptTo": [{"email": "ok@example.net"}, {"email": "no address"}, {"email": "a@b@c"}],
        }
        out["invalidRecipients"] = await f.submit(ALICE, ok["id"], bad)
        out["forbiddenMailFrom"] = await f.submit(
            ALICE, ok["id"], {"mailFrom": {"email": BOB}, "rcptTo": [{"email": "x@example.net"}]}
        )
        as_bob = await f.draft(ALICE, frm=BOB, to=["x@example.net"])
        out["forbiddenFrom"] = await f.submit(ALICE, as_bob["id"])
        # bob may use alice's account (shared with him), but not send from it
        await f.data.grant(f.accounts[ALICE], (await f.data.principal_by_login(BOB)).id, False)
        identity = await f.identity(ALICE)
        ((_, out["forbiddenToSend"], _),) = await f.request(
            BOB,
            [
                [
                    "EmailSubmission/set",
                    {
                        "accountId": f.accounts[ALICE],
                        "create": {"s": {"identityId": identity, "emailId": ok["id"]}},
                    },
                    "c",
                ]
            ],
        )
        out["jobs"] = await f.data.jobs.pending(OUTBOUND)
        return out

    out = run(tmp_path, body, smtp_max_recipients=5)
    unknown = _error(out["unknown ids"])
    assert unknown["type"] == "invalidProperties"
    assert sorted(unknown["properties"]) == ["emailId", "identityId"]
    invalid = _error(out["invalidEmail"])
    assert invalid["type"] == "invalidEmail" and invalid["properties"] == ["from"]
    too_many = _error(out["tooManyRecipients"])
    assert too_many["type"] == "tooManyRecipients" and too_many["maxRecipients"] == 5
    assert _error(out["noRecipients"])["type"] == "noRecipients"
    assert _error(out["noRecipients (envelope)"])["type"] == "noRecipients"
    recipients = _error(out["invalidRecipients"])
    assert recipients["type"] == "invalidRecipients"
    assert recipients["invalidRecipients"] == ["no address", "a@b@c"]
    assert _error(out["forbiddenMailFrom"])["type"] == "forbiddenMailFrom"
    assert _error(out["forbiddenFrom"])["type"] == "forbiddenFrom"
    assert _error(out["forbiddenToSend"])["type"] == "forbiddenToSend"
    assert out["jobs"] == 0  # nothing refused was queued


def test_envelope_derived_from_the_headers(tmp_path):
    async def body(f: Fulmar):
        draft = await f.draft(
            ALICE,
            to=["One@example.net", "two@example.net"],
            cc=["one@example.net", "three@example.org"],
            bcc=["TWO@example.net", "four@example.org"],
        )
        created = (await f.submit(ALICE, draft["id"]))["created"]["s"]
        sub = await f.submission(ALICE, created["id"])
        (job,) = await f.data.jobs.claim(OUTBOUND, "t", f.clock(), 60)
        return draft, sub, job.payload

    draft, sub, payload = run(tmp_path, body)
    rcpts = ["One@example.net", "two@example.net", "three@example.org", "four@example.org"]
    assert sub["envelope"] == {
        "mailFrom": {"email": ALICE, "parameters": None},
        "rcptTo": [{"email": r, "parameters": None} for r in rcpts],
    }
    assert sub["emailId"] == draft["id"] and sub["threadId"] == draft["threadId"]
    assert sub["undoStatus"] == "pending" and sub["dsnBlobIds"] == [] and sub["mdnBlobIds"] == []
    assert set(sub["deliveryStatus"]) == set(rcpts)
    assert all(s["delivered"] == "queued" for s in sub["deliveryStatus"].values())
    assert abs(timestamp(sub["sendAt"], utc=True) - time.time()) < 3600
    assert payload["rcptTo"] == rcpts and payload["mailFrom"] == ALICE


def test_sender_header_gives_mail_from_and_an_unowned_one_falls_back_to_the_identity(tmp_path):
    async def body(f: Fulmar):
        await f.add_alias("sales@example.com", ALICE)
        await f.call(ALICE, "Identity/set", {"create": {"w": {"email": "*@example.com"}}})
        identities = (await f.call(ALICE, "Identity/get", {"ids": None}))["list"]
        wildcard = next(i["id"] for i in identities if i["email"] == "*@example.com")
        own = next(i["id"] for i in identities if i["email"] == ALICE)
        sender = await f.draft(
            ALICE, frm="team@example.com", sender=["sales@example.com"], to=["x@example.net"]
        )
        unowned = await f.draft(ALICE, to=["x@example.net"], sender=["boss@example.org"])
        team = await f.draft(ALICE, frm="team@example.com", to=["x@example.net"])
        out = []
        for identity, draft in ((wildcard, sender), (own, unowned), (wildcard, team)):
            result = await f.call(
                ALICE,
                "EmailSubmission/set",
                {"create": {"s": {"identityId": identity, "emailId": draft["id"]}}},
            )
            out.append(result["created"]["s"]["envelope"]["mailFrom"]["email"])
        return out

    # a *@example.com identity covers any address of the domain as MAIL FROM too
    assert run(tmp_path, body) == ["sales@example.com", ALICE, "team@example.com"]


def test_on_success_update_and_destroy_email(tmp_path):
    async def body(f: Fulmar):
        drafts, sent = await f.mailbox(ALICE, "drafts"), await f.mailbox(ALICE, "sent")
        first = await f.draft(ALICE, to=["x@example.net"])
        second = await f.draft(ALICE, to=["y@example.net"])
        identity = await f.identity(ALICE)
        responses = await f.request(
            ALICE,
            [
                [
                    "EmailSubmission/set",
                    {
                        "accountId": f.accounts[ALICE],
                        "create": {
                            "k1": {"identityId": identity, "emailId": first["id"]},
                            "k2": {"identityId": identity, "emailId": second["id"]},
                            "bad": {"identityId": identity, "emailId": "Mnope"},
                        },
                        "onSuccessUpdateEmail": {
                            "#k1": {
                                f"mailboxIds/{drafts}": None,
                                f"mailboxIds/{sent}": True,
                                "keywords/$draft": None,
                            },
                            "#bad": {"keywords/$flagged": True},
                        },
                        "onSuccessDestroyEmail": ["#k2"],
                    },
                    "c",
                ]
            ],
        )
        got = await f.call(ALICE, "Email/get", {"ids": [first["id"], second["id"]]})
        return drafts, sent, first, second, responses, got

    _, sent, first, second, responses, got = run(tmp_path, body)
    (name1, submission, call1), (name2, email_set, call2) = responses
    assert (name1, name2) == ("EmailSubmission/set", "Email/set") and call1 == call2 == "c"
    assert set(submission["created"]) == {"k1", "k2"} and "bad" in submission["notCreated"]
    assert email_set["updated"] == {first["id"]: None}
    assert email_set["destroyed"] == [second["id"]]
    (email,) = got["list"]
    assert email["mailboxIds"] == {sent: True} and "$draft" not in email["keywords"]
    assert got["notFound"] == [second["id"]]


def test_futurerelease_hold_then_cancel(tmp_path):
    with Sink() as sink:

        async def body(f: Fulmar):
            draft = await f.draft(ALICE, to=["x@example.net"])
            envelope = {
                "mailFrom": {"email": ALICE, "parameters": {"HOLDFOR": "7200"}},
                "rcptTo": [{"email": "x@example.net"}],
            }
            created = (await f.submit(ALICE, draft["id"], envelope))["created"]["s"]
            worker = f.worker()
            early = await worker.run_once()  # an hour on: still held
            f.clock.t += 3600
            held = await worker.run_once()
            cancel = await f.call(
                ALICE,
                "EmailSubmission/set",
                {"update": {created["id"]: {"undoStatus": "canceled"}}},
            )
            again = await f.call(
                ALICE,
                "EmailSubmission/set",
                {"update": {created["id"]: {"undoStatus": "pending"}}},
            )
            f.clock.t += 7200
            released = await worker.run_once()
            return (
                created,
                early,
                held,
                cancel,
                again,
                released,
                await f.submission(ALICE, created["id"]),
                await f.outbound_due(),
            )

        created, early, held, cancel, again, released, sub, due = run(
            tmp_path, body, smtp_routes=(("example.net", sink.address),)
        )
    sent_at = timestamp(created["sendAt"], utc=True)
    assert 7200 - 120 < sent_at - time.time() <= 7200
    assert created["undoStatus"] == "pending"
    assert early == held == 0
    assert cancel["updated"] == {created["id"]: None}
    assert again["notUpdated"][created["id"]]["type"] == "invalidProperties"
    # the canceled job is taken once it is due, and dropped: nothing reaches the sink
    assert released == 1 and sink.received == [] and due is None
    assert sub["undoStatus"] == "canceled"
    assert sub["deliveryStatus"]["x@example.net"]["delivered"] == "queued"


def test_cannot_unsend_once_final(tmp_path):
    with Sink() as sink:

        async def body(f: Fulmar):
            draft = await f.draft(ALICE, to=["x@example.net"])
            created = (await f.submit(ALICE, draft["id"]))["created"]["s"]
            await f.worker().run_once()
            return await f.call(
                ALICE,
                "EmailSubmission/set",
                {"update": {created["id"]: {"undoStatus": "canceled"}}},
            ), created["id"]

        result, sub_id = run(tmp_path, body, smtp_routes=(("example.net", sink.address),))
    assert result["notUpdated"][sub_id]["type"] == "cannotUnsend"
    assert len(sink.received) == 1


def test_bad_holds_and_other_immutable_properties(tmp_path):
    async def body(f: Fulmar):
        draft = await f.draft(ALICE, to=["x@example.net"])
        out = {}
        for name, parameters in {
            "too far": {"HOLDFOR": "7201"},
            "both": {"HOLDFOR": "10", "HOLDUNTIL": "2030-01-01T00:00:00Z"},
            "not a number": {"HOLDFOR": "soon"},
            "not a date": {"HOLDUNTIL": "tomorrow"},
        }.items():
            envelope = {
                "mailFrom": {"email": ALICE, "parameters": parameters},
                "rcptTo": [{"email": "x@example.net"}],
            }
            out[name] = _error(await f.submit(ALICE, draft["id"], envelope))
        ok = (await f.submit(ALICE, draft["id"]))["created"]["s"]["id"]
        out["update"] = await f.call(
            ALICE,
            "EmailSubmission/set",
            {"update": {ok: {"envelope": None, "deliveryStatus": {}}}},
        )
        out["ok"] = ok
        return out

    out = run(tmp_path, body, smtp_max_delayed_send_seconds=7200)
    for name in ("too far", "both", "not a number", "not a date"):
        assert out[name]["type"] == "invalidProperties", name
        assert out[name]["properties"] == ["envelope"], name
    assert out["update"]["notUpdated"][out["ok"]]["type"] == "invalidProperties"


def test_query_filters_sorts_and_query_changes(tmp_path):
    async def body(f: Fulmar):
        drafts = [await f.draft(ALICE, to=[f"r{n}@example.net"], subject=f"s{n}") for n in range(3)]
        ids = []
        for n, draft in enumerate(drafts):
            hold = {"HOLDFOR": str(100 * (3 - n))}
            envelope = {
                "mailFrom": {"email": ALICE, "parameters": hold},
                "rcptTo": [{"email": f"r{n}@example.net"}],
            }
            ids.append((await f.submit(ALICE, draft["id"], envelope))["created"]["s"]["id"])
        q = {}
        first = await f.call(ALICE, "EmailSubmission/query", {})
        q["by sentAt"] = first["ids"]
        q["by emailId desc"] = (
            await f.call(
                ALICE,
                "EmailSubmission/query",
                {"sort": [{"property": "emailId", "isAscending": False}]},
            )
        )["ids"]
        q["emailIds"] = (
            await f.call(
                ALICE, "EmailSubmission/query", {"filter": {"emailIds": [drafts[1]["id"]]}}
            )
        )["ids"]
        q["threadIds"] = (
            await f.call(
                ALICE, "EmailSubmission/query", {"filter": {"threadIds": [drafts[2]["threadId"]]}}
            )
        )["ids"]
        q["identityIds"] = (
            await f.call(ALICE, "EmailSubmission/query", {"filter": {"identityIds": ["Inope"]}})
        )["ids"]
        middle = (await f.submission(ALICE, ids[1]))["sendAt"]
        q["before"] = (
            await f.call(ALICE, "EmailSubmission/query", {"filter": {"before": middle}})
        )["ids"]
        q["after"] = (await f.call(ALICE, "EmailSubmission/query", {"filter": {"after": middle}}))[
            "ids"
        ]
        await f.call(ALICE, "EmailSubmission/set", {"update": {ids[0]: {"undoStatus": "canceled"}}})
        q["canceled"] = (
            await f.call(ALICE, "EmailSubmission/query", {"filter": {"undoStatus": "canceled"}})
        )["ids"]
        changes = await f.call(
            ALICE, "EmailSubmission/queryChanges", {"sinceQueryState": first["queryState"]}
        )
        bad_sort = await f.request(
            ALICE,
            [
                [
                    "EmailSubmission/query",
                    {"accountId": f.accounts[ALICE], "sort": [{"property": "undoStatus"}]},
                    "c",
                ]
            ],
        )
        return ids, drafts, q, changes, bad_sort

    ids, drafts, q, changes, bad_sort = run(tmp_path, body)
    assert q["by sentAt"] == [ids[2], ids[1], ids[0]]
    assert q["by emailId desc"] == [
        i for _, i in sorted(zip([d["id"] for d in drafts], ids, strict=True), reverse=True)
    ]
    assert q["emailIds"] == [ids[1]] and q["threadIds"] == [ids[2]] and q["identityIds"] == []
    assert q["before"] == [ids[2]] and q["after"] == [ids[1], ids[0]]
    assert q["canceled"] == [ids[0]]
    assert changes["removed"] == [ids[0]] and changes["added"] == [{"id": ids[0], "index": 2}]
    assert bad_sort[0][0] == "error" and bad_sort[0][1]["type"] == "unsupportedSort"


def test_messages_per_hour_are_rate_limited(tmp_path):
    async def body(f: Fulmar):
        draft = await f.draft(ALICE, to=["x@example.net"])
        results = [await f.submit(ALICE, draft["id"]) for _ in range(3)]
        other = await f.draft(BOB, to=["x@example.net"])
        return results, await f.submit(BOB, other["id"])

    results, bobs = run(tmp_path, body, smtp_max_messages_per_hour=2)
    assert [bool(r.get("created")) for r in results] == [True, True, False]
    assert _error(results[2])["type"] == "rateLimit"
    assert bobs["created"]  # the limit is per account


def test_too_large_names_the_limit(tmp_path):
    async def body(f: Fulmar):
        draft = await f.draft(ALICE, to=["x@example.net"], body="x" * 5000)
        config = f.services.config  # the limit went down since the draft was written
        f.services.config = replace(config, limits=replace(config.limits, max_size_email=1000))
        return await f.submit(ALICE, draft["id"])

    error = _error(run(tmp_path, body))
    assert error["type"] == "tooLarge" and error["maxSize"] == 1000
