"""Thread (RFC 8621 §3): the Emails of one conversation, oldest first. Threads are written
by ``EmailWriter`` as Emails come and go; clients only read them."""

from __future__ import annotations

from typing import Any

from jmap.api import Invocation
from jmap.store.base import Account, Document

from .standard import DataType


class ThreadType(DataType):
    name = "Thread"
    id_prefix = "T"

    async def present(
        self, inv: Invocation, account: Account, docs: list[Document]
    ) -> list[dict[str, Any]]:
        return [{"id": d["id"], "emailIds": d["emailIds"]} for d in docs]
