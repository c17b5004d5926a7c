"""The checks of ``fulmar serve``'s listener: SPF/DKIM/DMARC/ARC, then the content scanners.

One verdict comes out: refused (DMARC ``p=reject`` applied, a virus, rspamd's reject),
filed into Junk (DMARC quarantine, spam), or accepted; with the Authentication-Results
field (RFC 8601) and the scanners' summary to record. Authentication-Results fields that
claim to be ours are removed from the message first (RFC 8601 §5). A configured scanner
that is down raises ``ScannerUnavailable``: the listener answers 451, never accepting the
message unscanned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from jmap.config import Config

from .authcheck import check_message, strip_forged_results
from .checks import Action
from .dns import Resolver
from .scanners import Envelope, Scanner, ScannerUnavailable, scan_all

_UNPRINTABLE = re.compile(r"[^\x20-\x7e]+")


@dataclass(frozen=True, slots=True)
class InboundVerdict:
    header: str
    action: Action
    #: the message to store (forged Authentication-Results removed)
    message: bytes
    #: the SMTP reply when the message is refused
    reply: str | None = None


class InboundChecks:
    def __init__(
        self, config: Config, resolver: Resolver, scanners: list[Scanner], hostname: str
    ) -> None:
        self.config = config
        self.resolver = resolver
        self.scanners = scanners
        self.hostname = hostname

    async def __call__(
        self, raw: bytes, *, client_ip: str, helo: str, mail_from: str
    ) -> InboundVerdict:
        message = strip_forged_results(raw, self.hostname)
        auth = await check_message(
            message,
            client_ip=client_ip,
            helo=helo,
            mail_from=mail_from,
            resolver=self.resolver,
            authserv_id=self.hostname,
        )
        envelope = Envelope(client_ip, helo, mail_from)
        scan = await scan_all(self.scanners, message, envelope, self.hostname)
        header = auth.header
        if self.scanners:
            header += f"X-Fulmar-Scan: {_UNPRINTABLE.sub(' ', scan.detail)[:900]}\r\n"
        if scan.verdict == "tempfail":
            raise ScannerUnavailable(scan.detail)
        if auth.action == "reject":
            domain = auth.header_from or "the sender's domain"
            reply = f"550 5.7.1 Rejected by the DMARC policy of {domain}"
            return InboundVerdict(header, "reject", message, reply)
        if scan.verdict == "reject":
            return InboundVerdict(
                header, "reject", message, "550 5.7.1 Message refused by content filter"
            )
        junk = auth.action == "quarantine" or scan.verdict == "spam"
        return InboundVerdict(header, "quarantine" if junk else "accept", message)

    async def close(self) -> None:
        for scanner in self.scanners:
            await scanner.close()
