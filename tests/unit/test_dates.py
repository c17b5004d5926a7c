"""UTCDate and Date (RFC 8620 §1.4), and every pattern in ``schemas/``, against the grammars
they stand for: RFC 3339 §5.6 ``date-time``, Id (RFC 8620 §1.2), keywords (RFC 8621 §4.1.1
with the IMAP atom rules of RFC 3501 §9), base64url (RFC 4648 §5) …

Valid values are generated from each grammar, not from the schema's own pattern, so a pattern
narrower than its grammar (``.960Z`` refused, issue 7.1) fails here.
"""

from __future__ import annotations

import base64
import calendar
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from jmap.errors import MethodError
from jmap.ids import is_date, is_utc_date, normal_date, timestamp
from jmap.schema import schema_names, type_schema

SETTINGS = settings(max_examples=150, deadline=None)
DIGITS = "0123456789"

# -- RFC 3339 §5.6 date-time, upper case (RFC 8620 §1.4) --
fractions = st.none() | st.text(DIGITS, min_size=1, max_size=12)
offsets = st.just("Z") | st.builds(
    lambda sign, h, m: f"{sign}{h:02d}:{m:02d}",
    st.sampled_from("+-"),
    st.integers(0, 23),
    st.integers(0, 59),
)


@st.composite
def date_times(draw: st.DrawFn, offset: st.SearchStrategy[str] = offsets) -> str:
    """A real instant written in any form RFC 3339 allows: year 0000-9999, any fraction."""
    year = draw(st.integers(0, 9999))
    month = draw(st.integers(1, 12))
    last = calendar.monthrange(year or 2000, month)[1]  # year 0 is a leap year, as 2000
    day = draw(st.integers(1, last))
    clock = draw(st.tuples(st.integers(0, 23), st.integers(0, 59), st.integers(0, 59)))
    fraction = draw(fractions)
    text = f"{year:04d}-{month:02d}-{day:02d}T{clock[0]:02d}:{clock[1]:02d}:{clock[2]:02d}"
    return text + (f".{fraction}" if fraction else "") + draw(offset)


utc_dates = date_times(st.just("Z"))


def _python_timestamp(value: str) -> float:
    """The oracle: the standard library's reading of the same string."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@SETTINGS
@given(date_times())
@example("2026-11-21T19:04:15.960Z")  # what JavaScript's toISOString() writes
@example("2026-11-21T19:04:15.000Z")
@example("2024-02-29T00:00:00.5-23:59")
def test_every_date_time_is_a_date(value):
    """RFC 8620 §1.4: a Date is any RFC 3339 date-time (upper-case letters)."""
    assert is_date(value)
    assert is_utc_date(value) == value.endswith("Z")
    if not value.startswith("0000"):  # datetime has no year 0
        # datetime keeps microseconds; a float of 6e10 seconds about 8e-6 of precision
        assert timestamp(value) == pytest.approx(_python_timestamp(value), abs=1e-4)


@SETTINGS
@given(date_times())
def test_normal_form_is_the_same_instant(value):
    """§1.4: the time-secfrac MUST be omitted if zero; the instant does not change."""
    normal = normal_date(value)
    assert is_date(normal) and timestamp(normal) == timestamp(value)
    fraction = re.fullmatch(r".{19}(?:\.([0-9]+))?(?:Z|[+-].*)", normal)
    assert fraction is not None
    assert fraction.group(1) is None or not fraction.group(1).endswith("0")


def test_normal_form_examples():
    assert normal_date("2026-11-21T19:04:15.000Z") == "2026-11-21T19:04:15Z"
    assert normal_date("2026-11-21T19:04:15.960Z") == "2026-11-21T19:04:15.96Z"
    assert normal_date("2026-11-21T19:04:15.05+01:00") == "2026-11-21T19:04:15.05+01:00"
    assert normal_date("2026-11-21T19:04:15Z") == "2026-11-21T19:04:15Z"


@pytest.mark.parametrize(
    "value",
    [
        "2030-02-30T00:00:00Z",  # no such day
        "2023-02-29T00:00:00Z",  # not a leap year
        "1900-02-29T00:00:00Z",  # century, not a leap year
        "2026-11-21T99:99:99Z",
        "2026-11-21T24:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-01-00T00:00:00Z",
        "2026-01-01T00:60:00Z",
        "2026-01-01T00:00:61Z",
        "2026-01-01T12:00:60Z",  # a leap second only at 23:59 UTC (RFC 3339 §5.7)
        "2026-01-01T00:00:00+24:00",
        "2026-01-01T00:00:00+01:60",
        "2026-01-01t00:00:00Z",  # RFC 8620 §1.4: letters upper case
        "2026-01-01T00:00:00z",
        "2026-01-01 00:00:00Z",
        "2026-01-01T00:00:00",  # no offset
        "2026-01-01T00:00:00.Z",
        "2026-01-01T00:00Z",
        "2026-1-01T00:00:00Z",
        "2026-01-01T00:00:00+0100",
        "2026-01-01T00:00:00Z\n",
        "\u0662026-01-01T00:00:00Z",  # a Unicode digit
        "",
        None,
        1700000000,
    ],
)
def test_not_dates(value):
    assert not is_date(value) and not is_utc_date(value)
    assert timestamp(value) is None


def test_leap_second_at_the_end_of_a_utc_day():
    assert timestamp("2016-12-31T23:59:60Z") == timestamp("2017-01-01T00:00:00Z")
    assert is_date("2016-12-31T15:59:60-08:00") and not is_utc_date("2016-12-31T15:59:60-08:00")


def test_utc_date_needs_z():
    assert not is_utc_date("2026-01-01T00:00:00+00:00")
    assert is_date("2026-01-01T00:00:00+00:00")


# -- every pattern of the schema files, and the grammar it stands for --
def _ids() -> st.SearchStrategy[str]:
    return st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1)


#: RFC 8621 §4.1.1: %x21-%x7e except ( ) { ] % * " \ (the IMAP atom-specials)
KEYWORD_CHARS = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '(){]%*"\\')
keywords = st.text(KEYWORD_CHARS, min_size=1, max_size=255)
base64url = st.builds(
    lambda raw, pad: base64.urlsafe_b64encode(raw).decode().rstrip("=" if not pad else ""),
    st.binary(min_size=1, max_size=80),
    st.booleans(),
)
#: IANA "IMAP Mailbox Name Attributes" (RFC 8457), lower-cased as RFC 8621 §2 asks
ROLES = ["all", "archive", "drafts", "flagged", "important", "inbox", "junk", "sent"]
ROLES += ["subscribed", "trash", "snoozed", "scheduled", "memos"]
DATA_TYPES = ["Core", "Mailbox", "Thread", "Email", "EmailDelivery", "SearchSnippet"]
DATA_TYPES += ["Identity", "EmailSubmission", "VacationResponse", "PushSubscription"]

#: pattern -> (valid values from the grammar, invalid values with the grammar's reason)
GRAMMARS: dict[str, tuple[st.SearchStrategy[str], list[str]]] = {
    "Id": (_ids().filter(lambda s: len(s) <= 255), ["", "a b", "a.b", "é", "x" * 256, "#c1"]),
    "UTCDate": (utc_dates, ["2030-02-30T00:00:00Z", "2026-11-21T99:99:99Z", "2026-01-01T00:00:00"]),
    "Date": (date_times(), ["2030-02-30T00:00:00+01:00", "2026-01-01T00:00:00+0100"]),
    "Keyword": (keywords, ["", "a b", "a(b", "a]", "a%", "a*", 'a"', "a\\", "a{", "é", "x" * 256]),
    "role": (st.sampled_from(ROLES), ["", "Inbox", "a b", "x" * 65]),
    "types": (st.sampled_from(DATA_TYPES), ["", "Mail box", "x" * 65]),
    "PushKeys": (base64url, ["", "a+b", "a/b", "ab===", "a b"]),
}


SCHEMA_WORDS = {"oneOf", "anyOf", "allOf", "not", "items", "if", "then", "else"}


def _patterns(node: Any, where: str, found: dict[str, str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern":
                found[where] = value
            else:
                _patterns(value, where if key in SCHEMA_WORDS else key, found)
    elif isinstance(node, list):
        for value in node:
            _patterns(value, where, found)


def _all_patterns() -> dict[str, str]:
    found: dict[str, str] = {}
    for name in schema_names():
        text = resources.files("schemas").joinpath(f"{name}.json").read_text("utf-8")
        _patterns(json.loads(text), name, found)
    return found


def test_every_pattern_has_a_grammar_here():
    """A new pattern in schemas/ must get its grammar in GRAMMARS (p256dh/auth: PushKeys)."""
    places = {"p256dh": "PushKeys", "auth": "PushKeys"}
    named = {places.get(where, where) for where in _all_patterns()}
    assert named <= GRAMMARS.keys(), named - GRAMMARS.keys()


def _email(prop: str, value: Any) -> list[str]:
    return type_schema("Email").invalid_properties({prop: value})


def _query_filter(condition: dict[str, Any]) -> bool:
    try:
        type_schema("Email").validate_arguments("query", {"accountId": "a", "filter": condition})
    except MethodError as exc:
        assert exc.kind == "invalidArguments"
        return False
    return True


def _push(prop: str, value: Any) -> list[str]:
    return type_schema("PushSubscription").invalid_properties({prop: value})


#: every place a schema takes the value: returns True when accepted
PLACES = {
    "Id": [
        lambda v: not type_schema("Mailbox").invalid_properties({"parentId": v}),
        lambda v: _query_filter({"inMailbox": v}),
        lambda v: _valid("Mailbox", "get", {"accountId": v, "ids": [v]}),
        lambda v: _valid("Email", "import", {"accountId": "a", "emails": {v: {}}}),
        lambda v: _valid("Blob", "copy", {"fromAccountId": v, "accountId": v, "blobIds": [v]}),
    ],
    "UTCDate": [
        lambda v: not _email("receivedAt", v),
        lambda v: _query_filter({"before": v}),
        lambda v: _query_filter({"after": v}),
        lambda v: not _push("expires", v),
    ],
    "Date": [lambda v: not _email("sentAt", v)],
    "Keyword": [
        lambda v: not _email("keywords", {v: True}),
        lambda v: _query_filter({"hasKeyword": v}),
        lambda v: _query_filter({"notKeyword": v}),
        lambda v: _query_filter({"someInThreadHaveKeyword": v}),
    ],
    "role": [lambda v: not type_schema("Mailbox").invalid_properties({"role": v})],
    "types": [lambda v: not _push("types", [v])],
    "PushKeys": [lambda v: not _push("keys", {"p256dh": v, "auth": v})],
}


def _valid(type_name: str, method: str, args: dict[str, Any]) -> bool:
    try:
        type_schema(type_name).validate_arguments(method, args)
    except MethodError as exc:
        assert exc.kind == "invalidArguments"
        return False
    return True


@pytest.mark.parametrize("grammar", sorted(GRAMMARS))
def test_grammar_values_are_accepted_everywhere(grammar):
    strategy, _ = GRAMMARS[grammar]

    @SETTINGS
    @given(strategy)
    def check(value):
        for place in PLACES[grammar]:
            assert place(value), value

    check()


@pytest.mark.parametrize(
    ("grammar", "value"), [(g, v) for g, (_, bad) in sorted(GRAMMARS.items()) for v in bad]
)
def test_values_outside_the_grammar_are_refused_everywhere(grammar, value):
    """Refused with invalidProperties / invalidArguments (RFC 8620 §5.3, §3.6.2)."""
    for place in PLACES[grammar]:
        assert not place(value), value


def test_utc_date_property_refuses_other_offsets():
    assert _email("receivedAt", "2026-01-01T00:00:00+01:00") == ["receivedAt"]
    assert not _query_filter({"before": "2026-01-01T00:00:00-05:00"})


@SETTINGS
@given(st.datetimes(timezones=st.just(UTC)), st.integers(0, 999))
def test_javascript_dates_round_trip(moment, millis):
    """``new Date(…).toISOString()``: always three fraction digits; one
    in ten ends in ``0``."""
    moment = moment.replace(microsecond=millis * 1000)
    text = f"{moment.year:04d}" + moment.strftime("-%m-%dT%H:%M:%S") + f".{millis:03d}Z"
    assert not _email("receivedAt", text)
    assert timestamp(text) == pytest.approx(moment.timestamp(), abs=1e-6)


def test_offsets_name_the_same_instant():
    here = datetime(2026, 11, 21, 19, 4, 15, tzinfo=timezone(timedelta(hours=-8)))
    assert timestamp("2026-11-21T19:04:15-08:00") == here.timestamp()
    assert timestamp("2026-11-22T03:04:15Z") == here.timestamp()
