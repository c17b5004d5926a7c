"""Email/query, Email/queryChanges and SearchSnippet/get over HTTP: every filter, every sort,
collapseThreads, windows, full-text search, and their errors."""

from __future__ import annotations

import pytest

from .conftest import import_raw, mailboxes, message, utc

ATTACHED = (
    b"From: Zed <zed@example.org>\r\nTo: Ann <ann@example.com>\r\nSubject: Invoice\r\n"
    b"Message-ID: <inv@x>\r\nX-Priority: 1 (Highest)\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n'
    b"See attached.\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
    b'filename="quarterly-smartchoice.pdf"\r\n\r\nxx\r\n--b--\r\n'
)


@pytest.fixture(scope="module")
def mail(server, alice):
    """Six Emails in two mailboxes; returns (ids by name, mailbox ids)."""
    boxes = mailboxes(alice)
    inbox, archive = boxes["inbox"], boxes["archive"]
    raws = [
        message(
            "Café au lait",
            "Meet at the smartchoice café",
            "Élodie <elodie@example.fr>",
            message_id="a@x",
        ),
        message(
            "Re: Café au lait",
            "Sure, see you there",
            "Bob <bob@example.com>",
            message_id="b@x",
            in_reply_to="a@x",
        ),
        message(
            "Budget 2024",
            "Numbers for the quarterly budget",
            "Carl <carl@example.net>",
            to="Dana <dana@example.com>",
            message_id="c@x",
        ),
        message(
            "lunch?",
            "anyone up for lunch",
            "ann@example.com",
            message_id="d@x",
            extra="Cc: Eve <eve@example.com>",
        ),
        ATTACHED,
    ]
    names = ["cafe", "reply", "budget", "lunch", "invoice"]
    received = [utc(1), utc(2), utc(3), utc(4), utc(5)]
    ids = dict(zip(names, import_raw(alice, raws, inbox, received=received), strict=True))
    (old,) = import_raw(
        alice,
        [message("Archived thing", "old stuff " * 200, message_id="e@x")],
        archive,
        received=[utc(0)],
    )
    ids["old"] = old
    alice.ok(
        "Email/set",
        {
            "update": {
                ids["cafe"]: {"keywords": {"$seen": True}},
                ids["budget"]: {"keywords": {"$flagged": True, "$seen": True}},
            }
        },
    )
    return ids, boxes


def query(client, ids, **args):
    result = client.ok("Email/query", args)
    names = {v: k for k, v in ids.items()}
    return [names[i] for i in result["ids"]]


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        (None, ["invoice", "lunch", "budget", "reply", "cafe", "old"]),
        ({}, ["invoice", "lunch", "budget", "reply", "cafe", "old"]),
        ({"after": utc(3), "before": utc(5)}, ["lunch", "budget"]),
        ({"minSize": 1500}, ["old"]),
        ({"maxSize": 1500}, ["invoice", "lunch", "budget", "reply", "cafe"]),
        ({"hasAttachment": True}, ["invoice"]),
        ({"hasKeyword": "$SEEN"}, ["budget", "cafe"]),
        ({"notKeyword": "$seen"}, ["invoice", "lunch", "reply", "old"]),
        ({"someInThreadHaveKeyword": "$seen"}, ["budget", "reply", "cafe"]),
        ({"allInThreadHaveKeyword": "$seen"}, ["budget"]),
        ({"noneInThreadHaveKeyword": "$seen"}, ["invoice", "lunch", "old"]),
        ({"text": "smartc"}, ["invoice", "cafe"]),  # word prefix, body and attachment name
        ({"text": "CAFE"}, ["reply", "cafe"]),  # case and accents do not matter
        ({"text": "elodie"}, ["cafe"]),  # sender name
        ({"from": "example.net"}, ["budget"]),  # sender address
        ({"to": "dana"}, ["budget"]),
        ({"cc": "eve@example.com"}, ["lunch"]),
        ({"bcc": "anyone"}, []),
        ({"subject": "budget"}, ["budget"]),
        ({"body": "quarterly budget"}, ["budget"]),  # every word must match
        ({"body": "budget lunch"}, []),
        ({"body": '"quarterly budget"'}, ["budget"]),  # phrase
        ({"body": '"budget quarterly"'}, []),
        ({"header": ["X-Priority"]}, ["invoice"]),
        ({"header": ["x-priority", "highest"]}, ["invoice"]),
        ({"header": ["X-Priority", "lowest"]}, []),
        (
            {"operator": "OR", "conditions": [{"subject": "lunch"}, {"hasAttachment": True}]},
            ["invoice", "lunch"],
        ),
        (
            {"operator": "NOT", "conditions": [{"text": "café"}, {"hasKeyword": "$seen"}]},
            ["invoice", "lunch", "old"],
        ),
        ({"operator": "AND", "conditions": [{"text": "café"}, {"notKeyword": "$seen"}]}, ["reply"]),
    ],
)
def test_filters(alice, mail, filter_, expected):
    ids, _ = mail
    assert query(alice, ids, filter=filter_) == expected


def test_mailbox_filters(alice, mail):
    ids, boxes = mail
    assert query(alice, ids, filter={"inMailbox": boxes["archive"]}) == ["old"]
    assert query(alice, ids, filter={"inMailboxOtherThan": [boxes["inbox"]]}) == ["old"]
    result = alice.ok(
        "Email/query", {"filter": {"inMailbox": boxes["inbox"]}, "calculateTotal": True}
    )
    assert result["total"] == 5


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ([{"property": "receivedAt"}], ["old", "cafe", "reply", "budget", "lunch", "invoice"]),
        ([{"property": "subject"}], ["old", "budget", "cafe", "reply", "invoice", "lunch"]),
        (
            [{"property": "subject", "collation": "i;unicode-casemap"}],
            ["old", "budget", "cafe", "reply", "invoice", "lunch"],
        ),
        (
            [{"property": "receivedAt", "collation": "i;octet"}],
            ["old", "cafe", "reply", "budget", "lunch", "invoice"],
        ),
        (
            [{"property": "from", "isAscending": False}],
            ["invoice", "cafe", "budget", "reply", "lunch", "old"],
        ),
        (
            [{"property": "to"}, {"property": "receivedAt"}],
            ["invoice", "old", "cafe", "reply", "lunch", "budget"],
        ),
        ([{"property": "size", "isAscending": False}, {"property": "receivedAt"}], None),
        ([{"property": "sentAt"}, {"property": "receivedAt"}], None),
        (
            [
                {"property": "hasKeyword", "keyword": "$flagged", "isAscending": False},
                {"property": "receivedAt"},
            ],
            ["budget", "old", "cafe", "reply", "lunch", "invoice"],
        ),
        (
            [
                {"property": "someInThreadHaveKeyword", "keyword": "$seen", "isAscending": False},
                {"property": "receivedAt"},
            ],
            ["cafe", "reply", "budget", "old", "lunch", "invoice"],
        ),
        (
            [
                {"property": "allInThreadHaveKeyword", "keyword": "$seen", "isAscending": False},
                {"property": "receivedAt"},
            ],
            ["budget", "old", "cafe", "reply", "lunch", "invoice"],
        ),
    ],
)
def test_sorts(alice, mail, sort, expected):
    ids, _ = mail
    got = query(alice, ids, sort=sort)
    if expected is not None:
        assert got == expected
    else:
        assert sorted(got) == sorted(ids)
    if sort[0]["property"] == "size":
        assert got[0] == "old"


def test_sort_options_are_advertised(alice):
    options = alice.session["accounts"][alice.account_id]["accountCapabilities"][
        "urn:ietf:params:jmap:mail"
    ]["emailQuerySortOptions"]
    assert {"receivedAt", "size", "from", "to", "subject", "sentAt", "hasKeyword"} <= set(options)


def test_collapse_threads_and_windows(alice, mail):
    ids, _ = mail
    assert query(alice, ids, collapseThreads=True) == ["invoice", "lunch", "budget", "reply", "old"]
    result = alice.ok(
        "Email/query", {"collapseThreads": True, "calculateTotal": True, "position": 1, "limit": 2}
    )
    assert result["total"] == 5 and result["position"] == 1 and len(result["ids"]) == 2
    assert result["ids"] == [ids["lunch"], ids["budget"]]
    result = alice.ok("Email/query", {"position": -2})
    assert result["position"] == 4 and result["ids"] == [ids["cafe"], ids["old"]]
    result = alice.ok("Email/query", {"anchor": ids["budget"], "anchorOffset": -1, "limit": 2})
    assert result["position"] == 1 and result["ids"] == [ids["lunch"], ids["budget"]]
    assert alice.ok("Email/query", {"position": 99})["ids"] == []
    result = alice.ok("Email/query", {"anchor": ids["old"], "anchorOffset": 5})
    assert result["ids"] == [] and result["position"] == 10


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"sort": [{"property": "nope"}]}, "unsupportedSort"),
        ({"sort": [{"property": "hasKeyword"}]}, "unsupportedSort"),
        ({"sort": [{"property": "subject", "collation": "x-klingon"}]}, "unsupportedSort"),
        # text sort keys are stored folded: only i;unicode-casemap can be applied to them
        ({"sort": [{"property": "subject", "collation": "i;octet"}]}, "unsupportedSort"),
        ({"sort": [{"property": "from", "collation": "i;ascii-numeric"}]}, "unsupportedSort"),
        ({"sort": [{"property": "to", "collation": "i;ascii-casemap"}]}, "unsupportedSort"),
        ({"filter": {"unknown": 1}}, "invalidArguments"),
        ({"filter": {"inMailbox": 5}}, "invalidArguments"),
        ({"filter": {"hasKeyword": "bad keyword"}}, "invalidArguments"),
        ({"filter": {"header": []}}, "invalidArguments"),
        ({"filter": {"operator": "XOR", "conditions": []}}, "invalidArguments"),
        ({"limit": -1}, "invalidArguments"),
        ({"anchor": "Mnope"}, "anchorNotFound"),
        ({"collapseThreads": "yes"}, "invalidArguments"),
    ],
)
def test_query_errors(alice, mail, args, error):
    assert alice.fail("Email/query", {"accountId": alice.account_id, **args})["type"] == error


def apply_changes(old_ids, changes):
    ids = [i for i in old_ids if i not in set(changes["removed"])]
    for added in changes["added"]:
        ids.insert(added["index"], added["id"])
    return ids


@pytest.mark.parametrize(
    "args",
    [
        {},
        {"filter": {"notKeyword": "$seen"}},
        {"filter": {"text": "lait"}, "sort": [{"property": "subject"}]},
        {"collapseThreads": True},
        {"filter": {"someInThreadHaveKeyword": "$flagged"}},
    ],
)
def test_query_changes_match_rerunning_the_query(fresh, args):
    inbox = mailboxes(fresh)["inbox"]
    a, b, c = import_raw(
        fresh,
        [
            message("Café au lait", message_id="qa@x"),
            message("Re: Café au lait", message_id="qb@x", in_reply_to="qa@x"),
            message("Other"),
        ],
        inbox,
        received=[utc(1), utc(2), utc(3)],
    )
    before = fresh.ok("Email/query", args)
    fresh.ok(
        "Email/set",
        {"update": {a: {"keywords": {"$seen": True, "$flagged": True}}}, "destroy": [c]},
    )
    (d,) = import_raw(
        fresh,
        [message("Re: Café au lait", message_id="qd@x", in_reply_to="qb@x")],
        inbox,
        received=[utc(0)],
    )
    after = fresh.ok("Email/query", args)
    changes = fresh.ok(
        "Email/queryChanges",
        {**args, "sinceQueryState": before["queryState"], "calculateTotal": True},
    )
    assert changes["oldQueryState"] == before["queryState"]
    assert changes["newQueryState"] == after["queryState"]
    assert apply_changes(before["ids"], changes) == after["ids"]
    assert changes["total"] == len(after["ids"])
    assert b and d


def test_query_changes_errors(alice, mail):
    account = alice.account_id
    assert (
        alice.fail("Email/queryChanges", {"accountId": account, "sinceQueryState": "junk"})["type"]
        == "cannotCalculateChanges"
    )
    state = alice.ok("Email/query", {})["queryState"]
    assert alice.fail("Email/queryChanges", {"accountId": account})["type"] == "invalidArguments"
    result = alice.ok("Email/queryChanges", {"sinceQueryState": state})
    assert result["added"] == [] and result["removed"] == []
    octet = {"sinceQueryState": state, "sort": [{"property": "subject", "collation": "i;octet"}]}
    assert (
        alice.fail("Email/queryChanges", {"accountId": account, **octet})["type"]
        == "unsupportedSort"
    )


def test_search_snippets(alice, mail):
    ids, _ = mail
    result = alice.ok(
        "SearchSnippet/get",
        {"filter": {"text": "café smartc"}, "emailIds": [ids["cafe"], ids["lunch"], "Mnope"]},
    )
    snippets = {s["emailId"]: s for s in result["list"]}
    assert snippets[ids["cafe"]]["subject"] == "<mark>Café</mark> au lait"
    assert "<mark>smartchoice</mark>" in snippets[ids["cafe"]]["preview"]
    assert snippets[ids["lunch"]] == {"emailId": ids["lunch"], "subject": None, "preview": None}
    assert result["notFound"] == ["Mnope"]


def test_search_snippets_escape_html(fresh):
    inbox = mailboxes(fresh)["inbox"]
    (email_id,) = import_raw(fresh, [message("a <b> & c", "x < y && tag <script> here")], inbox)
    result = fresh.ok("SearchSnippet/get", {"filter": {"text": "script"}, "emailIds": [email_id]})
    (snippet,) = result["list"]
    assert snippet["subject"] is None
    assert (
        "&lt;<mark>script</mark>&gt;" in snippet["preview"] and "&amp;&amp;" in snippet["preview"]
    )


def test_search_snippet_errors(alice):
    account = alice.account_id
    assert alice.fail("SearchSnippet/get", {"accountId": account})["type"] == "invalidArguments"
    bad = {"accountId": account, "emailIds": [], "filter": {"nope": 1}}
    assert alice.fail("SearchSnippet/get", bad)["type"] == "invalidArguments"
    many = {"accountId": account, "emailIds": [f"M{n}" for n in range(501)]}
    assert alice.fail("SearchSnippet/get", many)["type"] == "requestTooLarge"
