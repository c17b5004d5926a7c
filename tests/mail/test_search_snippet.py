"""SearchSnippet/get (RFC 8621 §5.1) over HTTP: a preview is cut to 255 octets whatever
the body, and cutting it never stops the server answering anyone else."""

from __future__ import annotations

import threading

import httpx

from tests.conftest import USING

from .conftest import import_raw, mailboxes, message


def test_a_preview_inside_one_long_matched_word(server, alice, bob):
    """A body of one 260-character word searched by a prefix: the whole preview is inside
    one mark, and the cut must land inside it (RFC 8621 §5.1: at most 255 octets). It used to
    loop forever on the event loop: nobody else was answered either."""
    (email_id,) = import_raw(alice, [message("long word", "a" * 260)], mailboxes(alice)["inbox"])
    body = {
        "using": USING,
        "methodCalls": [
            [
                "SearchSnippet/get",
                {"accountId": alice.account_id, "filter": {"text": "aaaa"}, "emailIds": [email_id]},
                "s",
            ]
        ],
    }
    answer: dict[str, httpx.Response] = {}
    hostile = threading.Thread(
        target=lambda: answer.setdefault("alice", alice.http.post("/jmap/api/", json=body))
    )
    hostile.start()
    # another user, the health check and the metrics endpoint (not public by default: 404)
    # are answered (on main they never were)
    assert bob.request([["Core/echo", {"hi": 1}, "e"]]).json()["methodResponses"][0][1] == {"hi": 1}
    assert httpx.get(f"{server.url}/healthz", timeout=20).status_code == 200
    assert httpx.get(f"{server.url}/metrics", timeout=20).status_code == 404
    hostile.join(40)
    assert not hostile.is_alive()
    name, result, _ = answer["alice"].json()["methodResponses"][0]
    assert name == "SearchSnippet/get", result
    (snippet,) = result["list"]
    preview = snippet["preview"]
    assert preview.startswith("<mark>aaaa") and "</mark>" in preview
    assert len(preview.encode()) <= 255
    assert snippet["subject"] is None


def test_a_megabyte_of_one_matching_word(fresh):
    """FTS5's snippet() is quadratic in the matches: a 1 MB body of one word searched for
    that word kept a storage reader busy for minutes (the client gave up)."""
    inbox = mailboxes(fresh)["inbox"]
    (email_id,) = import_raw(fresh, [message("big", "needle " * 150_000)], inbox)
    result = fresh.ok("SearchSnippet/get", {"filter": {"text": "needle"}, "emailIds": [email_id]})
    (snippet,) = result["list"]
    assert snippet["preview"].startswith("<mark>needle</mark> <mark>needle</mark>")
    assert len(snippet["preview"].encode()) <= 255
