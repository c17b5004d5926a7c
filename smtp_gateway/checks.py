"""What the listener asks about a message at the end of DATA, before it answers.

The SPF/DKIM/DMARC/ARC verification (and content scanners) plug in here: a
``MessageChecks`` is any async callable of this shape. Its verdict says what to do with
the message (``action``) and gives one header line to record the results
(``Authentication-Results`` etc., with its CRLF, or ""), which the listener puts into the
stored message below its ``Received`` field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Action = Literal["accept", "quarantine", "reject"]


class VerdictLike(Protocol):
    #: full header field(s) to add, each ending in CRLF; "" for none
    @property
    def header(self) -> str: ...

    #: accept: Inbox; quarantine: Junk; reject: 550 5.7.1 at the end of DATA
    @property
    def action(self) -> str: ...

    # optional: ``message``, the message to store instead of the one received (bytes);
    # ``reply``, the SMTP reply when refusing


class MessageChecks(Protocol):
    async def __call__(
        self, raw: bytes, *, client_ip: str, helo: str, mail_from: str
    ) -> VerdictLike: ...


@dataclass(frozen=True, slots=True)
class Verdict:
    """A plain verdict (the listener's own checks return ``inbound_checks.InboundVerdict``)."""

    header: str = ""
    action: Action = "accept"
