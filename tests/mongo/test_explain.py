"""Every query shape of the MongoDB mail index and data role is served by an index: on a
large mailbox, ``explain`` must show no collection scan.

Runs where the server under test reports MongoDB's query plans: a real MongoDB
(``FULMAR_TEST_MONGODB_URL``). The emulators answer ``explain`` in their own terms (nx-27017:
SQLite's plan, scanning for every match on an array; mongoeco: its engine's plan), so there
the shapes are skipped with that reason; the plan walker itself is tested on plan documents.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from jmap.store.base import INDEX_ONLY
from jmap.store.mail import EmailQuery
from jmap.store.mongo_mail import MongoMailStore
from jmap.store.mongo_mail_query import account_filter, needs_pipeline, pipeline, sort_keys
from tests.mongo.fixtures import mongo_url
from tests.mongo.servers import EMULATORS, LACKS, REAL, REAL_URL_ENV

#: a few thousand Emails: enough for a planner to prefer an index over a scan
EMAILS = 3000
BATCH = 250
INBOX, ARCHIVE = "M0", "M1"


def collection_scans(explain: Any) -> list[Any]:
    """Every COLLSCAN stage anywhere in an explain document (sharded plans nest them)."""
    found = []
    pending = [explain]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            if node.get("stage") == "COLLSCAN":
                found.append(node)
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return found


def test_the_plan_walker_finds_nested_collection_scans():
    merged = {
        "queryPlanner": {
            "winningPlan": {
                "stage": "SHARD_MERGE",
                "shards": [
                    {"winningPlan": {"stage": "FETCH", "inputStage": {"stage": "IXSCAN"}}},
                    {"winningPlan": {"stage": "SORT", "inputStage": {"stage": "COLLSCAN"}}},
                ],
            }
        }
    }
    assert len(collection_scans(merged)) == 1
    indexed = {"stages": [{"$cursor": {"queryPlanner": {"winningPlan": {"stage": "IXSCAN"}}}}]}
    assert collection_scans(indexed) == []


SHAPES: dict[str, EmailQuery] = {
    "inbox listing": EmailQuery(
        {"inMailbox": INBOX}, [{"property": "receivedAt", "isAscending": False}]
    ),
    "inbox threads": EmailQuery(
        {"inMailbox": INBOX}, [{"property": "receivedAt", "isAscending": False}], True
    ),
    "other than": EmailQuery({"inMailboxOtherThan": [INBOX]}),
    "unread": EmailQuery({"inMailbox": INBOX, "notKeyword": "$seen"}),
    "flagged": EmailQuery({"hasKeyword": "$flagged"}),
    "thread some": EmailQuery({"someInThreadHaveKeyword": "$flagged"}),
    "thread all": EmailQuery({"allInThreadHaveKeyword": "$seen"}),
    "date range": EmailQuery({"after": "2024-01-02T00:00:00Z", "before": "2024-01-03T00:00:00Z"}),
    "size": EmailQuery({"minSize": 5000}),
    "text word": EmailQuery({"text": "invoice"}),
    "text prefix": EmailQuery({"subject": "invo"}),
    "phrase": EmailQuery({"body": '"quarterly report"'}),
    "from": EmailQuery({"from": "ann@example.com"}),
    "header": EmailQuery({"header": ["x-list", "dev"]}),
    "sort from": EmailQuery({"inMailbox": INBOX}, [{"property": "from"}]),
    "sort keyword": EmailQuery(
        {"inMailbox": INBOX}, [{"property": "hasKeyword", "keyword": "$flagged"}]
    ),
}


def _email(n: int) -> dict[str, Any]:
    day = 1 + n % 28
    return {
        "id": f"e{n}",
        "threadId": f"T{n // 3}",
        "blobId": "G" + f"{n:064x}",
        "mailboxIds": {INBOX if n % 4 else ARCHIVE: True},
        "keywords": {"$seen": True} if n % 2 else {"$flagged": True},
        "receivedAt": f"2024-01-{day:02}T00:00:00Z",
        "sentAt": f"2024-01-{day:02}T00:00:00Z",
        "size": 1000 + n,
        "from": [{"name": f"Sender {n % 50}", "email": f"s{n % 50}@example.com"}],
        "to": [{"name": None, "email": "ann@example.com"}],
        "headers": [{"name": "X-List", "value": "dev" if n % 10 == 0 else "users"}],
        "threadKeys": {"messageIds": [f"m{n}@example.com"], "baseSubject": f"topic {n // 3}"},
        INDEX_ONLY: {
            "search": {
                "from": f"Sender {n % 50} s{n % 50}@example.com",
                "to": "ann@example.com",
                "subject": f"invoice {n}" if n % 7 == 0 else f"topic {n // 3}",
                "body": "the quarterly report is late" if n % 5 == 0 else "hello there",
            }
        },
    }


@pytest.fixture(scope="module", params=[*EMULATORS, REAL])
def mailbox(request: pytest.FixtureRequest):
    backend = request.param
    if backend == REAL and not os.environ.get(REAL_URL_ENV):
        pytest.skip(f"needs a real MongoDB: set {REAL_URL_ENV}")
    if backend in EMULATORS:
        pytest.skip(f"{backend}: {LACKS[backend]['explain'] or 'no MongoDB query plans'}")
    url = mongo_url(request, backend)

    async def build() -> tuple[str, str]:
        store = MongoMailStore(url, database="fulmar_explain")
        await store.open()
        await store.client.drop_database("fulmar_explain")
        await store.open()
        account = await store.create_principal("big@example.com", "h", "big")
        for start in range(0, EMAILS, BATCH):
            async with store.transaction(account.id) as tx:
                for n in range(start, min(EMAILS, start + BATCH)):
                    await tx.create("Email", _email(n))
        await store.close()
        return url, account.id

    return asyncio.run(build())


def _explain(url: str, command: dict[str, Any]) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        store = MongoMailStore(url, database="fulmar_explain")
        await store.open()
        try:
            return await store.db.command("explain", command, verbosity="queryPlanner")
        finally:
            await store.close()

    return asyncio.run(main())


@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_email_query_shape_uses_an_index(mailbox, shape):
    url, account_id = mailbox
    query = SHAPES[shape]
    if needs_pipeline(query):
        command = {
            "aggregate": "mail_email",
            "pipeline": pipeline(account_id, query, 0, 50),
            "cursor": {},
        }
    else:
        spec, _ = sort_keys(query)
        command = {
            "find": "mail_email",
            "filter": account_filter(account_id, query),
            "sort": dict(spec),
            "limit": 50,
        }
    assert collection_scans(_explain(url, command)) == []


OTHER_SHAPES = {
    "counters": lambda a: {
        "aggregate": "mail_email",
        "pipeline": [{"$match": {"account_id": a}}, {"$unwind": "$mailboxes"}],
        "cursor": {},
    },
    "thread for": lambda a: {
        "find": "mail_email",
        "filter": {"account_id": a, "msgids": {"$in": ["m1@example.com"]}, "base_subject": "x"},
        "sort": {"seq": 1},
    },
    "thread mates": lambda a: {
        "find": "mail_email",
        "filter": {"account_id": a, "thread_id": "T1"},
    },
    "blobs": lambda a: {"find": "mail_email", "filter": {"account_id": a, "blob_id": "G0"}},
    "objects": lambda a: {
        "find": "objects",
        "filter": {"account_id": a, "type": "Email", "id": {"$in": ["e1", "e2"]}},
    },
    "changes": lambda a: {
        "find": "changelog",
        "filter": {"account_id": a, "type": "Email", "modseq": {"$gt": 2990}},
        "sort": {"modseq": 1},
    },
}


@pytest.mark.parametrize("shape", list(OTHER_SHAPES))
def test_the_other_lookups_use_an_index(mailbox, shape):
    url, account_id = mailbox
    assert collection_scans(_explain(url, OTHER_SHAPES[shape](account_id))) == []
