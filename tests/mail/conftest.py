"""Helpers for the mail tests: uploading messages, importing them, reading counters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from tests.conftest import Client, start_server

COUNTERS = ("totalEmails", "unreadEmails", "totalThreads", "unreadThreads")


def message(
    subject: str = "Hello",
    body: str = "Just a note.",
    sender: str = "Ann Example <ann@example.com>",
    to: str = "Bob <bob@example.com>",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    date: datetime | None = None,
    extra: str = "",
) -> bytes:
    """A small RFC 5322 message."""
    date = date or datetime(2024, 1, 1, tzinfo=UTC)
    lines = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {format_datetime(date)}",
        f"Message-ID: <{message_id or f'{abs(hash((subject, body, date)))}@example.com'}>",
    ]
    if in_reply_to:
        lines += [f"In-Reply-To: <{in_reply_to}>", f"References: <{in_reply_to}>"]
    if extra:
        lines.append(extra.rstrip("\r\n"))
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "", body, ""]
    return "\r\n".join(lines).encode()


def upload(client: Client, raw: bytes, media_type: str = "message/rfc822") -> str:
    response = client.http.post(
        f"/jmap/upload/{client.account_id}/", content=raw, headers={"Content-Type": media_type}
    )
    assert response.status_code == 201, response.text
    return response.json()["blobId"]


def mailboxes(client: Client) -> dict[str, str]:
    """Mailbox id by role (and by name for role-less ones)."""
    result = client.ok("Mailbox/get", {"ids": None})
    return {m["role"] or m["name"]: m["id"] for m in result["list"]}


def import_raw(
    client: Client,
    raws: list[bytes],
    mailbox_id: str,
    keywords: dict[str, bool] | None = None,
    received: list[str] | None = None,
) -> list[str]:
    """Import messages, return the new Email ids in order."""
    emails: dict[str, Any] = {}
    for n, raw in enumerate(raws):
        item: dict[str, Any] = {"blobId": upload(client, raw), "mailboxIds": {mailbox_id: True}}
        if keywords:
            item["keywords"] = keywords
        if received:
            item["receivedAt"] = received[n]
        emails[f"k{n}"] = item
    result = client.ok("Email/import", {"emails": emails})
    assert not result["notCreated"], result["notCreated"]
    return [result["created"][f"k{n}"]["id"] for n in range(len(raws))]


def utc(day: int, hour: int = 0) -> str:
    return (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=day, hours=hour)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def all_emails(client: Client) -> list[dict[str, Any]]:
    ids = client.ok("Email/query", {})["ids"]
    props = ["threadId", "mailboxIds", "keywords"]
    return client.ok("Email/get", {"ids": ids, "properties": props})["list"]


def is_unread(email: dict[str, Any]) -> bool:
    return not email["keywords"].get("$seen") and not email["keywords"].get("$draft")


def expected_counters(
    emails: list[dict[str, Any]], trash: str | None = None
) -> dict[str, dict[str, int]]:
    """Mailbox counters recomputed from the Emails themselves (the test oracle).

    unreadThreads follows RFC 8621 §2: the trash counts only unread Emails in the trash,
    the other Mailboxes only unread Emails in some Mailbox other than the trash.
    """
    unread_in_trash = {e["threadId"] for e in emails if is_unread(e) and trash in e["mailboxIds"]}
    unread_elsewhere = {
        e["threadId"] for e in emails if is_unread(e) and any(m != trash for m in e["mailboxIds"])
    }
    out: dict[str, dict[str, Any]] = {}
    for e in emails:
        for mailbox_id in e["mailboxIds"]:
            entry = out.setdefault(mailbox_id, {"total": 0, "unread": 0, "threads": set()})
            entry["total"] += 1
            entry["unread"] += is_unread(e)
            entry["threads"].add(e["threadId"])
    return {
        m: {
            "totalEmails": v["total"],
            "unreadEmails": v["unread"],
            "totalThreads": len(v["threads"]),
            "unreadThreads": len(
                v["threads"] & (unread_in_trash if m == trash else unread_elsewhere)
            ),
        }
        for m, v in out.items()
    }


def assert_counters_exact(client: Client) -> None:
    mailbox_list = client.ok("Mailbox/get", {"ids": None})["list"]
    trash = next((m["id"] for m in mailbox_list if m["role"] == "trash"), None)
    expected = expected_counters(all_emails(client), trash)
    zero = dict.fromkeys(COUNTERS, 0)
    for mailbox in mailbox_list:
        got = {c: mailbox[c] for c in COUNTERS}
        assert got == expected.get(mailbox["id"], zero), mailbox["name"]


@pytest.fixture
def fresh(tmp_path):
    """A server of its own, for tests that look at whole-account results."""
    server = start_server(tmp_path / "d")
    yield server.client("alice@example.com")
    server.stop()
    assert "Traceback" not in server.log(), server.log()
