"""The Session resource (RFC 8620 §2)."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from .capabilities import CORE, MAIL, SUBMISSION, VACATION_RESPONSE, WEBPUSH_VAPID, WEBSOCKET
from .config import Config
from .store.base import Account, Principal
from .store.mail import SORT_PROPERTIES

EMAIL_SORT_OPTIONS = list(SORT_PROPERTIES)
#: RFC 8887; served by push/websocket.py
WEBSOCKET_PATH = "/jmap/ws"


def websocket_capability(config: Config) -> dict[str, Any]:
    scheme, _, rest = config.public_url.partition("://")
    url = f"{'wss' if scheme == 'https' else 'ws'}://{rest}{WEBSOCKET_PATH}"
    return {"url": url, "supportsPush": True}


def core_capability(config: Config) -> dict[str, Any]:
    limits = config.limits
    return {
        "maxSizeUpload": limits.max_size_upload,
        "maxConcurrentUpload": limits.max_concurrent_upload,
        "maxSizeRequest": limits.max_size_request,
        "maxConcurrentRequests": limits.max_concurrent_requests,
        "maxCallsInRequest": limits.max_calls_in_request,
        "maxObjectsInGet": limits.max_objects_in_get,
        "maxObjectsInSet": limits.max_objects_in_set,
        "collationAlgorithms": [
            "i;ascii-numeric",
            "i;ascii-casemap",
            "i;unicode-casemap",
            "i;octet",
        ],
    }


def mail_account_capability(config: Config, account: Account) -> dict[str, Any]:
    limits = config.limits
    return {
        "maxMailboxesPerEmail": limits.max_mailboxes_per_email,
        "maxMailboxDepth": limits.max_mailbox_depth,
        "fulmar:maxMailboxesPerAccount": limits.max_mailboxes_per_account,
        "maxSizeMailboxName": limits.max_size_mailbox_name,
        "maxSizeAttachmentsPerEmail": limits.max_size_attachments_per_email,
        "emailQuerySortOptions": EMAIL_SORT_OPTIONS,
        "mayCreateTopLevelMailbox": not account.is_read_only,
    }


def submission_account_capability(config: Config) -> dict[str, Any]:
    """RFC 8621 §1.3.2: FUTURERELEASE's interval; no other SMTP extension is exposed."""
    delay = config.smtp_max_delayed_send_seconds
    extensions = {"FUTURERELEASE": [str(delay)]} if delay else {}
    return {"maxDelayedSend": delay, "submissionExtensions": extensions}


def _account_capabilities(config: Config, account: Account) -> dict[str, Any]:
    capabilities = {
        CORE: {},
        MAIL: mail_account_capability(config, account),
        VACATION_RESPONSE: {},
    }
    if not account.is_read_only:
        capabilities[SUBMISSION] = submission_account_capability(config)
    return capabilities


def build_session(
    config: Config,
    principal: Principal,
    accounts: list[Account],
    vapid_public_key: str | None = None,
) -> dict[str, Any]:
    """``vapid_public_key``: base64url of the uncompressed P-256 point (RFC 9749 §3)."""
    base = config.public_url
    personal = next((a for a in accounts if a.is_personal), accounts[0] if accounts else None)
    capabilities: dict[str, Any] = {
        CORE: core_capability(config),
        MAIL: {},
        SUBMISSION: {},
        WEBSOCKET: websocket_capability(config),
        VACATION_RESPONSE: {},
    }
    if vapid_public_key is not None:
        capabilities[WEBPUSH_VAPID] = {"applicationServerKey": vapid_public_key}
    session: dict[str, Any] = {
        "capabilities": capabilities,
        "accounts": {
            a.id: {
                "name": a.name,
                "isPersonal": a.is_personal,
                "isReadOnly": a.is_read_only,
                "accountCapabilities": _account_capabilities(config, a),
            }
            for a in accounts
        },
        "primaryAccounts": (
            {MAIL: personal.id, SUBMISSION: personal.id, VACATION_RESPONSE: personal.id}
            if personal
            else {}
        ),
        "username": principal.login,
        "apiUrl": f"{base}/jmap/api/",
        "downloadUrl": f"{base}/jmap/download/{{accountId}}/{{blobId}}/{{name}}?accept={{type}}",
        "uploadUrl": f"{base}/jmap/upload/{{accountId}}/",
        "eventSourceUrl": (
            f"{base}/jmap/eventsource/?types={{types}}&closeafter={{closeafter}}&ping={{ping}}"
        ),
    }
    session["state"] = session_state(session)
    return session


def session_state(session: dict[str, Any]) -> str:
    """Changes whenever anything else in the Session does."""
    digest = hashlib.sha256(orjson.dumps(session, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return digest[:16]
