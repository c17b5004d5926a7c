"""MTA-STS policies cached in the data role (RFC 8461 §5.1): an ``MtaStsPolicy`` record
of the server account per policy domain, so a restart or another node applies the policy
a sender has seen until its ``max_age`` runs out. That memory is what defeats a
downgrade: an attacker who removes the TXT record or blocks the HTTPS fetch cannot make
a sender that has seen the policy deliver in clear text.

``{"id": domain, "mode", "mx": [pattern, ...], "maxAge": int, "policyId": str,
"fetched": epoch seconds}``.
"""

from __future__ import annotations

import logging

from jmap.store.base import SERVER_ACCOUNT, DataStore, StoreError, WriteConflict

from .mta_sts import CachedPolicy, Policy

log = logging.getLogger("fulmar.smtp.mta_sts")

POLICY = "MtaStsPolicy"
#: writers of the server account race rarely; a save lost after this many is logged
SAVE_ATTEMPTS = 3


def _document(domain: str, cached: CachedPolicy) -> dict:
    policy = cached.policy
    return {
        "id": domain,
        "mode": policy.mode,
        "mx": list(policy.mx),
        "maxAge": policy.max_age,
        "policyId": cached.policy_id,
        "fetched": cached.fetched,
    }


def _cached(doc: dict) -> CachedPolicy | None:
    try:
        policy = Policy(str(doc["mode"]), tuple(doc["mx"]), int(doc["maxAge"]))
        return CachedPolicy(policy, str(doc["policyId"]), float(doc["fetched"]))
    except (KeyError, TypeError, ValueError):  # not written by this module: no policy
        return None


class DataPolicyCache:
    def __init__(self, data: DataStore) -> None:
        self.data = data

    async def load(self, domain: str) -> CachedPolicy | None:
        _, docs = await self.data.get(SERVER_ACCOUNT, POLICY, [domain.lower()])
        return _cached(docs[0]) if docs else None

    async def save(self, domain: str, cached: CachedPolicy) -> None:
        """Store the policy; a newer fetch already stored (another node) is kept."""
        doc = _document(domain.lower(), cached)
        for _ in range(SAVE_ATTEMPTS):
            try:
                async with self.data.transaction(SERVER_ACCOUNT) as tx:
                    current = (await tx.get(POLICY, [doc["id"]])).get(doc["id"])
                    if current is None:
                        await tx.create(POLICY, doc)
                    elif float(current.get("fetched", 0)) <= cached.fetched:
                        await tx.update(POLICY, doc)
                return
            except WriteConflict:
                continue
            except StoreError as exc:
                log.warning("MTA-STS policy of %s not stored: %s", domain, exc)
                return
        log.warning("MTA-STS policy of %s not stored: the server account kept changing", domain)
