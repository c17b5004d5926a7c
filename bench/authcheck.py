"""DKIM signing and message-authentication throughput (no network: a zone file answers).

    python -m bench.authcheck [--messages 500] [--concurrency 50] [--body-lines 60]

Prints messages/s for ``sign_with`` (rsa-sha256 + ed25519-sha256, one thread) and for
``check_message`` (SPF, two DKIM signatures, DMARC) with that many checks in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from smtp_gateway.authcheck import check_message
from smtp_gateway.cli_dns import records
from smtp_gateway.dkim_keys import ED25519, RSA, generate
from smtp_gateway.dkim_sign import sign_with
from smtp_gateway.dns import Resolver

MESSAGE = (
    b"From: Alice <alice@a.test>\r\nTo: bob@b.test\r\nSubject: figures\r\n"
    b"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\nMessage-ID: <b@a.test>\r\n\r\n"
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--body-lines", type=int, default=60)
    args = parser.parse_args()
    now = time.time()
    keys = [generate("a.test", "br", RSA, now), generate("a.test", "be", ED25519, now)]
    raw = MESSAGE + (b"x" * 70 + b"\r\n") * args.body_lines
    start = time.perf_counter()
    for _ in range(100):
        signed = sign_with(raw, "a.test", keys)
    print(f"sign_with: {100 / (time.perf_counter() - start):.0f} messages/s (one thread)")

    with tempfile.TemporaryDirectory() as folder:
        zone = Path(folder) / "zone"
        lines = records("a.test", "mx.a.test", keys, ("127.0.0.1",), ("127.0.0.1",), "d@a.test")
        zone.write_text("\n".join(lines) + "\n")
        resolver = Resolver(zone_file=zone, nameservers=[])
        print(asyncio.run(_checks(resolver, signed, args.messages, args.concurrency)))


async def _checks(resolver: Resolver, raw: bytes, count: int, concurrency: int) -> str:
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            verdict = await check_message(
                raw,
                client_ip="127.0.0.1",
                helo="mx.a.test",
                mail_from="alice@a.test",
                resolver=resolver,
                authserv_id="mx.b.test",
            )
            assert (verdict.spf, verdict.dkim, verdict.dmarc) == ("pass", "pass", "pass")

    await one()
    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    rate = count / (time.perf_counter() - start)
    return f"check_message: {rate:.0f} messages/s ({concurrency} in flight, {len(raw)} octets)"


if __name__ == "__main__":
    main()
