"""Snippets of long texts (RFC 8621 §5.1): found wherever the match is, in work linear in
the text (FTS5's own snippet() is quadratic in the number of matches)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from jmap.store import fts
from jmap.store.fts_snippet import OVERLAP_CHARS, PIECE_CHARS, long_snippet, pieces
from jmap.store.mail import MARK_START


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
    snippet = long_snippet(body, expression, "…", 24)
    assert snippet.startswith("…") and f"{MARK_START}needle" in snippet


def test_a_megabyte_of_one_matching_word():
    body = "needle " * 150_000
    expression = fts.column_terms_expression({"body": "needle"}, "body")
    snippet = long_snippet(body, expression, "…", 24)
    assert snippet.count(MARK_START) <= 24 and snippet.endswith("…")


def test_only_terms_searching_the_column_are_highlighted():
    assert fts.column_terms_expression({"subject": "x", "body": "y z"}, "body") == '"y"* OR "z"*'
    assert fts.column_terms_expression({"from": "x"}, "body") is None
    assert long_snippet("a b c " * 5000, '"zz"*', "…", 24) is None
