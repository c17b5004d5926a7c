"""Full-text search kept in MongoDB itself (no search engine needed): per-Email token
arrays under one multikey index, and the normalised text for phrase checks.

Tokens follow the embedded backend's FTS5 ``unicode61 remove_diacritics 2``: runs of
letters, digits and private-use characters, case-folded, accents removed. Each token is
stored as ``COLUMN:token`` in ``tokens`` (one index answers every column); ``norm`` holds
each column's tokens joined by single spaces, with a leading space, so a phrase is a
substring check on one document after the index has narrowed the candidates.

A word matches as a prefix (an index range on ``tokens``); a quoted phrase matches whole
words in order; every word of a condition must match, each in any of its columns.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from jmap.message.search import split_terms

#: search field -> column tag
COLUMN_TAGS = {
    "from": "f",
    "to": "t",
    "cc": "c",
    "bcc": "b",
    "subject": "s",
    "body": "y",
    "attachments": "a",
}
#: the columns each Email/query text condition searches (as ``fts.FIELD_COLUMNS``)
FIELD_TAGS = {
    "text": tuple(COLUMN_TAGS.values()),
    "from": ("f",),
    "to": ("t",),
    "cc": ("c",),
    "bcc": ("b",),
    "subject": ("s",),
    "body": ("y", "a"),
}
#: never present: a condition that matches nothing
NOTHING: dict[str, Any] = {"_nothing": {"$exists": True}}


def _is_token_char(char: str) -> bool:
    category = unicodedata.category(char)
    return category[0] in "LN" or category == "Co"


def tokens(text: str) -> list[str]:
    """The words of a text, folded as the index keeps them (linear in the text)."""
    folded = unicodedata.normalize("NFD", text.lower())
    out: list[str] = []
    word: list[str] = []
    for char in folded:
        if _is_token_char(char):
            word.append(char)
        elif unicodedata.category(char) == "Mn":
            continue  # an accent: dropped, the word goes on
        elif word:
            out.append("".join(word))
            word = []
    if word:
        out.append("".join(word))
    return out


def index_fields(search: dict[str, str]) -> dict[str, Any]:
    """``tokens`` and ``norm`` of one Email's search text (``parse_message``'s fields)."""
    all_tokens: set[str] = set()
    norm: dict[str, str] = {}
    for field, tag in COLUMN_TAGS.items():
        words = tokens(search.get(field, ""))
        all_tokens.update(f"{tag}:{w}" for w in words)
        norm[tag] = " " + " ".join(words)
    return {"tokens": sorted(all_tokens), "norm": norm}


def _after(prefix: str) -> str:
    """The least string greater than every string that starts with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _in_column(tag: str, words: list[str], prefix: bool) -> dict[str, Any]:
    """Words, in order, in one column; the last one as a prefix unless ``prefix`` is false."""
    *whole, last = words
    conditions: list[dict[str, Any]] = [{"tokens": f"{tag}:{w}"} for w in whole]
    if prefix:
        start = f"{tag}:{last}"
        conditions.append({"tokens": {"$elemMatch": {"$gte": start, "$lt": _after(start)}}})
    else:
        conditions.append({"tokens": f"{tag}:{last}"})
    if len(words) > 1:  # adjacent, in order: checked on the candidates the index found
        pattern = " " + " ".join(re.escape(w) for w in words) + ("" if prefix else "(?: |$)")
        conditions.append({f"norm.{tag}": {"$regex": pattern}})
    return conditions[0] if len(conditions) == 1 else {"$and": conditions}


def match(field: str, text: str) -> dict[str, Any] | None:
    """The MongoDB condition for one text condition; None when there is nothing to search."""
    terms = split_terms(text)
    if not terms:
        return None
    parts = []
    for term, phrase in terms:
        words = tokens(term)
        if not words:
            return NOTHING  # nothing searchable in a term: no Email has it
        columns = [_in_column(tag, words, not phrase) for tag in FIELD_TAGS[field]]
        parts.append(columns[0] if len(columns) == 1 else {"$or": columns})
    return parts[0] if len(parts) == 1 else {"$and": parts}
