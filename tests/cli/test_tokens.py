"""``fulmar token list`` and ``revoke`` by id or label; "last used" kept, once a minute."""

from __future__ import annotations

import asyncio
import re
import types

import httpx

from jmap.auth import Authenticator, new_token
from jmap.store.sqlite import SqliteDataStore
from tests.conftest import start_server

from .conftest import Fulmar

PASSWORD = "correct horse"
DATE = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"


def token_rows(fulmar, *args: str) -> list[dict[str, str]]:
    header, *lines = fulmar.ok("token", "list", *args).splitlines()
    assert header.split("\t") == ["ID", "ADDRESS", "LABEL", "CREATED", "EXPIRES", "LAST USED"]
    return [dict(zip(header.split("\t"), line.split("\t"), strict=True)) for line in lines]


def test_list_and_revoke_by_id_or_label(fulmar):
    for login in ("alice@example.com", "bob@example.com"):
        fulmar.ok("account", "add", login, "--password", PASSWORD)
    laptop = fulmar.ok("token", "create", "alice@example.com", "--label", "laptop").strip()
    fulmar.ok("token", "create", "alice@example.com", "--label", "laptop", "--days", "3")
    fulmar.ok("token", "create", "alice@example.com", "--label", "phone")
    fulmar.ok("token", "create", "bob@example.com", "--label", "laptop")
    rows = token_rows(fulmar)
    assert [(r["ADDRESS"], r["LABEL"]) for r in rows] == [
        ("alice@example.com", "laptop"),
        ("alice@example.com", "laptop"),
        ("alice@example.com", "phone"),
        ("bob@example.com", "laptop"),
    ]
    for row in rows:
        assert re.fullmatch(r"[0-9a-f]{12}", row["ID"]) and re.fullmatch(DATE, row["CREATED"])
        assert row["LAST USED"] == "never"
        assert laptop not in row.values(), "the token itself is never shown"
    assert [r["EXPIRES"] == "never" for r in rows] == [True, False, True, True]
    assert re.fullmatch(DATE, rows[1]["EXPIRES"])
    assert [r["ADDRESS"] for r in token_rows(fulmar, "Bob@example.com")] == ["bob@example.com"]
    assert "no account" in fulmar.fails("token", "list", "carol@example.com")

    # by id: only that one
    assert "revoked" in fulmar.ok("token", "revoke", "--id", rows[2]["ID"])
    assert "phone" not in {r["LABEL"] for r in token_rows(fulmar, "alice@example.com")}
    assert "no token" in fulmar.fails("token", "revoke", "--id", rows[2]["ID"])
    assert "no token" in fulmar.fails("token", "revoke", "--id", rows[0]["ID"][:4])
    # by label: all of that address's, no one else's
    out = fulmar.ok("token", "revoke", "--label", "laptop", "--address", "alice@example.com")
    assert "2 tokens revoked" in out
    assert [r["ADDRESS"] for r in token_rows(fulmar)] == ["bob@example.com"]
    assert "no token labelled" in fulmar.fails(
        "token", "revoke", "--label", "laptop", "--address", "alice@example.com"
    )
    assert "no such token" in fulmar.fails("token", "revoke", laptop)
    # the token is named exactly one way
    for args in ((), (laptop, "--id", rows[0]["ID"]), ("--label", "laptop")):
        assert fulmar.fails("token", "revoke", *args)


def test_last_used_is_recorded(tmp_path):
    server = start_server(tmp_path / "d")
    try:
        fulmar = Fulmar(server.data_dir)
        token = fulmar.ok("token", "create", "alice@example.com", "--label", "app").strip()
        fulmar.ok("token", "create", "alice@example.com", "--label", "idle")
        assert [r["LAST USED"] for r in token_rows(fulmar)] == ["never", "never"]
        headers = {"Authorization": f"Bearer {token}"}
        response = httpx.get(f"{server.url}/.well-known/jmap", headers=headers)
        assert response.status_code == 200
        used, idle = token_rows(fulmar)
        assert re.fullmatch(DATE, used["LAST USED"]) and idle["LAST USED"] == "never"
        assert used["LABEL"] == "app"
    finally:
        server.stop()


def test_last_used_is_written_at_most_once_a_minute(tmp_path, monkeypatch):
    """One write per token per minute, not one per request (the clock is the test's)."""
    clock = types.SimpleNamespace(now=1000.0)
    fake_time = types.SimpleNamespace(time=lambda: clock.now, monotonic=lambda: clock.now)
    monkeypatch.setattr("jmap.auth.time", fake_time)

    async def main() -> list[float | None]:
        data = SqliteDataStore(tmp_path / "fulmar.db")
        await data.open()
        try:
            account = await data.create_principal("a@example.com", "x", "a@example.com")
            value, digest = new_token()
            await data.add_token(digest, account.owner_id, "t", None)
            auth = Authenticator(data)
            seen = []
            for step in (0, 1, 58, 2, 30):  # at 1000, 1001, 1059, 1061, 1091
                clock.now += step
                assert await auth.authenticate(f"Bearer {value}") is not None
                (info,) = await data.tokens()
                seen.append(info.last_used)
            return seen
        finally:
            await data.close()

    assert asyncio.run(main()) == [1000.0, 1000.0, 1000.0, 1061.0, 1061.0]
