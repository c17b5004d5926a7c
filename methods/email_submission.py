"""EmailSubmission (RFC 8621 §7): sending an Email, tracking and cancelling it.

Creating a submission and its ``outbound`` job is one transaction: the job commits with
the object or not at all. The outbound worker (``smtp_gateway.outbound``) sends it when
``sendAt`` comes, records each recipient's ``deliveryStatus`` as delivery goes on (each a
change of the object, pushed like any other), and turns ``undoStatus`` from ``pending`` to
``final`` in a transaction before its first SMTP connection, so a cancel either commits
before the worker takes the message, or gets ``cannotUnsend``.
"""

from __future__ import annotations

import time
from typing import Any

from jmap.api import Invocation, Response
from jmap.errors import MethodError, SetError, invalid_properties
from jmap.ids import is_id, timestamp, utc_date
from jmap.store.base import Account, Document, Transaction
from smtp_gateway.feedback import forget_sent, remember_sent
from smtp_gateway.message_copy import without_bcc
from smtp_gateway.queues import OUTBOUND, outbound_job_id, outbound_payload, send_ref
from smtp_gateway.rate_limits import RateLimited, charge

from .identity import IDENTITY
from .sending import account_address, identity_covers, may_send_as
from .standard import DataType, SetContext
from .submission_envelope import check_email, checked_envelope, hold_seconds, without_hold

EMAIL = "Email"
#: before the first attempt (RFC 8621 §7: the reply of the last attempt, or this)
QUEUED_REPLY = "250 2.1.5 Queued"
#: stored, never shown: the octets to send (the Email's, without Bcc)
SEND_BLOB = "_sendBlobId"
#: stored, never shown: the Email's Message-IDs (feedback reports name them)
MESSAGE_IDS = "_messageIds"


def queued_status() -> dict[str, Any]:
    return {"smtpReply": QUEUED_REPLY, "delivered": "queued", "displayed": "unknown"}


class EmailSubmissionType(DataType):
    name = "EmailSubmission"
    id_prefix = "S"
    references = frozenset({"identityId", "emailId"})

    async def present(
        self, inv: Invocation, account: Account, docs: list[Document]
    ) -> list[dict[str, Any]]:
        return [{k: v for k, v in d.items() if not k.startswith("_")} for d in docs]

    def default_sort(self):
        return ({"property": "sendAt"},)

    # -- /query --
    def matches(self, condition: dict[str, Any], obj: dict[str, Any]) -> bool:
        for prop, wanted in condition.items():
            if prop in ("identityIds", "emailIds", "threadIds"):
                if obj.get(prop[:-1]) not in wanted:
                    return False
            elif prop == "undoStatus":
                if obj.get("undoStatus") != wanted:
                    return False
            elif prop in ("before", "after"):
                sent, limit = timestamp(obj.get("sendAt"), utc=True), timestamp(wanted, utc=True)
                if sent is None or limit is None:
                    return False
                if (prop == "before" and sent >= limit) or (prop == "after" and sent < limit):
                    return False
        return True

    async def _run_query(
        self, inv: Invocation, account: Account, args: dict[str, Any]
    ) -> tuple[int, list[str]]:
        # the sort property is spelled ``sentAt`` (RFC 8621 §7.3); it sorts by sendAt
        sort = [
            {**c, "property": "sendAt"} if c.get("property") == "sentAt" else c
            for c in args.get("sort") or []
        ]
        return await super()._run_query(inv, account, {**args, "sort": sort or None})

    # -- /set --
    async def method_set(self, inv: Invocation, args: dict[str, Any]) -> list[Response]:
        result = await super().method_set(inv, args)
        responses: list[Response] = [(inv.name, result)]
        implicit = await self._implicit_email_set(inv, args, result)
        if implicit is not None:
            from .email import EmailType  # the Email type imports nothing of this one

            try:
                responses.append(("Email/set", await EmailType().method_set(inv, implicit)))
            except MethodError as exc:
                responses.append(("error", exc.arguments()))
        return responses

    async def _implicit_email_set(
        self, inv: Invocation, args: dict[str, Any], result: dict[str, Any]
    ) -> dict[str, Any] | None:
        """RFC 8621 §7.5: onSuccessUpdateEmail / onSuccessDestroyEmail name submissions
        (``#creationId`` for those just created); the Emails of the ones that succeeded
        get one Email/set after the EmailSubmission/set."""
        updates = args.get("onSuccessUpdateEmail") or {}
        destroys = args.get("onSuccessDestroyEmail") or []
        if not updates and not destroys:
            return None
        succeeded = {c["id"] for c in (result.get("created") or {}).values()}
        succeeded.update(result.get("updated") or {})
        wanted = {inv.resolve_creation_id(k) for k in [*updates, *destroys]} & succeeded
        _, docs = await inv.services.data.get(result["accountId"], self.name, sorted(wanted))
        email_of = {d["id"]: d["emailId"] for d in docs}
        update: dict[str, Any] = {}
        for key, patch in updates.items():
            email_id = email_of.get(inv.resolve_creation_id(key))
            if email_id is not None:
                update[email_id] = {**update.get(email_id, {}), **patch}
        destroy = list(
            dict.fromkeys(
                email_of[s] for s in map(inv.resolve_creation_id, destroys) if s in email_of
            )
        )
        return {"accountId": result["accountId"], "update": update or None, "destroy": destroy}

    async def before_create(
        self, inv: Invocation, tx: Transaction, obj: dict[str, Any], ctx: SetContext
    ) -> None:
        account = inv.accounts[tx.account_id]
        if account.owner_id != inv.principal.id:
            raise SetError("forbiddenToSend", "Only the account's owner may send from it.")
        if obj.get("undoStatus") != "pending":
            raise invalid_properties(["undoStatus"], "A new submission is pending.")
        identity = (await tx.get(IDENTITY, [obj["identityId"]])).get(obj["identityId"])
        email = (await tx.get(EMAIL, [obj["emailId"]])).get(obj["emailId"])
        missing = [p for p, v in (("identityId", identity), ("emailId", email)) if v is None]
        if missing:
            raise invalid_properties(missing, "No such object.")
        assert identity is not None and email is not None
        services = inv.services
        config = services.config
        check_email(email)
        from_ = [a["email"] for a in email.get("from") or []]
        if not all(identity_covers(identity["email"], a) for a in from_):
            raise SetError("forbiddenFrom", "The From address is not the Identity's.")
        own = await account_address(services.data, account)
        envelope = checked_envelope(obj.get("envelope"), email, config.smtp_max_recipients)
        mail_from = envelope.mail_from
        allowed = identity_covers(identity["email"], mail_from["email"]) or await may_send_as(
            services.data, own, mail_from["email"]
        )
        if not allowed:
            if obj.get("envelope") is not None:
                raise SetError("forbiddenMailFrom", "This account may not use that MAIL FROM.")
            if identity["email"].startswith("*@"):
                raise SetError("forbiddenMailFrom", "No address to use as MAIL FROM.")
            mail_from["email"] = identity["email"]  # RFC 8621 §7.5: the Identity's address
        now = time.time()
        send_at = now + hold_seconds(mail_from, now, config.smtp_max_delayed_send_seconds)
        raw = await services.blobs.get(email["blobId"])
        if raw is None:
            raise invalid_properties(["emailId"], "The message is gone from the blob store.")
        if len(raw) > config.limits.max_size_email:
            limit = config.limits.max_size_email
            raise SetError("tooLarge", "The message is too large to send.", maxSize=limit)
        try:
            await charge(tx, now, config.smtp_max_messages_per_hour)
        except RateLimited as exc:
            limit = config.smtp_max_messages_per_hour
            wait = f"{exc.retry_after:.0f}"
            raise SetError(
                "rateLimit", f"At most {limit} messages an hour; try in {wait} s."
            ) from None
        send_blob = await services.blobs.put(without_bcc(raw))
        rcpts = [r["email"] for r in envelope.rcpt_to]
        obj.update(
            threadId=email["threadId"],
            envelope=envelope.as_json(),
            sendAt=utc_date(send_at),
            undoStatus="pending",
            deliveryStatus={r: queued_status() for r in rcpts},
            dsnBlobIds=[],
            mdnBlobIds=[],
        )
        obj[SEND_BLOB] = send_blob
        obj[MESSAGE_IDS] = list(email.get("messageId") or [])
        await remember_sent(tx, obj[MESSAGE_IDS], obj["id"])
        await tx.add_blob_refs([(send_blob, send_ref(obj["id"]))])
        await tx.enqueue(
            OUTBOUND,
            outbound_payload(
                tx.account_id, obj["id"], send_blob, without_hold(mail_from)["email"], rcpts
            ),
            send_at,
            job_id=outbound_job_id(tx.account_id, obj["id"]),
        )

    async def before_update(
        self,
        inv: Invocation,
        tx: Transaction,
        current: Document,
        new: dict[str, Any],
        changed: set[str],
        ctx: SetContext,
    ) -> None:
        fixed = sorted(changed - {"undoStatus"})
        if fixed:
            raise invalid_properties(fixed, "Only undoStatus can change.")
        if "undoStatus" in changed:
            if new["undoStatus"] != "canceled":
                raise invalid_properties(["undoStatus"], "undoStatus can only become canceled.")
            if current["undoStatus"] != "pending":
                raise SetError("cannotUnsend", "The message has been sent already.")

    async def before_destroy(
        self, inv: Invocation, tx: Transaction, current: Document, ctx: SetContext
    ) -> None:
        """Destroying a submission does not stop its delivery (RFC 8621 §7.5); the job
        keeps its own hold on the message. The DSNs it held go with it."""
        if is_id(current["id"]):
            await tx.remove_blob_refs(current["id"])
        await forget_sent(tx, current.get(MESSAGE_IDS) or [], current["id"])
