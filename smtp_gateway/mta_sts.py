"""MTA-STS (RFC 8461): a domain's published demand that mail to it goes over TLS, to MX
hosts it names, with certificates that verify.

The policy's existence is a TXT record at ``_mta-sts.<domain>`` (``v=STSv1; id=…``); the
policy itself is fetched over HTTPS from ``mta-sts.<domain>/.well-known/mta-sts.txt``
(§3.3: no redirects, 200 only, bounded size and time) and cached until ``max_age`` or until
the TXT id changes (§5.1), in the data role (``sts_cache.DataPolicyCache``) so that no
restart and no other node forgets one. In ``enforce`` mode only MX hosts matching its
``mx`` patterns are used, each with STARTTLS and a certificate valid for the MX name; if
none can be, the message waits (a temporary failure, §5). ``testing`` and ``none`` change
nothing here (TLSRPT reporting is not built).
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import httpx

#: §3.2: a policy is small; §3.3: fetch with a short timeout
MAX_POLICY_OCTETS = 64 * 1024
FETCH_TIMEOUT_SECONDS = 10.0
MAX_AGE_LIMIT = 31_557_600
#: a cached policy whose TXT id is unchanged is fetched again once this old (STS-4)
REFRESH_SECONDS = 86_400
#: after a failed fetch, the same domain and id are not fetched again this soon (STS-2)
FETCH_RETRY_SECONDS = 300
#: failed fetches remembered per process (then forgotten all at once)
MAX_FAILURES_KEPT = 10_000


class TxtResolver(Protocol):
    async def txt(self, name: str) -> list[str]:
        """The TXT strings of the name (each record's strings joined); [] if none."""

    async def addresses(self, host: str) -> list[str]: ...


@dataclass(frozen=True)
class Policy:
    mode: str
    mx: tuple[str, ...]
    max_age: int

    def matches(self, host: str) -> bool:
        """§4.1: an exact name, or ``*.suffix`` standing for exactly one more label."""
        host = host.lower().rstrip(".")
        for pattern in self.mx:
            if pattern.startswith("*."):
                label, _, rest = host.partition(".")
                if label and rest == pattern[2:]:
                    return True
            elif host == pattern:
                return True
        return False


def parse_policy(text: str) -> Policy | None:
    """§3.2: ``key: value`` lines; version STSv1, a mode, max_age, and mx lines unless the
    mode is none. Anything else is no valid policy (None)."""
    fields: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), []).append(value.strip())
    version, mode, max_age = (fields.get(k, [""])[0] for k in ("version", "mode", "max_age"))
    mx = tuple(m.lower().rstrip(".") for m in fields.get("mx", []) if m)
    if version != "STSv1" or mode not in ("enforce", "testing", "none"):
        return None
    if not (max_age.isascii() and max_age.isdigit() and len(max_age) <= 10):
        return None
    if mode != "none" and not mx:
        return None
    return Policy(mode, mx, min(int(max_age), MAX_AGE_LIMIT))


def sts_id(records: list[str]) -> str | None:
    """§3.1: exactly one record starting ``v=STSv1``, with an ``id`` of 1-32 alphanumerics."""
    found = [r for r in records if r.replace(" ", "").startswith("v=STSv1;") or r == "v=STSv1"]
    if len(found) != 1:
        return None
    for part in found[0].split(";"):
        key, _, value = part.strip().partition("=")
        if key == "id" and value.isascii() and value.isalnum() and 0 < len(value) <= 32:
            return value
    return None


Fetcher = Callable[[str], Awaitable[str | None]]


class PolicyFetcher:
    """GETs the policy over HTTPS, from the addresses our resolver gives for the policy
    host (no system DNS), verifying the certificate for that host name."""

    def __init__(
        self, resolver: TxtResolver, ca_file: str = "", port: int = 443, timeout: float = 10.0
    ) -> None:
        self.resolver = resolver
        self.port = port
        self.timeout = timeout
        self.context = ssl.create_default_context(cafile=ca_file or None)

    async def __call__(self, domain: str) -> str | None:
        host = f"mta-sts.{domain}"
        try:
            addresses = await self.resolver.addresses(host)
        except Exception:  # a DNS failure: no policy fetched now
            return None
        async with httpx.AsyncClient(verify=self.context, timeout=self.timeout) as client:
            for address in addresses:
                literal = f"[{address}]" if ":" in address else address
                url = f"https://{literal}:{self.port}/.well-known/mta-sts.txt"
                try:
                    async with client.stream(
                        "GET",
                        url,
                        headers={"Host": host},
                        extensions={"sni_hostname": host},
                        follow_redirects=False,
                    ) as response:
                        if response.status_code != 200:
                            return None
                        kind = response.headers.get("content-type", "").split(";")[0].strip()
                        if kind.lower() != "text/plain":
                            return None
                        body = b""
                        async for chunk in response.aiter_bytes():
                            body += chunk
                            if len(body) > MAX_POLICY_OCTETS:
                                return None
                        return body.decode("utf-8", "replace")
                except (httpx.HTTPError, ssl.SSLError, OSError):
                    continue
        return None


@dataclass(frozen=True)
class CachedPolicy:
    policy: Policy
    policy_id: str
    #: when it was last fetched; it holds until ``fetched + max_age``
    fetched: float

    @property
    def expires(self) -> float:
        return self.fetched + self.policy.max_age


class PolicyCache(Protocol):
    async def load(self, domain: str) -> CachedPolicy | None: ...

    async def save(self, domain: str, cached: CachedPolicy) -> None: ...


class MemoryPolicyCache:
    """One process's cache (tests, tools); the server's is ``DataPolicyCache``."""

    def __init__(self) -> None:
        self._policies: dict[str, CachedPolicy] = {}

    async def load(self, domain: str) -> CachedPolicy | None:
        return self._policies.get(domain)

    async def save(self, domain: str, cached: CachedPolicy) -> None:
        self._policies[domain] = cached


class MtaSts:
    """The policies of destination domains (§5.1): a cached policy is used until
    ``max_age`` after its last fetch, refetched when the TXT id changes and, with the same
    id, once it is a day old (its ``max_age`` renewed: STS-4); a missing or unanswered TXT
    record, or a failed fetch, leaves a live cached policy in force. A fetch that failed
    is not tried again for the same domain and id for five minutes (§3.3)."""

    def __init__(
        self,
        resolver: TxtResolver,
        fetch: Fetcher,
        now: Callable[[], float],
        cache: PolicyCache | None = None,
    ) -> None:
        self.resolver = resolver
        self.fetch = fetch
        self.now = now
        self.cache = cache or MemoryPolicyCache()
        #: (domain, policy id) -> when a fetch of it last failed (this process)
        self._failed: dict[tuple[str, str], float] = {}

    async def policy(self, domain: str) -> Policy | None:
        now = self.now()
        cached = await self.cache.load(domain)
        if cached is not None and cached.expires <= now:
            cached = None
        live = cached.policy if cached else None
        try:
            policy_id = sts_id(await self.resolver.txt(f"_mta-sts.{domain}"))
        except Exception:  # no answer now: a cached policy still holds (§5.1)
            return live
        if policy_id is None:
            return live
        same = cached is not None and cached.policy_id == policy_id
        if same and now - cached.fetched < REFRESH_SECONDS:  # type: ignore[union-attr]
            return live
        failed = self._failed.get((domain, policy_id))
        if failed is not None and now - failed < FETCH_RETRY_SECONDS:
            return live
        text = await self.fetch(domain)
        policy = parse_policy(text) if text is not None else None
        if policy is None:
            if len(self._failed) >= MAX_FAILURES_KEPT:
                self._failed.clear()
            self._failed[(domain, policy_id)] = now
            return live
        self._failed.pop((domain, policy_id), None)
        await self.cache.save(domain, CachedPolicy(policy, policy_id, now))
        return policy
