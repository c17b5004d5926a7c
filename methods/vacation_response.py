"""VacationResponse/get and /set (RFC 8621 §8): one object per account, id ``singleton``.

The object exists for every account from the start: until the first update it is the
disabled default, presented without being stored. Create and destroy are refused with
``singleton`` (RFC 8620 §5.3). When the auto-reply goes out is ``smtp_gateway.autoreply``'s
business (RFC 3834).
"""

from __future__ import annotations

from typing import Any

from jmap.api import Invocation, MethodRegistry
from jmap.errors import SetError, invalid_properties
from jmap.ids import is_utc_date, timestamp
from jmap.store.base import Account, Document, Transaction

from .standard import DataType, SetContext, SetResult

SINGLETON = "singleton"


class VacationResponseType(DataType):
    name = "VacationResponse"

    def default(self) -> Document:
        return self.schema.with_defaults({"id": SINGLETON})

    async def method_get(self, inv: Invocation, args: dict[str, Any]) -> dict[str, Any]:
        response = await super().method_get(inv, args)
        if SINGLETON not in response["notFound"] and (
            args.get("ids") is not None or response["list"]
        ):
            return response
        # not stored yet: the default stands in for it
        (shown,) = await self.present(inv, inv.account(args.get("accountId")), [self.default()])
        properties = args.get("properties")
        if properties is not None:
            shown = {k: v for k, v in shown.items() if k in {"id", *properties}}
        response["notFound"] = [i for i in response["notFound"] if i != SINGLETON]
        response["list"].append(shown)
        return response

    async def _creates(
        self,
        inv: Invocation,
        account: Account,
        tx: Transaction,
        create: dict[str, dict[str, Any]],
        ctx: SetContext,
        result: SetResult,
    ) -> None:
        for creation_id in create:
            result.not_created[creation_id] = SetError(
                "singleton", "There is exactly one VacationResponse; update it."
            ).as_dict()

    async def _updates(
        self,
        inv: Invocation,
        account: Account,
        tx: Transaction,
        update: dict[str, dict[str, Any]],
        ctx: SetContext,
        result: SetResult,
    ) -> None:
        if SINGLETON in update and not await tx.get(self.name, [SINGLETON]):
            await tx.create(self.name, self.default())
        await super()._updates(inv, account, tx, update, ctx, result)

    async def before_update(
        self,
        inv: Invocation,
        tx: Transaction,
        current: Document,
        new: dict[str, Any],
        changed: set[str],
        ctx: SetContext,
    ) -> None:
        # the schema checks the shape; a date must also exist (no 30 February)
        bad = [p for p in ("fromDate", "toDate") if new[p] is not None and not is_utc_date(new[p])]
        if bad:
            raise invalid_properties(bad, "Not a date.")
        start, end = timestamp(new["fromDate"]), timestamp(new["toDate"])
        if start is not None and end is not None and end < start:
            raise invalid_properties(["fromDate", "toDate"], "toDate is before fromDate.")

    async def _destroys(
        self,
        inv: Invocation,
        tx: Transaction,
        destroy: list[str],
        ctx: SetContext,
        result: SetResult,
    ) -> None:
        for key in destroy:
            result.not_destroyed[key] = SetError(
                "singleton", "The VacationResponse cannot be destroyed; disable it."
            ).as_dict()


def register(registry: MethodRegistry) -> None:
    VacationResponseType().register(registry)
