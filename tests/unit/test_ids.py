"""Ids, UTCDates and states (RFC 8620 §1.2, §1.4)."""

from __future__ import annotations

import pytest

from jmap.ids import decode_state, encode_state, is_id, utc_date


@pytest.mark.parametrize("value", ["a", "A-z_09", "x" * 255, "M1", "-dash", "0digit"])
def test_valid_ids(value):
    assert is_id(value)


@pytest.mark.parametrize(
    "value", ["", "x" * 256, "a b", "a/b", "a.b", "é", "a\n", "a=", 5, None, ["a"], b"a"]
)
def test_invalid_ids(value):
    assert not is_id(value)


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (0, "1970-01-01T00:00:00Z"),
        (1_700_000_000, "2023-11-14T22:13:20Z"),
        (1_700_000_000.999, "2023-11-14T22:13:20Z"),  # no fractional seconds
        (951_782_400, "2000-02-29T00:00:00Z"),
    ],
)
def test_utc_date(timestamp, expected):
    assert utc_date(timestamp) == expected


@pytest.mark.parametrize("modseq", [0, 1, 42, 2**53 - 1])
def test_state_round_trip(modseq):
    state = encode_state(modseq)
    assert is_id(state)
    assert decode_state(state) == modseq


@pytest.mark.parametrize(
    "state", ["", "s", "x1", "S1", "s-1", "s+1", "s1a", "s 1", "1", "s" + "9" * 20, 1, None, [1]]
)
def test_states_we_never_handed_out(state):
    assert decode_state(state) is None


@pytest.mark.parametrize("state", ["s\u00b2", "s\u0661", "s\uff11"])
def test_unicode_digits_are_not_a_state(state):
    assert decode_state(state) is None
