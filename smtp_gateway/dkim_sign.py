"""DKIM signing of outgoing mail (dkimpy): every message signed twice, rsa-sha256 and
ed25519-sha256, with the domain's active keys (RFC 8463 §3: verifiers that know only RSA
still find a signature they can check).

Signed header fields (RFC 6376 §5.4, §5.4.1): those dkimpy recommends (From, Sender,
Reply-To, Subject, Date, Message-ID, To, Cc, the MIME fields, Resent-*, In-Reply-To,
References, List-*) as often as they occur, plus once more for the fields below (§8.15,
"oversigning") so that a field added in transit, a second From above all, breaks the
signature. Canonicalization relaxed/simple (§3.4, OpenDKIM's and dkimpy's choice): header
fields may be re-folded in transit; the body is hashed as it is, which costs nothing where
relaxed body canonicalization spends seconds of CPU on a 20 MB message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import dkim

from jmap.store.base import DataStore

from . import dkim_openssl  # noqa: F401  (dkimpy's RSA through OpenSSL)
from .dkim_keys import DkimKey, active_keys, check_domain

#: fields signed once more than they occur: none may be added without breaking the signature
OVERSIGN = (
    b"from",
    b"sender",
    b"reply-to",
    b"subject",
    b"date",
    b"message-id",
    b"to",
    b"cc",
    b"in-reply-to",
    b"references",
    b"mime-version",
    b"content-type",
    b"content-transfer-encoding",
)


class DkimSignError(ValueError):
    """The message cannot be signed (dkimpy cannot parse its header section)."""


async def sign_message(
    raw: bytes, domain: str, data: DataStore, *, clock: Callable[[], float] = time.time
) -> bytes:
    """``raw`` with DKIM-Signature fields for ``domain`` prepended (RFC 6376 §5.6), its keys
    made on first use. Hashing and signing run in a thread. Raises DkimSignError when the
    message's header section is unparsable."""
    domain = check_domain(domain)
    keys = await active_keys(data, domain, clock)
    return await asyncio.to_thread(sign_with, raw, domain, keys)


def sign_with(raw: bytes, domain: str, keys: list[DkimKey]) -> bytes:
    """The signing itself (CPU; not on the event loop)."""
    try:
        return _sign(raw, domain, keys)
    except dkim.DKIMException as exc:
        raise DkimSignError(f"cannot DKIM-sign this message: {exc}") from None


def _sign(raw: bytes, domain: str, keys: list[DkimKey]) -> bytes:
    head = raw.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    linesep = b"\r\n" if b"\r\n" in head or b"\n" not in head else b"\n"
    signer = dkim.DKIM(raw, linesep=linesep)
    present = [name.lower() for name, _ in signer.headers]
    signed = [name for name in present if name in signer.should_sign] + list(OVERSIGN)
    fields = [
        signer.sign(
            key.selector.encode(),
            domain.encode(),
            key.signing_key(),
            signature_algorithm=key.algorithm.encode(),
            canonicalize=(b"relaxed", b"simple"),
            include_headers=signed,
        )
        for key in keys
    ]
    return b"".join(fields) + raw
