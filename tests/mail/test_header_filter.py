"""The ``header`` filter of Email/query (RFC 8621 §4.4.1): presence of a field, and a
case-insensitive substring of its decoded Text form, answered from the header index."""

from __future__ import annotations

from .conftest import import_raw, mailboxes, message

ENCODED = message(
    "plain subject",
    message_id="enc@x",
    extra="X-Label: =?utf-8?q?Caf=C3=A9_cr=C3=A8me?= =?iso-8859-1?q?_na=EFve?=",
)
TWICE = message(
    "two labels",
    message_id="twice@x",
    extra="X-Label: first value\r\nX-Label: SECOND Value",
)
FOLDED = message("folded", message_id="fold@x", extra="X-Note: the quick\r\n brown fox")
NONE = message("no label", message_id="none@x")


def _setup(client) -> dict[str, str]:
    inbox = mailboxes(client)["inbox"]
    names = ["encoded", "twice", "folded", "none"]
    return dict(zip(names, import_raw(client, [ENCODED, TWICE, FOLDED, NONE], inbox), strict=True))


def _found(client, ids: dict[str, str], header: list[str]) -> set[str]:
    names = {v: k for k, v in ids.items()}
    result = client.ok("Email/query", {"filter": {"header": header}})
    return {names[i] for i in result["ids"]}


CASES = [
    (["X-Label"], {"encoded", "twice"}),
    (["x-LABEL"], {"encoded", "twice"}),  # names match case-insensitively
    (["X-Missing"], set()),
    (["X-Label", "café crème"], {"encoded"}),  # encoded words are decoded
    (["X-Label", "CAFÉ CRÈME NAÏVE"], {"encoded"}),  # across charsets, any case
    (["X-Label", "=?utf-8?"], set()),  # the raw encoding is not what is searched
    (["X-Label", "first"], {"twice"}),  # either instance of a repeated field
    (["X-Label", "second value"], {"twice"}),
    (["X-Label", "first value second"], set()),  # instances are not joined
    (["X-Note", "quick brown"], {"folded"}),  # unfolded
    (["Subject", "LABEL"], {"none", "twice"}),
    (["X-Label", ""], {"encoded", "twice"}),
]


def test_header_filter(fresh):
    ids = _setup(fresh)
    for header, expected in CASES:
        assert _found(fresh, ids, header) == expected, header
    # NOT and OR over header conditions
    names = {v: k for k, v in ids.items()}
    result = fresh.ok(
        "Email/query",
        {
            "filter": {
                "operator": "NOT",
                "conditions": [{"header": ["X-Label"]}, {"header": ["X-Note"]}],
            }
        },
    )
    assert {names[i] for i in result["ids"]} == {"none"}

