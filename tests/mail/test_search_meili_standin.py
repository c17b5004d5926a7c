"""End to end: the real server with ``meilisearch_url`` pointing at the Meilisearch STAND-IN
(``tests.meili_standin``: Meilisearch cannot run here), beside a server on the embedded
FTS5 with the same mail. Email/query text filters and SearchSnippet/get answer alike on
the cases the stand-in supports; accounts stay apart; with the stand-in down, text searches
answer serverUnavailable while everything else answers, and the feed catches up when it
returns; ``fulmar reindex`` rebuilds while the server answers.

Waiting for the feed polls the ``search`` job queue until it is empty (never a sleep).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import pytest

from jmap.store.meili import INDEX_UID
from tests.conftest import FULMAR, Client, FulmarServer, start_server
from tests.meili_standin import MeiliStandIn
from tests.mongo.servers import sqlite_only

from .conftest import import_raw, mailboxes, utc

pytestmark = sqlite_only

KEY = "standin-e2e-key"
MAX_HITS = 8


def mail(subject: str, body: str, sender: str, to: str, **extra: Any) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"] = format_datetime(datetime(2024, 1, 1, tzinfo=UTC))
    for name, value in extra.items():
        if name != "attachment":
            msg[name.capitalize()] = value
    msg.set_content(body)
    if "attachment" in extra:
        msg.add_attachment(
            b"%PDF-1.4", maintype="application", subtype="pdf", filename=extra["attachment"]
        )
    return msg.as_bytes()


CORE = [
    mail(
        "Quarterly smartchoice report",
        "The numbers are in. Café au lait for everyone.",
        "Alice Martin <alice@example.com>",
        "Bob <bob@example.org>",
        cc="Carol <carol@example.net>",
    ),
    mail(
        "Lunch",
        "quarterly lunch plans, see the attached menu",
        "carol@example.net",
        "Bob <bob@example.org>",
        attachment="menu-invoice.pdf",
    ),
    mail(
        "hello world",
        "nothing about reports here",
        "Ann <ann@example.com>",
        "Bob <bob@example.org>",
        bcc="Dave Secret <dave@example.com>",
    ),
    mail("Re: hello world", "hello again, Ann", "Bob <bob@example.org>", "Ann <ann@example.com>"),
    mail(
        "Élan vital",
        "ÉCOLE normale; the quick brown fox",
        "Émile <emile@example.fr>",
        "Bob <bob@example.org>",
    ),
]
BULK = [
    mail(f"bulk {n}", f"bulkword number{n}", "Zed <zed@example.com>", "Yann <yann@example.com>")
    for n in range(MAX_HITS + 1)
]

FILTERS: list[Any] = [
    {"text": "smartc"},
    {"text": "quart rep"},
    {"text": "quarterly"},
    {"text": '"numbers are in"'},
    {"text": '"are numbers"'},
    {"text": "cafe"},
    {"text": "ecole"},
    {"from": "alice@example.com"},
    {"from": "martin"},
    {"to": "ann"},
    {"cc": "carol"},
    {"bcc": "dave"},
    {"subject": "hello"},
    {"subject": "lunch"},
    {"body": "invoice"},
    {"body": "menu"},
    {"text": "nosuchword"},
    {"text": ' "" ... '},
    {"text": "hello", "from": "bob"},
    {"operator": "NOT", "conditions": [{"text": "hello"}]},
    {"operator": "OR", "conditions": [{"subject": "lunch"}, {"body": "fox"}]},
    {"operator": "AND", "conditions": [{"text": "hello"}, {"hasKeyword": "$seen"}]},
    {"text": "bulkword number3"},  # one word matches too many, the other narrows it
]


def search_jobs(server: FulmarServer) -> int:
    db = sqlite3.connect(f"file:{server.data_dir / 'fulmar.db'}?mode=ro", uri=True, timeout=30)
    try:
        return db.execute("SELECT count(*) FROM jobs WHERE queue = 'search'").fetchone()[0]
    finally:
        db.close()


def wait_fed(server: FulmarServer, timeout: float = 120) -> None:
    """Until the search queue is empty (the feeder completed every job)."""
    deadline = time.monotonic() + timeout
    while search_jobs(server):
        assert time.monotonic() < deadline, "the search feed did not catch up"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def standin():
    server = MeiliStandIn(key=KEY).start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def meili_server(tmp_path_factory, standin):
    data_dir = tmp_path_factory.mktemp("fulmar-meili")
    config = data_dir.parent / f"{data_dir.name}.toml"
    config.write_text(f"meilisearch_max_hits = {MAX_HITS}\n")
    env = {"FULMAR_MEILISEARCH_URL": standin.url, "FULMAR_MEILISEARCH_KEY": KEY}
    server = start_server(data_dir, env=env, extra_args=["--config", str(config)])
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()


def load(client: Client) -> list[str]:
    received = [utc(n) for n in range(len(CORE) + len(BULK))]
    ids = import_raw(client, CORE + BULK, mailboxes(client)["inbox"], received=received)
    client.ok("Email/set", {"update": {ids[2]: {"keywords/$seen": True}}})
    return ids


@pytest.fixture(scope="module")
def loaded(server, alice, meili_server):
    """alice's mail on both servers: (FTS5 client, stand-in client)."""
    meili_alice = meili_server.client("alice@example.com")
    load(alice)
    load(meili_alice)
    wait_fed(meili_server)
    return alice, meili_alice


def subjects(client: Client, ids: list[str]) -> list[str]:
    got = client.ok("Email/get", {"ids": ids, "properties": ["subject"]})["list"]
    by_id = {e["id"]: e["subject"] for e in got}
    return [by_id[i] for i in ids]


def query(client: Client, filter_: Any, **args: Any) -> list[str]:
    result = client.ok("Email/query", {"filter": filter_, "calculateTotal": True, **args})
    assert result["total"] == len(result["ids"])
    return subjects(client, result["ids"])


@pytest.mark.parametrize("filter_", FILTERS, ids=[str(f) for f in FILTERS])
def test_standin_text_filters_answer_as_fts5(loaded, filter_):
    fts5, meili = loaded
    expected = query(fts5, filter_)
    assert query(meili, filter_) == expected
    assert query(meili, filter_, collapseThreads=True) == query(fts5, filter_, collapseThreads=True)


@pytest.mark.parametrize(
    "filter_", [{"text": "hello"}, {"subject": "quart"}, {"body": "lunch menu"}, {"text": "cafe"}]
)
def test_standin_snippets_answer_as_fts5(loaded, filter_):
    def snippets(client: Client) -> list[tuple[str, Any, Any]]:
        ids = client.ok("Email/query", {})["ids"]
        got = client.ok("SearchSnippet/get", {"filter": filter_, "emailIds": ids})["list"]
        names = dict(zip(ids, subjects(client, ids), strict=True))
        return sorted((names[s["emailId"]], s["subject"], s["preview"]) for s in got)

    fts5, meili = loaded
    expected = snippets(fts5)
    assert any(subject or preview for _, subject, preview in expected)
    assert snippets(meili) == expected


def test_standin_too_many_hits_is_unsupported_filter(loaded):
    fts5, meili = loaded
    assert len(query(fts5, {"text": "bulkword"})) == MAX_HITS + 1  # FTS5 has no bound
    for filter_ in [
        {"text": "bulk"},
        # separate conditions are bounded one by one: the other does not narrow this one
        {"operator": "AND", "conditions": [{"text": "bulkword"}, {"text": "number3"}]},
    ]:
        error = meili.fail("Email/query", {"accountId": meili.account_id, "filter": filter_})
        assert error["type"] == "unsupportedFilter", error


def test_standin_accounts_never_see_each_other(loaded, meili_server):
    _, alice = loaded
    bob = meili_server.client("bob@example.com")
    (own,) = import_raw(
        bob,
        [mail("smartchoice for bob", "bob only", "x@example.com", "bob@example.com")],
        mailboxes(bob)["inbox"],
    )
    wait_fed(meili_server)
    assert query(bob, {"text": "smartc"}) == ["smartchoice for bob"]
    assert query(bob, {"text": "quarterly"}) == []
    assert query(alice, {"text": "smartc"}) == ["Quarterly smartchoice report"]
    hostile = {"text": '" OR account_id != "'}
    assert query(bob, hostile) == []
    snippet = bob.ok("SearchSnippet/get", {"filter": {"text": "report"}, "emailIds": [own]})
    assert snippet["list"] == [{"emailId": own, "subject": None, "preview": None}]


def test_standin_destroy_removes_the_document(loaded, meili_server, standin):
    _, alice = loaded
    (gone,) = import_raw(
        alice,
        [mail("ephemeral", "soon gone", "a@example.com", "b@example.com")],
        mailboxes(alice)["inbox"],
    )
    wait_fed(meili_server)
    assert query(alice, {"text": "ephemeral"}) == ["ephemeral"]
    assert any(d["email_id"] == gone for d in standin.documents(INDEX_UID).values())
    alice.ok("Email/set", {"destroy": [gone]})
    wait_fed(meili_server)
    assert not any(
        d["email_id"] == gone and d["account_id"] == alice.account_id
        for d in standin.documents(INDEX_UID).values()
    )


def test_standin_down_text_search_unavailable_the_rest_answers(loaded, meili_server, standin):
    _, alice = loaded
    standin.stop()
    try:
        (late,) = import_raw(  # delivery does not wait for search
            alice,
            [mail("written while down", "latecomer", "a@example.com", "b@example.com")],
            mailboxes(alice)["inbox"],
        )
        assert late in alice.ok("Email/query", {})["ids"]
        assert alice.ok("Email/query", {"filter": {"header": ["Subject", "while down"]}})[
            "ids"
        ] == [late]
        for name, args in [
            ("Email/query", {"filter": {"text": "latecomer"}}),
            ("SearchSnippet/get", {"filter": {"text": "latecomer"}, "emailIds": [late]}),
        ]:
            error = alice.fail(name, {"accountId": alice.account_id, **args})
            assert error["type"] == "serverUnavailable", error
        assert search_jobs(meili_server) >= 1  # kept for later
    finally:
        standin.start()
    wait_fed(meili_server)
    assert query(alice, {"text": "latecomer"}) == ["written while down"]


def reindex(server: FulmarServer, standin: MeiliStandIn, *address: str) -> str:
    env = {**os.environ, "FULMAR_MEILISEARCH_URL": standin.url, "FULMAR_MEILISEARCH_KEY": KEY}
    done = subprocess.run(
        [FULMAR, "reindex", *address, "--data-dir", str(server.data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_standin_reindex_rebuilds_online(loaded, meili_server, standin):
    _, alice = loaded
    bob = meili_server.client("bob@example.com")
    import_raw(
        bob,
        [mail("bob's", "reindexword", "x@example.com", "bob@example.com")],
        mailboxes(bob)["inbox"],
    )
    wait_fed(meili_server)
    with standin.state.lock:
        standin.state.indexes[INDEX_UID].documents.clear()  # the engine lost everything
    assert query(alice, {"text": "quarterly"}) == []
    assert "accounts for the search feeder" in reindex(meili_server, standin, "alice@example.com")
    assert alice.call("Core/echo", {"still": "answering"})[1] == {"still": "answering"}
    wait_fed(meili_server)
    assert query(alice, {"text": "quarterly"}) == ["Lunch", "Quarterly smartchoice report"]
    assert query(bob, {"text": "reindexw"}) == []  # only alice's account was queued
    reindex(meili_server, standin)
    wait_fed(meili_server)
    assert query(bob, {"text": "reindexw"}) == ["bob's"]


def test_reindex_without_a_search_engine_says_so(server):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FULMAR_MEILISEARCH")}
    done = subprocess.run(
        [FULMAR, "reindex", "--data-dir", str(server.data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "no search engine is configured" in done.stderr
