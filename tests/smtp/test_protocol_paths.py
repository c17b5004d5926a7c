"""The fast parse of plain ``<local@domain>`` paths in MAIL and RCPT gives what aiosmtpd's
own parse (the stdlib's RFC 5322 parser) gives, for any argument."""

from __future__ import annotations

import asyncio

from aiosmtpd.smtp import SMTP
from hypothesis import given, settings
from hypothesis import strategies as st

from smtp_gateway.protocol import InboundSMTP, SessionLimits

LIMITS = SessionLimits(
    max_size=1000, timeout=5, max_recipients=5, max_line_length=998, max_bad_commands=5
)


def session() -> InboundSMTP:
    loop = asyncio.new_event_loop()
    try:
        return InboundSMTP(
            object(), limits=LIMITS, hostname="mx.example", tls_context=None,
            on_close=lambda _: None, loop=loop,
        )  # fmt: skip
    finally:
        loop.close()


SMTP_SESSION = session()
PIECES = st.sampled_from(
    ["<", ">", "@", ".", "a", "Z", "0", "-", "+", "_", " ", '"', "\\", "[", "]", ":", ",",
     "(", ")", "é", "\t", "=", "SIZE=10", "example.com", "alice"]
)  # fmt: skip
ARGS = st.lists(PIECES, max_size=16).map("".join)


def outcome(parse, arg: str) -> object:
    try:
        return parse(arg)
    except Exception as exc:  # aiosmtpd's parse raises on some input ("<"): so must ours
        return type(exc)


def both(arg: str) -> tuple[object, object]:
    fast = outcome(SMTP_SESSION._getaddr, arg)
    return fast, outcome(lambda a: SMTP._getaddr(SMTP_SESSION, a), arg)


@settings(max_examples=300, deadline=None)
@given(ARGS)
def test_fast_path_agrees_with_aiosmtpd(arg):
    fast, slow = both(arg)
    assert fast == slow


@settings(max_examples=300, deadline=None)
@given(
    st.from_regex(
        r"<[a-z0-9.+_-]{1,70}@[a-z0-9.-]{1,30}>([ \t(]{0,2}[A-Z]+=[0-9]+)?", fullmatch=True
    )
)
def test_fast_path_agrees_on_plausible_paths(arg):
    fast, slow = both(arg)
    assert fast == slow


def test_examples():
    assert both("<alice@example.com> SIZE=10")[0] == ("alice@example.com", "SIZE=10")
    assert both("<a..b@example.com>")[0] == both("<a..b@example.com>")[1]
    local = "x" * 65
    SMTP_SESSION.local_part_limit = 64  # aiosmtpd's check of it applies to both
    try:
        assert both(f"<{local}@example.com>") == ((None, None), (None, None))
        assert both("<alice@example.com>")[0] == ("alice@example.com", "")
    finally:
        SMTP_SESSION.local_part_limit = 0
    assert both('<"a b"@example.com>')[0] == ('"a b"@example.com', "")
