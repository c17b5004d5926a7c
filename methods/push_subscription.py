"""PushSubscription/get and /set (RFC 8620 §7.2).

How a subscription is stored: ``push.subscription_records``. The methods only read and write
documents; the verification POST and the pushes are sent by ``push.delivery`` when it sees
the write's state change on the bus.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from typing import Any

from jmap.api import Invocation, MethodRegistry
from jmap.errors import MethodError, SetError, invalid_properties
from jmap.ids import is_id, timestamp, utc_date
from jmap.schema import type_schema
from jmap.store.base import Account, Document, Transaction
from push.ssrf import check_push_url
from push.subscription_records import TYPE, is_expired
from push.webpush import check_keys

from .patch import apply_patch
from .standard import set_operations

PUBLIC = ("id", "deviceClientId", "verificationCode", "expires", "types")
SECRET = frozenset({"url", "keys"})
MUTABLE = frozenset({"verificationCode", "expires", "types"})


def personal_account(inv: Invocation) -> Account:
    account = next(
        (a for a in inv.accounts.values() if a.is_personal and a.owner_id == inv.principal.id),
        None,
    )
    if account is None:
        raise MethodError("forbidden", "This user has no account to keep subscriptions in.")
    return account


def _made_with(doc: Document, inv: Invocation) -> bool:
    """Subscriptions belong to the credentials that made them (RFC 8620 §7.2)."""
    return doc.get("_principal") == inv.principal.id and doc.get("_credential") == (
        inv.credential_id
    )


def public_view(doc: Document) -> dict[str, Any]:
    return {name: doc.get(name) for name in PUBLIC}


class CreationRate:
    """Subscriptions created per principal in the last hour, on this node."""

    def __init__(self) -> None:
        self._times: dict[str, deque[float]] = {}

    def allow(self, principal_id: str, limit: int, now: float) -> bool:
        times = self._times.setdefault(principal_id, deque())
        while times and times[0] <= now - 3600:
            times.popleft()
        if len(times) >= limit:
            return False
        times.append(now)
        return True


class PushSubscriptionMethods:
    def __init__(self) -> None:
        self.schema = type_schema(TYPE)
        self.rate = CreationRate()

    def register(self, registry: MethodRegistry) -> None:
        registry.add(f"{TYPE}/get", self.schema.capability, self.get)
        registry.add(f"{TYPE}/set", self.schema.capability, self.set)

    # -- /get --
    async def get(self, inv: Invocation, args: dict[str, Any]) -> dict[str, Any]:
        properties = args.get("properties")
        if isinstance(properties, list) and SECRET & set(properties):
            raise MethodError("forbidden", "The url and keys of a subscription are never shown.")
        self.schema.validate_arguments("get", args)
        account = personal_account(inv)
        ids = args.get("ids")
        if ids is not None:
            ids = list(dict.fromkeys(inv.resolve_creation_id(i) or i for i in ids))
        _, docs = await inv.services.data.get(account.id, TYPE, ids)
        mine = [d for d in docs if _made_with(d, inv)]
        wanted = set(PUBLIC if properties is None else ["id", *properties])
        found = {d["id"] for d in mine}
        return {
            "list": [{k: v for k, v in public_view(d).items() if k in wanted} for d in mine],
            "notFound": [i for i in ids if i not in found] if ids is not None else [],
        }

    # -- /set --
    async def set(self, inv: Invocation, args: dict[str, Any]) -> dict[str, Any]:
        self.schema.validate_arguments("set", args)
        create, update, destroy = set_operations(inv, args)
        account = personal_account(inv)
        result: dict[str, dict[str, Any]] = {k: {} for k in ("created", "updated", "notCreated")}
        result.update(notUpdated={}, notDestroyed={})
        destroyed: list[str] = []
        prepared = {cid: await self._prepare(inv, obj) for cid, obj in create.items()}
        async with inv.services.write(account.id) as tx:
            for creation_id, obj in prepared.items():
                try:
                    if isinstance(obj, SetError):
                        raise obj
                    doc = await self._create(inv, tx, obj)
                except SetError as exc:
                    result["notCreated"][creation_id] = exc.as_dict()
                    continue
                inv.created_ids[creation_id] = doc["id"]
                shown = public_view(doc)
                result["created"][creation_id] = {
                    k: v for k, v in shown.items() if k not in create[creation_id] or k == "expires"
                }
            for key, patch in update.items():
                try:
                    changed = await self._update(inv, tx, key, patch)
                except SetError as exc:
                    result["notUpdated"][key] = exc.as_dict()
                    continue
                result["updated"][key] = changed
            for key in destroy:
                object_id = inv.resolve_creation_id(key)
                current = await self._mine(inv, tx, object_id)
                if current is None:
                    result["notDestroyed"][key] = SetError("notFound").as_dict()
                    continue
                await tx.destroy(TYPE, current["id"])
                destroyed.append(current["id"])
        return {
            "created": result["created"] or None,
            "updated": result["updated"] or None,
            "destroyed": destroyed or None,
            "notCreated": result["notCreated"] or None,
            "notUpdated": result["notUpdated"] or None,
            "notDestroyed": result["notDestroyed"] or None,
        }

    async def _prepare(self, inv: Invocation, obj: dict[str, Any]) -> dict[str, Any] | SetError:
        """Check a new subscription outside the transaction (the url check resolves DNS).

        Every invalid property is named at once (RFC 8620 §5.3)."""
        bad = set(self.schema.invalid_properties(obj))
        bad.update(self.schema.required - obj.keys())
        why = []
        if "id" in obj:
            bad.add("id")
            why.append("The id is set by the server.")
        if obj.get("verificationCode") is not None:
            bad.add("verificationCode")
            why.append("verificationCode must be null on create.")
        if "keys" not in bad and obj.get("keys") is not None and not check_keys(obj["keys"]):
            bad.add("keys")
            why.append("keys must hold a P-256 point and 16 octets.")
        if "url" not in bad:
            reason = await check_push_url(obj["url"], inv.services.config.push_allow_local_http)
            if reason:
                bad.add("url")
                why.append(reason)
        if bad:
            return invalid_properties(sorted(bad), " ".join(why) or None)
        return self.schema.with_defaults(obj)

    async def _create(self, inv: Invocation, tx: Transaction, obj: dict[str, Any]) -> Document:
        config = inv.services.config
        now = time.time()
        live = []
        for doc in await tx.all(TYPE):
            if is_expired(doc, now):
                await tx.destroy(TYPE, doc["id"])
            elif _made_with(doc, inv):
                live.append(doc)
        if len(live) >= config.push_max_subscriptions:
            raise SetError("overQuota", f"At most {config.push_max_subscriptions} subscriptions.")
        if not self.rate.allow(inv.principal.id, config.push_max_creations_per_hour, now):
            raise SetError("rateLimit", "Too many subscriptions created lately; try later.")
        (object_id,) = await tx.new_ids("ps", 1)
        doc = {
            **obj,
            "id": object_id,
            "expires": _clamp_expires(obj.get("expires"), config.push_subscription_max_days, now),
            "_principal": inv.principal.id,
            "_credential": inv.credential_id,
            "_code": secrets.token_urlsafe(24),
            "_created": now,
        }
        await tx.create(TYPE, doc)
        return doc

    async def _mine(self, inv: Invocation, tx: Transaction, object_id: Any) -> Document | None:
        if not is_id(object_id):
            return None
        doc = (await tx.get(TYPE, [object_id])).get(object_id)
        return doc if doc is not None and _made_with(doc, inv) else None

    async def _update(
        self, inv: Invocation, tx: Transaction, key: str, patch: dict[str, Any]
    ) -> dict[str, Any] | None:
        current = await self._mine(inv, tx, inv.resolve_creation_id(key))
        if current is None:
            raise SetError("notFound")
        shown = {**public_view(current), "url": current["url"], "keys": current.get("keys")}
        patched, touched = apply_patch(shown, patch)
        unknown = sorted(touched - self.schema.properties.keys())
        fixed = sorted(p for p in touched - MUTABLE if patched.get(p) != shown.get(p))
        if unknown or fixed:
            raise invalid_properties(unknown + fixed, "Only verificationCode, expires and types.")
        bad = self.schema.invalid_properties({p: patched[p] for p in touched & MUTABLE})
        if bad:
            raise invalid_properties(bad)
        code = patched.get("verificationCode")
        if "verificationCode" in touched and code is not None and code != current["_code"]:
            raise invalid_properties(["verificationCode"], "That is not the verification code.")
        new = {**current, **{p: patched[p] for p in touched & MUTABLE}}
        server_set: dict[str, Any] = {}
        if "expires" in touched:
            config = inv.services.config
            new["expires"] = _clamp_expires(
                patched["expires"], config.push_subscription_max_days, time.time()
            )
            if new["expires"] != patched["expires"]:
                server_set["expires"] = new["expires"]
        if new != current:
            await tx.update(TYPE, new, touched & MUTABLE)
        return server_set or None


def _clamp_expires(value: str | None, max_days: int, now: float) -> str:
    """The server's limit on a subscription's life (RFC 8620 §7.2: it MAY shorten it).

    ``value`` passed the schema. A time already past becomes now: the subscription has
    expired either way, and every stored date stays one the push records can read.
    """
    limit = now + max_days * 86400
    wanted = timestamp(value, utc=True)
    return utc_date(limit if wanted is None else min(max(wanted, now), limit))


def register(registry: MethodRegistry) -> None:
    PushSubscriptionMethods().register(registry)
