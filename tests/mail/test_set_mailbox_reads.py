"""Mailbox/set reads the account's Mailboxes once per call, not once per create or
destroy (issue 8.3): counted by a wrapper around the store's transaction, never timed."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

from jmap.api import Invocation
from jmap.capabilities import CORE, MAIL
from jmap.config import Config
from jmap.provision import add_account
from jmap.services import Services
from jmap.store.factory import open_data_store
from methods.mailbox import MailboxType


class CountingTransaction:
    """Passes every call on; counts the reads of Mailbox documents."""

    def __init__(self, tx: Any, reads: Counter[str]) -> None:
        self._tx = tx
        self._reads = reads

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)

    async def all(self, type_name: str) -> list[dict[str, Any]]:
        self._reads[f"all {type_name}"] += 1
        return await self._tx.all(type_name)

    async def get(self, type_name: str, ids: list[str]) -> dict[str, Any]:
        self._reads[f"get {type_name}"] += 1
        return await self._tx.get(type_name, ids)


class QuietBus:
    async def publish(self, account_id: str, changed: dict[str, str]) -> None:
        pass


Call = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]


def run_set(tmp_path, calls: list[Call]) -> list[tuple[dict[str, Any], Counter[str]]]:
    """Run Mailbox/set calls in-process; each call's response and Mailbox read counts.
    A call may be a function of the previous call's response."""

    async def main() -> list[tuple[dict[str, Any], Counter[str]]]:
        data = open_data_store(tmp_path / "fulmar.db")
        await data.open()
        try:
            account = await add_account(data, "alice@example.com", "alice-password")
            reads: Counter[str] = Counter()
            plain = data.transaction

            @asynccontextmanager
            async def counting(account_id: str):
                async with plain(account_id) as tx:
                    yield CountingTransaction(tx, reads)

            data.transaction = counting  # type: ignore[method-assign]
            # Mailbox/set needs neither blobs nor the worker pool
            services = Services(Config(), data, None, QuietBus(), None)  # type: ignore[arg-type]
            principal = await data.principal_by_login("alice@example.com")
            out: list[tuple[dict[str, Any], Counter[str]]] = []
            for call in calls:
                args = call(out[-1][0]) if callable(call) else call
                inv = Invocation(
                    services, principal, {account.id: account}, frozenset({CORE, MAIL}), {}
                )
                reads.clear()
                response = await MailboxType().method_set(inv, {"accountId": account.id, **args})
                out.append((response, Counter(reads)))
            return out
        finally:
            await data.close()

    return asyncio.run(main())


def mailbox_reads(reads: Counter[str]) -> int:
    return reads["all Mailbox"] + reads["get Mailbox"]


def test_creates_read_the_mailboxes_once(tmp_path):
    creates = {f"c{i}": {"name": f"Box {i}"} for i in range(60)}
    nested = {"p": {"name": "Parent"}, "k": {"name": "Kid", "parentId": "#p"}}
    ((response, reads), (nested_response, nested_reads)) = run_set(
        tmp_path, [{"create": creates}, {"create": nested}]
    )
    assert len(response["created"]) == 60 and response["notCreated"] is None
    assert mailbox_reads(reads) == 1, reads
    assert sorted(nested_response["created"]) == ["k", "p"]
    assert mailbox_reads(nested_reads) == 1, nested_reads


def test_destroys_read_the_mailboxes_once_plus_one_get_each(tmp_path):
    creates = {f"c{i}": {"name": f"Box {i}"} for i in range(40)}
    ((created, _), (response, reads)) = run_set(
        tmp_path,
        [{"create": creates}, lambda r: {"destroy": [c["id"] for c in r["created"].values()]}],
    )
    ids = [c["id"] for c in created["created"].values()]
    assert sorted(response["destroyed"]) == sorted(ids)
    # the tree once, and each destroyed Mailbox fetched once: linear, not quadratic
    assert reads["all Mailbox"] == 1, reads
    assert reads["get Mailbox"] <= len(ids), reads
