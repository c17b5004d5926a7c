"""Snippets of long texts (RFC 8621 §5.1): found wherever the match is, in work linear in
the text (FTS5's own snippet() is quadratic in the number of matches)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from jmap.store import fts
from jmap.store.fts_snippet import (
    OVERLAP_CHARS,
    PIECE_CHARS,
    PREVIEW_CHARS,
    long_snippet,
    pieces,
    window,
)
from jmap.store.mail import MARK_END, MARK_START


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab ", max_size=5 * PIECE_CHARS))
def test_pieces_cover_the_text_and_always_move_on(text):
    cuts = list(pieces(text))
    assert len(cuts) <= len(text) // (PIECE_CHARS - OVERLAP_CHARS) + 1
    covered = 0
    for start, end in cuts:
        assert start <= covered < end or (not text)
        assert end - start <= PIECE_CHARS
        covered = end
    assert covered == len(text)


def test_a_match_at_the_end_of_a_megabyte():
    body = "word " * 200_000 + "needle end"
    expression = fts.column_terms_expression({"text": "need"}, "body")
    snippet = long_snippet(body, expression, "…", PREVIEW_CHARS)
    assert snippet.startswith("…") and f"{MARK_START}needle" in snippet


def test_a_megabyte_of_one_matching_word():
    body = "needle " * 150_000
    expression = fts.column_terms_expression({"body": "needle"}, "body")
    snippet = long_snippet(body, expression, "…", PREVIEW_CHARS)
    assert snippet.startswith(MARK_START) and snippet.endswith("…")
    assert len(snippet) <= PREVIEW_CHARS + 2


def test_only_terms_searching_the_column_are_highlighted():
    assert fts.column_terms_expression({"subject": "x", "body": "y z"}, "body") == '"y"* OR "z"*'
    assert fts.column_terms_expression({"from": "x"}, "body") is None
    assert long_snippet("a b c " * 5000, '"zz"*', "…", PREVIEW_CHARS) is None


def test_window_keeps_the_text_around_the_first_match():
    text = "word " * 100 + f"{MARK_START}needle{MARK_END} " + "tail " * 100
    cut = window(text, "…", 30)
    assert cut.startswith("…") and cut.endswith("…")
    assert cut.index(MARK_START) <= 41 and len(cut) <= 41 + 30 + 2
    assert window("a" + MARK_START + "b" + MARK_END, "…", 30) == "a" + MARK_START + "b" + MARK_END
    assert window("no match here", "…", 30) is None
    assert window(None, "…", 30) is None
    # a window cut inside a mark leaves it open: the HTML writer closes it
    assert window(MARK_START + "a" * 50, "", 10) == MARK_START + "a" * 9
