"""The SMTP envelope of an EmailSubmission (RFC 8621 §7): checked when given, derived
from the Email's header fields when not, and FUTURERELEASE's hold read from it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from jmap.errors import SetError, invalid_properties
from jmap.ids import timestamp

#: an envelope address (RFC 5321 §4.1.2 Mailbox; UTF-8 allowed as RFC 6531 does): no
#: spaces, controls or specials outside quotes, one @, a domain of dot-separated labels
_ADDRESS = re.compile(
    r"[^\s@<>()\[\],;:\\\"\x00-\x1f\x7f]{1,64}@"
    r"(?:[^\s@<>()\[\],;:\\\"\x00-\x1f\x7f.]{1,63}\.)*[^\s@<>()\[\],;:\\\"\x00-\x1f\x7f.]{1,63}"
)
#: RFC 4865 MAIL parameters; the hold is applied here and never passed on
HOLD_PARAMETERS = ("HOLDFOR", "HOLDUNTIL")


def is_address(value: str) -> bool:
    return len(value) <= 254 and _ADDRESS.fullmatch(value) is not None


def _addresses(email: dict[str, Any], prop: str) -> list[str]:
    return [a["email"] for a in email.get(prop) or [] if a.get("email")]


def derive_rcpt_to(email: dict[str, Any]) -> list[dict[str, Any]]:
    """To, Cc and Bcc, each address once (the first spelling kept), RFC 8621 §7.5."""
    seen: dict[str, str] = {}
    for prop in ("to", "cc", "bcc"):
        for address in _addresses(email, prop):
            seen.setdefault(address.lower(), address)
    return [{"email": a, "parameters": None} for a in seen.values()]


def derived_mail_from(email: dict[str, Any]) -> str | None:
    """The Sender's address, else the From's (RFC 8621 §7.5)."""
    senders = _addresses(email, "sender") or _addresses(email, "from")
    return senders[0] if senders else None


def check_email(email: dict[str, Any]) -> None:
    """``invalidEmail`` for what RFC 5322 §3.6 requires of a message to send: a From, a
    Sender when From has several addresses, a Date."""
    bad = []
    from_ = _addresses(email, "from")
    if not from_:
        bad.append("from")
    elif len(from_) > 1 and len(_addresses(email, "sender")) != 1:
        bad.append("sender")
    if not email.get("sentAt"):
        bad.append("sentAt")
    if bad:
        raise SetError("invalidEmail", "The message cannot be sent as it is.", properties=bad)


@dataclass
class Envelope:
    mail_from: dict[str, Any]
    rcpt_to: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {"mailFrom": self.mail_from, "rcptTo": self.rcpt_to}


def checked_envelope(
    given: dict[str, Any] | None, email: dict[str, Any], max_recipients: int
) -> Envelope:
    """The envelope to send with: the given one checked, or one derived from the Email.

    ``mailFrom`` may still be unauthorised; the caller checks it against the account.
    """
    if given is None:
        mail_from = {"email": derived_mail_from(email) or "", "parameters": None}
        rcpt_to = derive_rcpt_to(email)
    else:
        mail_from = {"email": given["mailFrom"]["email"], **_params(given["mailFrom"])}
        seen: dict[str, dict[str, Any]] = {}
        for rcpt in given["rcptTo"]:
            seen.setdefault(rcpt["email"].lower(), {"email": rcpt["email"], **_params(rcpt)})
        rcpt_to = list(seen.values())
        if mail_from["email"] and not is_address(mail_from["email"]):
            raise invalid_properties(["envelope"], "mailFrom is not an address.")
    if not rcpt_to:
        raise SetError("noRecipients", "The envelope has no recipients.")
    if len(rcpt_to) > max_recipients:
        raise SetError(
            "tooManyRecipients",
            f"At most {max_recipients} recipients.",
            maxRecipients=max_recipients,
        )
    invalid = [r["email"] for r in rcpt_to if not is_address(r["email"])]
    if invalid:
        raise SetError(
            "invalidRecipients", "Some recipients are not addresses.", invalidRecipients=invalid
        )
    return Envelope(mail_from, rcpt_to)


def _params(address: dict[str, Any]) -> dict[str, Any]:
    parameters = address.get("parameters")
    return {"parameters": dict(parameters) if parameters else None}


def hold_seconds(mail_from: dict[str, Any], now: float, max_delay: int) -> float:
    """How long FUTURERELEASE holds the message (RFC 4865 §3, §4.2): 0 without a hold.

    Two holds, a malformed one, or one beyond ``maxDelayedSend`` are invalidProperties
    (RFC 4865 §4.2 answers these 501 5.5.4).
    """
    parameters = {k.upper(): v for k, v in (mail_from.get("parameters") or {}).items()}
    holds = [k for k in HOLD_PARAMETERS if k in parameters]
    if not holds:
        return 0.0
    if len(holds) > 1:
        raise invalid_properties(["envelope"], "Give HOLDFOR or HOLDUNTIL, not both.")
    value = parameters[holds[0]] or ""
    if holds[0] == "HOLDFOR":
        if not (value.isascii() and value.isdigit() and len(value) <= 9):
            raise invalid_properties(["envelope"], "HOLDFOR takes a number of seconds.")
        delay = float(int(value))
    else:
        until = timestamp(value)
        if until is None:
            raise invalid_properties(["envelope"], "HOLDUNTIL takes an RFC 3339 date-time.")
        delay = max(0.0, until - now)
    if delay > max_delay:
        raise invalid_properties(
            ["envelope"], f"The hold is beyond maxDelayedSend ({max_delay} seconds)."
        )
    return delay


def without_hold(mail_from: dict[str, Any]) -> dict[str, Any]:
    """The MAIL parameters passed on to the next hop (the hold is ours to apply)."""
    parameters = {
        k: v
        for k, v in (mail_from.get("parameters") or {}).items()
        if k.upper() not in HOLD_PARAMETERS
    }
    return {"email": mail_from["email"], "parameters": parameters or None}
