"""Threading keys: referenced message ids and the RFC 5256 §2.1 base subject."""

from __future__ import annotations

import re

# RFC 5256 only knows re/fw/fwd; common localised reply/forward prefixes are added.
_REFWD = re.compile(
    r"(?:re|fwd?|aw|wg|sv|vs|antw|odp|tr|rif|doorst)\s*+(?:\[[^\[\]]*+\])?\s*+:\s*+", re.I
)
_BLOB = re.compile(r"\[[^\[\]]*+\]\s*+")
_FWD = "(fwd)"
_WRAP = "[fwd:"


def base_subject(subject: str | None) -> str:
    """The RFC 5256 §2.1 base subject, case-folded, for threading and sorting.

    The steps work on a window ``text[start:end]`` that only shrinks, so each character is
    looked at a bounded number of times: linear in the subject, however it is built.
    """
    if not subject:
        return ""
    text = " ".join(subject.split())  # step 1: unfold, collapse whitespace
    start, end = 0, len(text)
    while True:
        # step 2: remove "(fwd)" trailers
        while end - start >= len(_FWD) and text[end - len(_FWD) : end].lower() == _FWD:
            end -= len(_FWD)
            while end > start and text[end - 1].isspace():
                end -= 1
        # steps 3-5: remove leaders ("Re:", "[list] Fwd:") and blobs that leave text behind
        while True:
            blobs: list[int] = []  # where each blob of the leading run starts
            pos = start
            while (m := _BLOB.match(text, pos, end)) is not None:
                blobs.append(pos)
                pos = m.end()
            m = _REFWD.match(text, pos, end)
            if m is not None:  # step 3: a subj-leader, its blobs included
                start = m.end()
            elif not blobs:
                break
            elif pos < end:  # step 4: every blob goes, text is left behind
                start = pos
            elif len(blobs) > 1:  # ... all but the last, which would leave nothing
                start = blobs[-1]
                break
            else:
                break
        # step 6: "[fwd: subject]" wrapper
        if end - start > len(_WRAP) and text[start : start + len(_WRAP)].lower() == _WRAP:
            if text[end - 1] != "]":
                break
            start += len(_WRAP)
            end -= 1
            while start < end and text[start].isspace():
                start += 1
            while end > start and text[end - 1].isspace():
                end -= 1
            continue
        break
    return text[start:end].casefold()


def thread_message_ids(*id_lists: list[str] | None) -> list[str]:
    """Distinct message ids from Message-ID, In-Reply-To and References (first seen order)."""
    seen: dict[str, None] = {}
    for ids in id_lists:
        for mid in ids or ():
            if mid and mid not in seen:
                seen[mid] = None
    return list(seen)
