"""Envelope senders that tie a bounce to the submission it answers (VERP-style).

A submission is sent with ``MAIL FROM:<bounces+TOKEN.MAC@domain>``: TOKEN is the account
and submission id (base32, since some MTAs change the case of local parts), MAC an HMAC of
it under a server-wide secret, so a stranger cannot forge a bounce for someone else's
submission. The whole local part stays within RFC 5321 §4.5.3.1.1's 64 octets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from jmap.store.base import SERVER_ACCOUNT, DataStore, WriteConflict

PREFIX = "bounces+"
MAX_LOCAL_PART = 64
_MAC_OCTETS = 8
_SECRET_TYPE, _SECRET_ID = "ServerSecret", "verp"


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def _unb32(text: str) -> bytes:
    return base64.b32decode(text.upper() + "=" * (-len(text) % 8))


def _mac(secret: bytes, token: str) -> str:
    return _b32(hmac.new(secret, token.encode("ascii"), hashlib.sha256).digest()[:_MAC_OCTETS])


def bounce_address(secret: bytes, account_id: str, submission_id: str, domain: str) -> str | None:
    """The envelope sender for a submission, or None if the ids do not fit in 64 octets."""
    token = _b32(f"{account_id}\0{submission_id}".encode())
    local = f"{PREFIX}{token}.{_mac(secret, token)}"
    return f"{local}@{domain}" if len(local) <= MAX_LOCAL_PART else None


def parse_bounce_address(secret: bytes, address: str) -> tuple[str, str] | None:
    """The (account id, submission id) a bounce address names, if it is one of ours."""
    local = address.strip().strip("<>").rpartition("@")[0].lower()
    if not local.startswith(PREFIX) or len(local) > MAX_LOCAL_PART:
        return None
    token, _, mac = local[len(PREFIX) :].partition(".")
    if not token or not hmac.compare_digest(mac, _mac(secret, token)):
        return None
    try:
        account_id, sep, submission_id = _unb32(token).decode().partition("\0")
    except (ValueError, UnicodeDecodeError):
        return None
    return (account_id, submission_id) if sep and account_id and submission_id else None


async def verp_secret(data: DataStore) -> bytes:
    """The server-wide secret, created by whichever node needs it first."""
    while True:
        _, found = await data.get(SERVER_ACCOUNT, _SECRET_TYPE, [_SECRET_ID])
        if found:
            return bytes.fromhex(found[0]["key"])
        try:
            async with data.transaction(SERVER_ACCOUNT) as tx:
                if not await tx.get(_SECRET_TYPE, [_SECRET_ID]):
                    doc = {"id": _SECRET_ID, "key": secrets.token_hex(32)}
                    await tx.create(_SECRET_TYPE, doc)
        except WriteConflict:
            continue  # another node wrote the server account meanwhile: read again
