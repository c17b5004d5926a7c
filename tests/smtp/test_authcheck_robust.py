"""Message authentication on hostile and huge input: garbage gives a Verdict with a valid
header, a 20 MB message leaves the event loop free, real-world messages from the corpus
sign and verify."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smtp_gateway.authcheck import Verdict, check_message, strip_forged_results
from smtp_gateway.dkim_sign import DkimSignError, sign_with
from smtp_gateway.dns import Resolver
from tests.corpus import CORPUS, require_corpus

from .dns_helpers import key_pair, ticker, write_zone, zone_lines
from .test_authcheck import A_KEYS, MESSAGE, parsed

ZONE = zone_lines("a.test", A_KEYS, dmarc="v=DMARC1; p=reject")


async def _check(resolver: Resolver, raw: bytes, mail_from: str = "alice@a.test") -> Verdict:
    return await check_message(
        raw,
        client_ip="127.0.0.1",
        helo="mx.a.test",
        mail_from=mail_from,
        resolver=resolver,
        authserv_id="mx.b.test",
    )


@pytest.fixture(scope="module")
def resolver(tmp_path_factory: pytest.TempPathFactory) -> Resolver:
    return Resolver(
        zone_file=write_zone(tmp_path_factory.mktemp("z") / "zone", ZONE), nameservers=[]
    )


header_names = st.sampled_from(
    [b"From", b"DKIM-Signature", b"ARC-Seal", b"ARC-Message-Signature", b"To", b"X-Y", b"from"]
)
header_values = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [
            b" v=1; a=rsa-sha256; d=a.test; s=far; h=from; bh=AA==; b=AA==",
            b" v=1; a=ed25519-sha256; d=; s=; h=; bh=; b=",
            b" i=1; a=rsa-sha256; cv=none; d=a.test; s=far; b=AA==",
            b' "x" <@>',
            b" =?utf-8?q?=E2=80?= <alice@a.test>",
            b" alice@a.test, bob@",
            b" a=b; ==;;; =",
        ]
    ),
)
messages = st.one_of(
    st.binary(max_size=2000),
    st.builds(
        lambda fields, sep, body: b"".join(n + b":" + v + sep for n, v in fields) + sep + body,
        st.lists(st.tuples(header_names, header_values), max_size=8),
        st.sampled_from([b"\r\n", b"\n", b"\r"]),
        st.binary(max_size=500),
    ),
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=messages, mail_from=st.sampled_from(["", "alice@a.test", "x@", "\x00@\udcff"]))
def test_garbage_gives_a_verdict_with_a_valid_header(
    resolver: Resolver, raw: bytes, mail_from: str
) -> None:
    verdict = asyncio.run(_check(resolver, raw, mail_from))
    assert verdict.action in ("accept", "quarantine", "reject")
    assert not verdict.reason.startswith("not checked")
    parsed(verdict)
    assert strip_forged_results(raw, "mx.b.test").endswith(raw.partition(b"\n\n")[2])


def test_a_20_mb_message_leaves_the_loop_free(resolver: Resolver) -> None:
    line = b"The quick brown fox jumps over the lazy dog, again and again and again.\r\n"
    body = line * (20_000_000 // len(line))
    raw = sign_with(MESSAGE + body, "a.test", A_KEYS)

    async def main() -> tuple[Verdict, int]:
        ticks, stop = [0], asyncio.Event()
        task = asyncio.create_task(ticker(ticks, stop))
        await asyncio.sleep(0)
        start = ticks[0]
        verdict = await _check(resolver, raw)
        during = ticks[0] - start
        stop.set()
        await task
        return verdict, during

    verdict, during = asyncio.run(main())
    assert verdict.dkim == "pass" and [r.result for r in verdict.dkim_results] == ["pass"] * 2
    assert during > 10  # the loop kept turning while the body was hashed


def test_corpus_messages_sign_and_verify(tmp_path: Path) -> None:
    files = require_corpus()
    keys = key_pair("a.test", "c")
    resolver = Resolver(
        zone_file=write_zone(tmp_path / "z", zone_lines("a.test", keys)), nameservers=[]
    )

    async def main() -> tuple[int, int]:
        signed = unsignable = 0
        for path in files:
            raw = path.read_bytes()
            original = await _check(resolver, raw)  # their own signatures: keys not here
            assert not original.reason.startswith("not checked"), path.name
            parsed(original)
            try:
                ours = sign_with(raw, "a.test", keys)
            except DkimSignError:
                unsignable += 1
                continue
            verdict = await _check(resolver, ours)
            mine = [
                r
                for r in verdict.dkim_results
                if r.domain == "a.test" and r.selector in ("cr", "ce")
            ]
            assert [r.result for r in mine] == ["pass", "pass"], (path.name, mine)
            signed += 1
        return signed, unsignable

    signed, unsignable = asyncio.run(main())
    assert signed >= len(files) * 9 // 10, f"{unsignable} of {len(files)} in {CORPUS} unsignable"


def test_cpu_steps_run_in_the_worker_processes(resolver: Resolver) -> None:
    """``prescan`` and ``verify_signatures`` take plain data, so the worker pool (with its
    time budget) can run them; a step past the budget gives a temperror verdict."""
    import functools

    from jmap.workers import WorkerPool

    raw = sign_with(MESSAGE, "a.test", A_KEYS)
    big = sign_with(MESSAGE + b"y" * 70 + b"\r\n" * 200_000, "a.test", A_KEYS)

    async def main() -> tuple[Verdict, Verdict]:
        pools = [WorkerPool(1, 30.0, ("smtp_gateway.authcheck",)), WorkerPool(1, 0.01, ())]
        try:
            runs = [functools.partial(pool.run, "smtp") for pool in pools]
            kw = dict(client_ip="127.0.0.1", helo="mx.a.test", mail_from="alice@a.test")
            ok = await check_message(
                raw, resolver=resolver, authserv_id="mx.b.test", run_cpu=runs[0], **kw
            )
            late = await check_message(
                big, resolver=resolver, authserv_id="mx.b.test", run_cpu=runs[1], **kw
            )
            return ok, late
        finally:
            for pool in pools:
                await pool.close()

    ok, late = asyncio.run(main())
    assert (ok.spf, ok.dkim, ok.dmarc) == ("pass", "pass", "pass")
    assert late.dkim == "temperror" and late.action == "accept"
    assert late.reason == "not checked: BudgetExceeded"
    parsed(late)


ids = st.sampled_from(["mx.b.test", "MX.B.TEST", '"mx.b.test"', "(c) mx.b.test", "other.test"])


@settings(max_examples=100, deadline=None)
@given(
    fields=st.lists(
        st.tuples(st.sampled_from([b"Authentication-Results", b"X-Other", b"Received"]), ids),
        max_size=6,
    ),
    body=st.binary(max_size=200),
)
def test_no_field_claiming_our_id_survives(fields: list[tuple[bytes, str]], body: bytes) -> None:
    raw = b"".join(n + b": " + i.encode() + b"; spf=pass\r\n" for n, i in fields)
    raw += b"From: a@a.test\r\n\r\n" + body
    out = strip_forged_results(raw, "mx.b.test")
    assert out.endswith(b"\r\n\r\n" + body)
    head = out.partition(b"\r\n\r\n")[0] + b"\r\n"
    for name, value in fields:
        claims = name == b"Authentication-Results" and "other" not in value
        assert (name + b": " + value.encode() + b"; spf=pass\r\n" in head) != claims
