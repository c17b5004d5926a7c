"""SearchSnippet HTML (RFC 8621 §5.1): ``&``, ``<`` and ``>`` escaped, matches in
``<mark></mark>``, the preview at most 255 octets; the cutting always makes progress and
its work is linear in the text."""

from __future__ import annotations

import html
import re
import sqlite3
import sys
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import methods.snippet_html as snippet_html
from jmap.store import fts
from jmap.store.fts_snippet import PREVIEW_CHARS, window
from jmap.store.mail import MARK_END, MARK_START
from methods.search_snippet import PREVIEW_OCTETS
from methods.snippet_html import ELLIPSIS, highlight

TAG = re.compile("</?mark>")


def traced_lines(fn: Callable[[], Any]) -> tuple[Any, int]:
    """``fn()`` and the number of lines it ran in ``snippet_html``: a count of steps, so a
    loop that fails to shrink shows as a count past the bound instead of a hang."""
    module_file = snippet_html.__file__
    count = 0
    limit = 1_000_000

    def tracer(frame, event, arg):
        nonlocal count
        if frame.f_code.co_filename != module_file:
            return None
        if event == "line":
            count += 1
            if count > limit:
                raise AssertionError("highlight ran away")
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        result = fn()
    finally:
        sys.settrace(previous)
    return result, count


def plain(marked: str) -> str:
    return marked.replace(MARK_START, "").replace(MARK_END, "")


def check(marked: str, max_octets: int | None) -> str:
    out, steps = traced_lines(lambda: highlight(marked, max_octets))
    # linear: a few steps per marker, per character of the source and per octet of output
    assert steps <= 40 * (len(marked) + (max_octets or 0) + 4), steps
    if max_octets is not None:
        assert len(out.encode()) <= max_octets
    # marks balanced, never nested, never empty
    tags = TAG.findall(out)
    assert tags == ["<mark>", "</mark>"] * (len(tags) // 2)
    assert "<mark></mark>" not in out
    # nothing but the marks is markup: every other <, > and & is escaped
    text = TAG.sub("", out)
    assert "<" not in text and ">" not in text
    assert "&" not in re.sub("&(amp|lt|gt);", "", text)
    # the text shown is a piece of the source (less the ellipses a cut adds)
    assert html.unescape(text).removeprefix(ELLIPSIS).removesuffix(ELLIPSIS) in plain(marked)
    return out


def test_one_long_marked_word_is_cut_inside_its_mark():
    """The case that looped forever: a 260-character word, all of it matched."""
    out = check(MARK_START + "a" * 260 + MARK_END, PREVIEW_OCTETS)
    assert out.startswith("<mark>aaaa") and out.endswith("</mark>" + ELLIPSIS)
    assert len(out.encode()) <= PREVIEW_OCTETS


def test_short_text_is_kept_whole_and_escaped():
    out = check(f"x < y && tag {MARK_START}<script>{MARK_END} here", PREVIEW_OCTETS)
    assert out == "x &lt; y &amp;&amp; tag <mark>&lt;script&gt;</mark> here"


def test_the_first_match_is_shown_when_the_text_before_it_is_long():
    out = check("word " * 100 + MARK_START + "needle" + MARK_END + " after", PREVIEW_OCTETS)
    assert "<mark>needle</mark> after" in out
    assert out.startswith(ELLIPSIS)


def test_stray_markers_never_unbalance_the_marks():
    out = check(f"{MARK_END}a {MARK_START}b {MARK_START}c{MARK_END} d{MARK_END} {MARK_START}e", 255)
    assert out == "a <mark>b c</mark> d <mark>e</mark>"


def test_subject_is_not_cut():
    assert check(MARK_START + "s" * 1000 + MARK_END, None) == "<mark>" + "s" * 1000 + "</mark>"


marked_texts = st.lists(
    st.sampled_from([MARK_START, MARK_END, "&", "<", ">", " ", "…", "é", "😀", "\x00"])
    | st.text(max_size=40),
    max_size=60,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(marked_texts, st.integers(0, 600) | st.none())
def test_any_marked_text(marked, max_octets):
    check(marked, max_octets)


WORDS = ["the", "a", "an", "mail", "mailbox", "server", "quick", "brown", "fox", "&", "<b>"]
english = st.lists(
    st.sampled_from(WORDS) | st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=300),
    min_size=1,
    max_size=120,
).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(english, st.data())
def test_fts5_snippets_of_random_texts(body, data):
    """Real FTS5 highlights over English-like text searched by a prefix of one of its words,
    cut to a window: about one in sixteen of FTS5's snippets looped forever before."""
    word = data.draw(st.sampled_from(body.split()))
    query = word[: data.draw(st.integers(1, len(word)))]
    conn = sqlite3.connect(":memory:")
    conn.executescript(fts.SCHEMA_SQL)
    fts.write(conn, 1, {"subject": "s", "body": body})
    expression = fts.snippet_expression({"text": query})
    if expression is None:
        return
    rows = conn.execute(
        f"SELECT {fts.BODY_HIGHLIGHT} FROM mail_fts WHERE mail_fts MATCH ?", (expression,)
    ).fetchall()
    for (marked,) in rows:
        out = check(window(marked, ELLIPSIS, PREVIEW_CHARS), PREVIEW_OCTETS)
        assert "<mark>" in out
