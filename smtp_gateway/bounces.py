"""Bounces coming back: a signed token in the envelope sender (VERP-style) names the
submission a later DSN answers, and hard-bounced addresses are suppressed.

The envelope sender of a remote delivery is ``user+b=<token>.<mac>@domain``: the sender's
own address with a sub-address, so a DSN sent to it reaches the sender's Inbox even where
nothing reads the token (sub-addresses deliver to ``user@``). ``<token>`` is the account and
submission ids in base32, ``<mac>`` an HMAC-SHA256 under a server-wide secret (a ``Secret``
record of the server account, made on first use), so a forged bounce names nothing.
Inbound delivery passes a DSN addressed to such an address to ``record_bounce``, which
updates the submission's deliveryStatus and dsnBlobIds (RFC 8621 §7).

A recipient that failed with a 5.1.x status (bad mailbox, bad domain, null MX; RFC 3463) is
put on the sending account's suppression list (``_Suppression`` records, kept
``smtp_suppress_days``); the outbound worker fails later sends to it at once.
"""

from __future__ import annotations

import asyncio
import base64
import email
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from email.message import Message
from email.policy import compat32

from jmap.services import Services
from jmap.store.base import SERVER_ACCOUNT, DataStore, Transaction, WriteConflict

from .mail_metrics import MAIL_METRICS, sending_domain

SECRET = "Secret"
SECRET_ID = "verp"
SUPPRESSION = "_Suppression"  # a server record: never pushed (push.state.is_hidden)
SUBMISSION = "EmailSubmission"
#: RFC 5321 §4.5.3.1.1
MAX_LOCAL_PART = 64
MAC_CHARS = 12
#: a DSN bigger than this is not read for status (it is still delivered as mail)
MAX_DSN_OCTETS = 1_000_000


async def verp_secret(data: DataStore) -> bytes:
    """The server's VERP key, created once (the first writer wins on every node)."""
    for _ in range(3):
        _, docs = await data.get(SERVER_ACCOUNT, SECRET, [SECRET_ID])
        if docs:
            return bytes.fromhex(docs[0]["key"])
        try:
            async with data.transaction(SERVER_ACCOUNT) as tx:
                if not await tx.get(SECRET, [SECRET_ID]):
                    await tx.create(SECRET, {"id": SECRET_ID, "key": secrets.token_hex(32)})
        except WriteConflict:
            continue
    _, docs = await data.get(SERVER_ACCOUNT, SECRET, [SECRET_ID])
    return bytes.fromhex(docs[0]["key"])


def _mac(secret: bytes, token: str) -> str:
    return hmac.new(secret, token.encode(), hashlib.sha256).hexdigest()[:MAC_CHARS]


def bounce_address(secret: bytes, mail_from: str, account_id: str, submission_id: str) -> str:
    """The envelope sender carrying the token; the plain sender when it would not fit."""
    local, at, domain = mail_from.rpartition("@")
    if not at or not local or not mail_from.isascii():
        return mail_from
    raw = f"{account_id}/{submission_id}".encode()
    token = base64.b32encode(raw).decode().rstrip("=").lower()
    tagged = f"{local.split('+', 1)[0]}+b={token}.{_mac(secret, token)}"
    return f"{tagged}@{domain}" if len(tagged) <= MAX_LOCAL_PART else mail_from


def parse_bounce_address(secret: bytes, address: str) -> tuple[str, str] | None:
    """(account id, submission id) of a genuine bounce address, else None."""
    local = address.rpartition("@")[0].lower()
    _, sep, tag = local.partition("+b=")
    token, dot, mac = tag.rpartition(".")
    if not sep or not dot or not hmac.compare_digest(mac, _mac(secret, token)):
        return None
    try:
        raw = base64.b32decode(token.upper() + "=" * (-len(token) % 8)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    account_id, slash, submission_id = raw.partition("/")
    return (account_id, submission_id) if slash and account_id and submission_id else None


@dataclass(frozen=True)
class RecipientStatus:
    address: str
    action: str
    status: str
    diagnostic: str


def _address(field: str | None) -> str:
    """``rfc822; addr`` or RFC 6533 ``utf-8; addr`` (\\x{HEX} decoded) to the address."""
    kind, _, value = (field or "").partition(";")
    value = value.strip()
    if kind.strip().lower() == "utf-8":
        parts, rest = [], value
        while "\\x{" in rest:
            before, _, after = rest.partition("\\x{")
            digits, _, rest = after.partition("}")
            try:
                parts += [before, chr(int(digits, 16))]
            except ValueError:
                parts += [before, "?"]
        value = "".join([*parts, rest])
    return value.strip("<>").lower()


def parse_dsn(raw: bytes) -> list[RecipientStatus]:
    """The per-recipient fields of an RFC 3464 report (none if it is not one)."""
    if len(raw) > MAX_DSN_OCTETS:
        return []
    message = email.message_from_bytes(raw, policy=compat32)
    found: list[RecipientStatus] = []
    for part in message.walk():
        if part.get_content_type() not in (
            "message/delivery-status",
            "message/global-delivery-status",
        ):
            continue
        blocks = part.get_payload()
        if not isinstance(blocks, list):
            continue
        for block in blocks[1:]:
            if not isinstance(block, Message):
                continue
            address = _address(block.get("Final-Recipient") or block.get("Original-Recipient"))
            diagnostic = str(block.get("Diagnostic-Code", ""))
            kind, _, text = diagnostic.partition(";")
            found.append(
                RecipientStatus(
                    address,
                    str(block.get("Action", "")).strip().lower(),
                    str(block.get("Status", "")).strip(),
                    " ".join((text if kind.strip().lower() == "smtp" else diagnostic).split()),
                )
            )
    return found


def is_hard_bounce(status: str) -> bool:
    """5.1.x: the address or its domain does not exist (RFC 3463 §3.2)."""
    return status.startswith("5.1.")


async def suppress(
    tx: Transaction, address: str, reason: str, now: float, kind: str = "bounce"
) -> None:
    """Put ``address`` on the account's suppression list (``kind``: bounce, complaint)."""
    address = address.lower()
    doc = {"id": address, "reason": reason, "at": now, "kind": kind}
    if await tx.get(SUPPRESSION, [address]):
        await tx.update(SUPPRESSION, doc)
    else:
        await tx.create(SUPPRESSION, doc)


async def suppressed(
    data: DataStore, account_id: str, addresses: list[str], now: float, days: int
) -> dict[str, str]:
    """Which of these addresses the account may not send to now: address -> reason."""
    if not days or not addresses:
        return {}
    _, docs = await data.get(account_id, SUPPRESSION, sorted({a.lower() for a in addresses}))
    live = {d["id"]: d["reason"] for d in docs if d["at"] > now - days * 86400}
    return {a: live[a.lower()] for a in addresses if a.lower() in live}


async def record_bounce(services: Services, address: str, raw: bytes, now: float) -> bool:
    """A DSN arrived for ``address``: if it is a genuine bounce address, record the report
    on its submission (deliveryStatus, dsnBlobIds) and suppress hard-bounced recipients.
    False when the address carries no valid token or names no submission."""
    ids = parse_bounce_address(await verp_secret(services.data), address)
    if ids is None:
        return False
    account_id, submission_id = ids
    reports = await asyncio.to_thread(parse_dsn, raw)
    if not reports:  # not a DSN (an auto-reply to the bounce address, say): nothing to record
        return False
    blob_id = await services.blobs.put(raw)
    bounced: list[str] = []  # the status of each recipient this report turns undelivered
    async with services.write(account_id) as tx:
        doc = (await tx.get(SUBMISSION, [submission_id])).get(submission_id)
        if doc is None:
            return False
        status = {k: dict(v) for k, v in (doc.get("deliveryStatus") or {}).items()}
        keys = {k.lower(): k for k in status}
        for report in reports:
            key = keys.get(report.address)
            if key is None:
                continue
            entry = status[key]
            if report.action == "failed":
                if entry.get("delivered") != "no":
                    bounced.append(report.status)
                entry["delivered"] = "no"
                if is_hard_bounce(report.status) and services.config.smtp_suppress_days:
                    await suppress(tx, key, report.diagnostic or report.status, now)
            elif report.action in ("delivered", "relayed", "expanded"):
                entry["delivered"] = "yes"
            if report.diagnostic:
                entry["smtpReply"] = report.diagnostic
        # a job redone after a crash brings the same report (the same blob) again
        dsns = doc["dsnBlobIds"] if blob_id in doc["dsnBlobIds"] else [*doc["dsnBlobIds"], blob_id]
        new = {**doc, "deliveryStatus": status, "dsnBlobIds": dsns}
        await tx.update(SUBMISSION, new, {"deliveryStatus", "dsnBlobIds"})
        await tx.add_blob_refs([(blob_id, submission_id)])
    domain = sending_domain(doc.get("envelope", {}).get("mailFrom", {}).get("email", ""))
    for kind in bounced:
        MAIL_METRICS.bounced(domain, kind)
    return True
