"""``fulmar suppression list`` and ``remove``, run as an operator would, on suppressions
made the way the outbound side makes them (``bounces.suppress``)."""

from __future__ import annotations

from smtp_gateway.bounces import SUPPRESSION, suppress, suppressed
from smtp_gateway.local import LocalDirectory
from tests.cli.conftest import fulmar  # noqa: F401  (the fixture)

AT = 1_796_000_000.0  # 2026-11-30T00:53:20Z


def add_suppressions(fulmar, items):  # noqa: F811
    async def body(data):
        for login, address, kind in items:
            account = await LocalDirectory(data).login_account(login)
            async with data.transaction(account) as tx:
                await suppress(tx, address, f"550 5.1.1 {address} unknown", AT, kind=kind)

    fulmar.store(body)


def test_list_and_remove(fulmar):  # noqa: F811
    for login in ("alice@example.com", "bob@example.com"):
        fulmar.ok("account", "add", login, "--password", "password123")
    add_suppressions(
        fulmar,
        [
            ("alice@example.com", "Gone@isp.example", "bounce"),
            ("alice@example.com", "angry@isp.example", "complaint"),
            ("bob@example.com", "gone@isp.example", "bounce"),
        ],
    )
    everyone = [line.split("\t") for line in fulmar.ok("suppression", "list").splitlines()]
    assert [(r[0], r[1], r[2]) for r in everyone] == [
        ("alice@example.com", "angry@isp.example", "complaint"),
        ("alice@example.com", "gone@isp.example", "bounce"),
        ("bob@example.com", "gone@isp.example", "bounce"),
    ]
    # since, and until = since + smtp_suppress_days (30 by default)
    assert everyone[0][3] == "2026-11-30T00:53:20Z" and everyone[0][4] == "2026-12-30T00:53:20Z"
    assert everyone[1][5] == "550 5.1.1 Gone@isp.example unknown"  # the id is lower case
    alice = fulmar.ok("suppression", "list", "Alice@Example.com").splitlines()
    assert [line.split("\t")[1] for line in alice] == ["angry@isp.example", "gone@isp.example"]

    out = fulmar.ok("suppression", "remove", "alice@example.com", "GONE@isp.example")
    assert "removed gone@isp.example" in out
    after = fulmar.ok("suppression", "list").splitlines()
    assert [tuple(line.split("\t")[:2]) for line in after] == [
        ("alice@example.com", "angry@isp.example"),
        ("bob@example.com", "gone@isp.example"),
    ]

    async def blocked(data):  # the outbound worker's own check sees the removal
        account = await LocalDirectory(data).login_account("alice@example.com")
        return await suppressed(data, account, ["gone@isp.example", "angry@isp.example"], AT, 30)

    assert fulmar.store(blocked) == {"angry@isp.example": "550 5.1.1 angry@isp.example unknown"}


def test_mistakes_are_one_line_errors(fulmar):  # noqa: F811
    fulmar.ok("account", "add", "alice@example.com", "--password", "password123")
    assert fulmar.ok("suppression", "list") == ""
    for args, text in [
        (("suppression", "list", "nobody@example.com"), "no account's address"),
        (("suppression", "remove", "nobody@example.com", "x@isp.example"), "no account"),
        (("suppression", "remove", "alice@example.com", "x@isp.example"), "no suppression"),
        (("suppression", "remove", "alice@example.com"), "Missing argument"),
    ]:
        result = fulmar.run(*args)
        assert result.returncode != 0 and text in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr

    async def none(data):
        account = await LocalDirectory(data).login_account("alice@example.com")
        return (await data.get(account, SUPPRESSION, None))[1]

    assert fulmar.store(none) == []
