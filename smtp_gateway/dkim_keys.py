"""DKIM signing keys per domain, stored in the data role as ``DkimKey`` documents of the
reserved ``SERVER_ACCOUNT``, so every node and every backend sees the same keys.

A domain has one active pair (rsa-sha256 with RSA 2048 and ed25519-sha256, RFC 8463) that
signs, and may have retired pairs that stay published until removed (RFC 6376 §5.2: keep
an old key in DNS while mail signed with it may still be verified). Selectors are dated,
``f<YYYYMMDD>r`` and ``f<YYYYMMDD>e``, with a letter before the algorithm's when one day
has several (``f20261202br``).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from jmap.store.base import SERVER_ACCOUNT, DataStore, WriteConflict

TYPE = "DkimKey"
RSA = "rsa-sha256"
ED25519 = "ed25519-sha256"
ALGORITHMS = (RSA, ED25519)
RSA_BITS = 2048
_LETTER = {RSA: "r", ED25519: "e"}


class DkimKeyError(ValueError):
    """A domain or selector that cannot carry DKIM keys."""


@dataclass(frozen=True, slots=True)
class DkimKey:
    id: str
    domain: str
    selector: str
    algorithm: str
    privateKey: str  # the stored document's property names
    publicKey: str
    created: float
    active: bool

    @property
    def dns_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"

    @property
    def dns_value(self) -> str:
        """The TXT record (RFC 6376 §3.6.1; k=ed25519 per RFC 8463 §4.2)."""
        k = "rsa" if self.algorithm == RSA else "ed25519"
        return f"v=DKIM1; k={k}; p={self.publicKey}"

    def signing_key(self) -> bytes:
        """What dkimpy signs with: PKCS#1 PEM for RSA, the base64 seed for Ed25519."""
        if self.algorithm == RSA:
            return self.privateKey.encode()
        key = serialization.load_pem_private_key(self.privateKey.encode(), password=None)
        seed = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return base64.b64encode(seed)


def check_domain(domain: str) -> str:
    """The domain as DKIM's d= needs it: lower case, A-labels (RFC 6376 §3.5), no final dot."""
    name = domain.strip().rstrip(".").lower()
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        raise DkimKeyError(f"not a domain name: {domain!r}") from None
    labels = name.split(".")
    ok = len(name) <= 253 and len(labels) >= 2
    for label in labels:
        ok = ok and 0 < len(label) <= 63 and label.replace("-", "").replace("_", "").isalnum()
        ok = ok and not label.startswith("-") and not label.endswith("-")
    if not ok:
        raise DkimKeyError(f"not a domain name: {domain!r}")
    return name


def generate(domain: str, selector: str, algorithm: str, now: float) -> DkimKey:
    """A new key pair (CPU: call it off the event loop)."""
    if algorithm == RSA:
        private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,  # PKCS#1, what dkimpy reads
            serialization.NoEncryption(),
        )
        public = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    elif algorithm == ED25519:
        private_ed = ed25519.Ed25519PrivateKey.generate()
        pem = private_ed.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        public = private_ed.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    else:
        raise DkimKeyError(f"unknown DKIM algorithm {algorithm!r}")
    return DkimKey(
        id=f"{domain}:{selector}",
        domain=domain,
        selector=selector,
        algorithm=algorithm,
        privateKey=pem.decode(),
        publicKey=base64.b64encode(public).decode(),
        created=now,
        active=True,
    )


async def all_keys(data: DataStore, domain: str) -> list[DkimKey]:
    """Every stored key of the domain, oldest first."""
    domain = check_domain(domain)
    _, docs = await data.get(SERVER_ACCOUNT, TYPE, None)
    keys = [_key(doc) for doc in docs if doc.get("domain") == domain]
    return sorted(keys, key=lambda k: (k.created, k.algorithm != RSA, k.selector))


async def active_keys(
    data: DataStore, domain: str, clock: Callable[[], float] = time.time
) -> list[DkimKey]:
    """The keys that sign for the domain (RSA first), made on first use."""
    for _ in range(5):
        active = [k for k in await all_keys(data, domain) if k.active]
        if active:
            return sorted(active, key=lambda k: k.algorithm != RSA)
        try:
            return await _add_pair(data, check_domain(domain), clock(), retire=False)
        except WriteConflict:
            continue  # another process made them meanwhile: read again
    raise WriteConflict(f"could not create DKIM keys for {domain}")


async def rotate(
    data: DataStore, domain: str, clock: Callable[[], float] = time.time
) -> tuple[list[DkimKey], list[DkimKey]]:
    """A new active pair; the pair that was active is retired but kept (still published).
    Returns (new, retired)."""
    domain = check_domain(domain)
    before = [k for k in await all_keys(data, domain) if k.active]
    new = await _add_pair(data, domain, clock(), retire=True)
    return new, before


async def remove(data: DataStore, domain: str, selector: str) -> DkimKey:
    """Forget a retired key (it must no longer be published); the active ones stay."""
    domain = check_domain(domain)
    found = [k for k in await all_keys(data, domain) if k.selector == selector.strip()]
    if not found:
        raise DkimKeyError(f"{domain} has no DKIM selector {selector!r}")
    if found[0].active:
        raise DkimKeyError(f"{selector} signs {domain}'s mail: rotate first, then remove it")
    async with data.transaction(SERVER_ACCOUNT) as tx:
        await tx.destroy(TYPE, found[0].id)
    return found[0]


async def _add_pair(data: DataStore, domain: str, now: float, retire: bool) -> list[DkimKey]:
    taken = {k.selector for k in await all_keys(data, domain)}
    base = "f" + time.strftime("%Y%m%d", time.gmtime(now))
    for extra in ["", *"bcdfghjkmnpqstuvwxyz"]:
        selectors = {alg: f"{base}{extra}{_LETTER[alg]}" for alg in ALGORITHMS}
        if not taken & set(selectors.values()):
            break
    else:
        raise DkimKeyError(f"too many DKIM keys made for {domain} today")
    keys = [
        await asyncio.to_thread(generate, domain, selectors[alg], alg, now) for alg in ALGORITHMS
    ]
    async with data.transaction(SERVER_ACCOUNT) as tx:
        current = await tx.all(TYPE)
        if not retire and any(d.get("domain") == domain and d.get("active") for d in current):
            raise WriteConflict("keys were made meanwhile")
        for doc in current:
            if retire and doc.get("domain") == domain and doc.get("active"):
                await tx.update(TYPE, {**doc, "active": False}, {"active"})
        for key in keys:
            await tx.create(TYPE, asdict(key))
    return keys


def _key(doc: dict) -> DkimKey:
    return DkimKey(**{name: doc[name] for name in DkimKey.__dataclass_fields__})
