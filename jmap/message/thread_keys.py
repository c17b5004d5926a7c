"""Threading keys: referenced message ids and the RFC 5256 §2.1 base subject."""

from __future__ import annotations

import re

# RFC 5256 only knows re/fw/fwd; common localised reply/forward prefixes are added.
_REFWD = r"(?:re|fwd?|aw|wg|sv|vs|antw|odp|tr|rif|doorst)"
_BLOB = r"\[[^\[\]]*\]\s*"
_LEADER = re.compile(rf"^(?:{_BLOB})*{_REFWD}\s*(?:{_BLOB})?:\s*", re.I)
_BLOB_LEADER = re.compile(rf"^{_BLOB}")
_FWD_TRAILER = re.compile(r"\s*\(fwd\)\s*$", re.I)
_FWD_WRAP = re.compile(r"^\[fwd:(.*)\]$", re.I | re.S)


def base_subject(subject: str | None) -> str:
    """The RFC 5256 §2.1 base subject, case-folded, for threading and sorting."""
    if not subject:
        return ""
    text = " ".join(subject.split())  # step 1: unfold, collapse whitespace
    while True:
        # step 2: remove "(fwd)" trailers
        while True:
            new = _FWD_TRAILER.sub("", text)
            if new == text:
                break
            text = new
        # steps 3-5: remove leaders ("Re:", "[list] Fwd:") and blobs that leave text behind
        while True:
            new = _LEADER.sub("", text)
            if new == text:
                m = _BLOB_LEADER.match(text)
                if m and text[m.end() :].strip():
                    new = text[m.end() :]
            if new == text:
                break
            text = new.strip()
        # step 6: "[fwd: subject]" wrapper
        m = _FWD_WRAP.match(text)
        if not m:
            break
        text = m.group(1).strip()
    return text.casefold()


def thread_message_ids(*id_lists: list[str] | None) -> list[str]:
    """Distinct message ids from Message-ID, In-Reply-To and References (first seen order)."""
    seen: dict[str, None] = {}
    for ids in id_lists:
        for mid in ids or ():
            if mid and mid not in seen:
                seen[mid] = None
    return list(seen)
