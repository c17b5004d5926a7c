"""End to end: the real server with its data role on a MongoDB emulator (nx-27017) and
``meilisearch_url`` pointing at the Meilisearch STAND-IN (``tests.meili_standin``: neither
MongoDB nor Meilisearch runs here), fed from the MongoDB job queue. Email/query text
filters (the engine's id sets inside the MongoDB query) and SearchSnippet/get answer as the
embedded FTS5 server with the same mail; destroys reach the engine; with the stand-in
down, text searches answer serverUnavailable and the feed catches up; ``fulmar reindex``
rebuilds from MongoDB.

Waiting for the feed polls the MongoDB ``jobs`` collection until no ``search`` job is left.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from jmap.provision import add_account
from jmap.store.meili import INDEX_UID
from jmap.store.mongo_mail import MongoMailStore
from tests.conftest import FULMAR, USERS, Client, FulmarServer, free_port
from tests.mail.conftest import import_raw, mailboxes
from tests.mail.test_search_meili_standin import FILTERS, KEY, MAX_HITS, load, mail, query
from tests.meili_standin import MeiliStandIn
from tests.mongo.fixtures import mongo_url
from tests.mongo.servers import MONGOECO, NX27017


def search_jobs(url: str) -> int:
    client: MongoClient[Any] = MongoClient(url)
    try:
        return client.get_default_database().jobs.count_documents({"queue": "search"})
    finally:
        client.close()


def wait_fed(url: str, timeout: float = 120) -> None:
    """Until the search queue is empty (the feeder completed every job)."""
    deadline = time.monotonic() + timeout
    while search_jobs(url):
        assert time.monotonic() < deadline, "the search feed did not catch up"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def standin():
    server = MeiliStandIn(key=KEY).start()
    yield server
    server.close()


def provision(url: str) -> None:
    async def run() -> None:
        data = MongoMailStore(url)
        await data.open()
        try:
            for address, password in USERS.items():
                await add_account(data, address, password)
        finally:
            await data.close()

    asyncio.run(run())


#: observed on mongoeco (whose transactions are not isolated, see README): with the search
#: feeder claiming jobs outside transactions while Email/import commits, an Email/set just
#: after it answered success, yet its keywords were not kept and the Email state went back
MONGOECO_RACE = (
    "mongoeco: an Email/set right after Email/import, while the feeder claims jobs, answered "
    "success but was not kept (no transaction isolation); this runs on nx-27017"
)


@pytest.fixture(
    scope="module",
    params=[NX27017, pytest.param(MONGOECO, marks=pytest.mark.skip(reason=MONGOECO_RACE))],
)
def mongo_meili(request, tmp_path_factory, standin):
    """(server, its MongoDB URL): MongoDB data role (each emulator), stand-in search role."""
    base = mongo_url(request, request.param)
    data_dir = tmp_path_factory.mktemp("fulmar-mongo-meili")
    name = "mm" + hashlib.sha1(str(data_dir).encode()).hexdigest()[:12]
    url = base.replace("/?", f"/{name}?")
    provision(url)
    config = data_dir / "fulmar.toml"
    config.write_text(f"meilisearch_max_hits = {MAX_HITS}\n")
    env = {
        "FULMAR_MONGODB_URL": url,
        "FULMAR_MEILISEARCH_URL": standin.url,
        "FULMAR_MEILISEARCH_KEY": KEY,
    }
    server = FulmarServer(data_dir, free_port(), ["--config", str(config)], env)
    server.start()
    yield server, url
    server.stop()
    assert "Traceback" not in server.log(), server.log()


@pytest.fixture(scope="module")
def fts5(alice):
    """alice's mail on the embedded server (FTS5), the reference."""
    load(alice)
    return alice


@pytest.fixture(scope="module")
def loaded(fts5, mongo_meili):
    """alice's mail on both servers: (FTS5 client, MongoDB + stand-in client)."""
    server, url = mongo_meili
    other = server.client("alice@example.com")
    load(other)
    wait_fed(url)
    return fts5, other


@pytest.mark.parametrize("filter_", FILTERS, ids=[str(f) for f in FILTERS])
def test_mongo_meili_text_filters_answer_as_fts5(loaded, filter_):
    fts5, meili = loaded
    assert query(meili, filter_) == query(fts5, filter_)
    assert query(meili, filter_, collapseThreads=True) == query(fts5, filter_, collapseThreads=True)
    sort = [{"property": "hasKeyword", "keyword": "$seen"}, {"property": "receivedAt"}]
    assert query(meili, filter_, sort=sort) == query(fts5, filter_, sort=sort)  # aggregation


@pytest.mark.parametrize("filter_", [{"text": "hello"}, {"body": "lunch menu"}, {"text": "cafe"}])
def test_mongo_meili_snippets_answer_as_fts5(loaded, filter_):
    def snippets(client: Client) -> list[tuple[Any, Any]]:
        ids = client.ok("Email/query", {})["ids"]
        got = client.ok("SearchSnippet/get", {"filter": filter_, "emailIds": ids})["list"]
        return sorted((s["subject"] or "", s["preview"] or "") for s in got)

    fts5, meili = loaded
    expected = snippets(fts5)
    assert any(subject or preview for subject, preview in expected)
    assert snippets(meili) == expected


def test_mongo_meili_too_many_hits_is_unsupported_filter(loaded):
    _, meili = loaded
    error = meili.fail("Email/query", {"accountId": meili.account_id, "filter": {"text": "bulk"}})
    assert error["type"] == "unsupportedFilter", error


def test_mongo_meili_destroy_and_outage(loaded, mongo_meili, standin):
    _, url = mongo_meili
    _, alice = loaded
    inbox = mailboxes(alice)["inbox"]
    (gone,) = import_raw(
        alice, [mail("ephemeral", "soon gone", "a@example.com", "b@example.com")], inbox
    )
    wait_fed(url)
    assert query(alice, {"text": "ephemeral"}) == ["ephemeral"]
    alice.ok("Email/set", {"destroy": [gone]})
    wait_fed(url)
    assert not any(d["email_id"] == gone for d in standin.documents(INDEX_UID).values())
    standin.stop()
    try:
        (late,) = import_raw(
            alice, [mail("while down", "latecomer", "a@example.com", "b@example.com")], inbox
        )
        assert late in alice.ok("Email/query", {})["ids"]  # delivery does not wait for search
        error = alice.fail(
            "Email/query", {"accountId": alice.account_id, "filter": {"text": "latecomer"}}
        )
        assert error["type"] == "serverUnavailable", error
        assert search_jobs(url) >= 1  # kept in MongoDB for later
    finally:
        standin.start()
    wait_fed(url)
    assert query(alice, {"text": "latecomer"}) == ["while down"]


def test_mongo_meili_reindex(loaded, mongo_meili, standin, tmp_path: Path):
    _, url = mongo_meili
    _, alice = loaded
    with standin.state.lock:
        standin.state.indexes[INDEX_UID].documents.clear()  # the engine lost everything
    assert query(alice, {"text": "quarterly"}) == []
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FULMAR_")},
        "FULMAR_MONGODB_URL": url,
        "FULMAR_MEILISEARCH_URL": standin.url,
        "FULMAR_MEILISEARCH_KEY": KEY,
    }
    done = subprocess.run(
        [FULMAR, "reindex", "alice@example.com"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    wait_fed(url)
    assert query(alice, {"text": "quarterly"}) == ["Lunch", "Quarterly smartchoice report"]
