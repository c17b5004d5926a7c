"""SPF, DKIM, DMARC and ARC verification of incoming mail against zone files made of
``fulmar dns`` records, with messages signed by the gateway's own signer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import authres
import dkim
import pytest

from smtp_gateway.authcheck import Verdict, check_message, org_domain, strip_forged_results
from smtp_gateway.cli_dns import txt_rdata
from smtp_gateway.dkim_sign import sign_with
from smtp_gateway.dns import Resolver

from .dns_helpers import key_pair, silent_udp, write_zone, zone_lines

A_KEYS = key_pair("a.test", "fa")
MESSAGE = (
    b"From: Alice <alice@a.test>\r\n"
    b"To: Bob <bob@b.test>\r\n"
    b"Subject: the minutes\r\n"
    b"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
    b"Message-ID: <m1@a.test>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Hello Bob,\r\nthe minutes are attached.\r\n"
)


def signed(raw: bytes = MESSAGE, domain: str = "a.test", keys=A_KEYS) -> bytes:
    return sign_with(raw, domain, keys)


def check(
    tmp_path: Path,
    raw: bytes,
    zone: str,
    *,
    client_ip: str = "127.0.0.1",
    mail_from: str = "alice@a.test",
    helo: str = "mx.a.test",
    sample: Callable[[], float] = lambda: 0.0,
    nameservers: list[str] | None = None,
) -> Verdict:
    path = write_zone(tmp_path / "zone", zone)

    async def main() -> Verdict:
        resolver = Resolver(zone_file=path, nameservers=nameservers or [], timeout=0.3)
        return await check_message(
            raw,
            client_ip=client_ip,
            helo=helo,
            mail_from=mail_from,
            resolver=resolver,
            authserv_id="mx.b.test",
            sample=sample,
        )

    return asyncio.run(main())


def parsed(verdict: Verdict) -> dict[str, list[dict[str, str]]]:
    """The header as authres reads it (proof it is RFC 8601 syntax): method → results."""
    assert verdict.header.endswith("\r\n")
    assert verdict.header.count("Authentication-Results:") == 1
    unfolded = verdict.header.replace("\r\n\t", " ").rstrip("\r\n")
    assert "\r" not in unfolded and "\n" not in unfolded
    header = authres.all_features().parse(unfolded)
    assert header.authserv_id == "mx.b.test"
    out: dict[str, list[dict[str, str]]] = {}
    for result in header.results:
        props = {f"{p.type}.{p.name}": p.value for p in result.properties}
        out.setdefault(result.method, []).append({"result": result.result, **props})
    return out


def test_signed_message_passes_everything(tmp_path: Path) -> None:
    verdict = check(tmp_path, signed(), zone_lines("a.test", A_KEYS))
    assert (verdict.spf, verdict.dkim, verdict.dmarc, verdict.arc) == (
        "pass",
        "pass",
        "pass",
        "none",
    )
    assert verdict.action == "accept"
    results = parsed(verdict)
    assert results["spf"] == [{"result": "pass", "smtp.mailfrom": "a.test"}]
    assert [(r["result"], r["header.a"], r["header.s"]) for r in results["dkim"]] == [
        ("pass", "rsa-sha256", "far"),
        ("pass", "ed25519-sha256", "fae"),
    ]
    assert all(r["header.d"] == "a.test" and r["header.i"] == "@a.test" for r in results["dkim"])
    assert all(len(r["header.b"]) == 8 for r in results["dkim"])
    assert results["dmarc"] == [
        {"result": "pass", "header.from": "a.test", "policy.dmarc": "quarantine"}
    ]
    assert "arc" not in results


@pytest.mark.parametrize("algorithm", ["rsa-sha256", "ed25519-sha256"])
def test_each_algorithm_alone(tmp_path: Path, algorithm: str) -> None:
    keys = [k for k in A_KEYS if k.algorithm == algorithm]
    verdict = check(tmp_path, signed(keys=keys), zone_lines("a.test", keys), client_ip="127.0.0.9")
    assert [(r.result, r.algorithm) for r in verdict.dkim_results] == [("pass", algorithm)]
    assert verdict.dmarc == "pass"  # DKIM alone aligns: SPF fails for 127.0.0.9


@pytest.mark.parametrize(
    ("policy", "action"), [("reject", "reject"), ("quarantine", "quarantine"), ("none", "accept")]
)
def test_tampered_body_fails_and_the_policy_decides(
    tmp_path: Path, policy: str, action: str
) -> None:
    raw = signed().replace(b"the minutes are attached", b"wire the money today!!!")
    zone = zone_lines("a.test", A_KEYS, dmarc=f"v=DMARC1; p={policy}")
    verdict = check(tmp_path, raw, zone, client_ip="127.0.0.9")
    assert [r.result for r in verdict.dkim_results] == ["fail", "fail"]
    assert "body hash mismatch" in verdict.dkim_results[0].reason
    assert (verdict.spf, verdict.dkim, verdict.dmarc) == ("fail", "fail", "fail")
    assert verdict.action == action
    assert parsed(verdict)["dmarc"][0]["policy.dmarc"] == policy


def test_added_header_fields_break_the_oversigned_signature(tmp_path: Path) -> None:
    zone = zone_lines("a.test", A_KEYS, dmarc="v=DMARC1; p=reject")
    for added in (
        b"From: Mallory <m@a.test>\r\n",
        b"Reply-To: m@evil.test\r\n",
        b"Subject: new\r\n",
    ):
        head, _, body = signed().partition(b"\r\n\r\n")
        verdict = check(
            tmp_path, head + b"\r\n" + added + b"\r\n" + body, zone, client_ip="127.0.0.9"
        )
        assert verdict.dkim == "fail", added
        assert verdict.action == "reject"


def test_relaxed_canonicalization_survives_refolding(tmp_path: Path) -> None:
    raw = signed().replace(b"Subject: the minutes", b"Subject:   the\r\n   minutes")
    assert check(tmp_path, raw, zone_lines("a.test", A_KEYS)).dkim == "pass"


@pytest.mark.parametrize(
    ("spf", "client", "result"),
    [
        ("v=spf1 ip4:127.0.0.1 -all", "127.0.0.1", "pass"),
        ("v=spf1 ip4:127.0.0.1 -all", "127.0.0.9", "fail"),
        ("v=spf1 ip4:127.0.0.1 ~all", "127.0.0.9", "softfail"),
        ("v=spf1 ip4:127.0.0.1 ?all", "127.0.0.9", "neutral"),
        ("v=spf1 mx -all", "127.0.0.1", "pass"),  # mx.a.test is 127.0.0.1
        ("v=spf1 a:mx.a.test -all", "127.0.0.9", "fail"),
        ("v=spf1 ip6:::1 -all", "::1", "pass"),
        ("v=spf1 moo -all", "127.0.0.1", "permerror"),
        ("v=spf1 redirect=nowhere.a.test", "127.0.0.1", "permerror"),
    ],
)
def test_spf_results(tmp_path: Path, spf: str, client: str, result: str) -> None:
    verdict = check(tmp_path, MESSAGE, zone_lines("a.test", A_KEYS, spf=spf), client_ip=client)
    assert verdict.spf == result
    assert parsed(verdict)["spf"][0]["result"] == result


def test_spf_none_without_a_record(tmp_path: Path) -> None:
    verdict = check(tmp_path, MESSAGE, zone_lines("a.test", A_KEYS), mail_from="x@norecord.a.test")
    assert verdict.spf == "none"
    assert parsed(verdict)["spf"][0]["smtp.mailfrom"] == "norecord.a.test"


def test_spf_null_sender_checks_the_helo_identity(tmp_path: Path) -> None:
    zone = zone_lines("a.test", A_KEYS) + 'mx.a.test. 300 IN TXT "v=spf1 a -all"\n'
    verdict = check(tmp_path, MESSAGE, zone, mail_from="", helo="mx.a.test")
    assert verdict.spf == "pass"
    assert parsed(verdict)["spf"][0] == {"result": "pass", "smtp.helo": "mx.a.test"}


def test_spf_lookup_limit(tmp_path: Path) -> None:
    includes = " ".join(f"include:i{n}.a.test" for n in range(11))
    zone = zone_lines("a.test", A_KEYS, spf=f"v=spf1 {includes} -all")
    zone += "".join(f'i{n}.a.test. 300 IN TXT "v=spf1 ip4:192.0.2.{n} -all"\n' for n in range(11))
    assert check(tmp_path, MESSAGE, zone).spf == "permerror"  # RFC 7208 §4.6.4: at most 10


def test_spf_temperror_when_dns_times_out(tmp_path: Path) -> None:
    zone = zone_lines("a.test", A_KEYS, spf="v=spf1 include:elsewhere.example -all")
    with silent_udp() as server:
        verdict = check(tmp_path, MESSAGE, zone, nameservers=[server])
    assert verdict.spf == "temperror"


def test_dkim_key_missing_or_broken_or_unreachable(tmp_path: Path) -> None:
    raw = signed()
    rsa, ed = A_KEYS
    only_ed = zone_lines("a.test", [ed])  # the rsa selector is not published
    verdict = check(tmp_path, raw, only_ed, client_ip="127.0.0.9")
    assert [r.result for r in verdict.dkim_results] == ["permerror", "pass"]
    assert verdict.dkim == "pass" and verdict.dmarc == "pass"  # a bad one hides no good one
    broken = only_ed + f'{rsa.dns_name}. 300 IN TXT "v=DKIM1; k=rsa; p=AAAA"\n'
    assert check(tmp_path, raw, broken).dkim_results[0].result == "permerror"
    # keys of a domain the file does not hold, with a server that never answers: temperror,
    # and DMARC cannot be applied (RFC 7489 §6.6.2), so no reject
    other = key_pair("far.example", "x")
    raw = signed(MESSAGE.replace(b"alice@a.test", b"alice@far.example"), "far.example", other)
    with silent_udp() as server:
        verdict = check(tmp_path, raw, "", nameservers=[server], mail_from="alice@far.example")
    assert [r.result for r in verdict.dkim_results] == ["temperror", "temperror"]
    assert verdict.dmarc == "temperror" and verdict.action == "accept"


def test_unaligned_temporary_errors_do_not_save_a_forgery(tmp_path: Path) -> None:
    """A spoofer signing with a domain whose DNS hangs gets no temperror pass-through."""
    spoof = key_pair("slow.example", "x")
    raw = signed(MESSAGE, "slow.example", spoof)  # From a.test, d=slow.example
    zone = zone_lines("a.test", A_KEYS, dmarc="v=DMARC1; p=reject")
    with silent_udp() as server:
        verdict = check(tmp_path, raw, zone, nameservers=[server], client_ip="127.0.0.9")
    assert verdict.dkim == "temperror"
    assert verdict.dmarc == "fail" and verdict.action == "reject"


def test_key_in_testing_mode_counts_as_unsigned_for_dmarc(tmp_path: Path) -> None:
    zone = zone_lines("a.test", [], dmarc="v=DMARC1; p=reject") + "".join(
        f"{k.dns_name}. 300 IN TXT {txt_rdata(k.dns_value.replace('v=DKIM1;', 'v=DKIM1; t=y;'))}\n"
        for k in A_KEYS
    )
    verdict = check(tmp_path, signed(), zone, client_ip="127.0.0.9")
    assert verdict.dkim == "pass" and all(r.testing for r in verdict.dkim_results)
    assert verdict.dmarc == "fail" and verdict.action == "reject"


@pytest.mark.parametrize(
    ("pct", "draw", "action"),
    [
        (100, 0.999, "reject"),
        (0, 0.0, "quarantine"),  # not sampled: reject becomes quarantine (§6.6.4)
        (50, 0.49, "reject"),
        (50, 0.5, "quarantine"),
    ],
)
def test_pct_samples_the_policy(tmp_path: Path, pct: int, draw: float, action: str) -> None:
    zone = zone_lines("a.test", A_KEYS, dmarc=f"v=DMARC1; p=reject; pct={pct}")
    verdict = check(tmp_path, MESSAGE, zone, client_ip="127.0.0.9", sample=lambda: draw)
    assert verdict.dmarc == "fail" and verdict.action == action
    assert parsed(verdict)["dmarc"][0]["policy.dmarc"] == {"reject": "reject"}.get(action, action)


def test_pct_zero_quarantine_means_normal_handling(tmp_path: Path) -> None:
    zone = zone_lines("a.test", A_KEYS, dmarc="v=DMARC1; p=quarantine; pct=0")
    assert check(tmp_path, MESSAGE, zone, client_ip="127.0.0.9").action == "accept"


def test_subdomain_policy(tmp_path: Path) -> None:
    zone = zone_lines("a.test", A_KEYS, dmarc="v=DMARC1; p=none; sp=reject")
    sub = MESSAGE.replace(b"alice@a.test", b"alice@news.a.test")
    verdict = check(tmp_path, sub, zone, client_ip="127.0.0.9", mail_from="x@news.a.test")
    assert (verdict.dmarc, verdict.action, verdict.header_from) == ("fail", "reject", "news.a.test")
    # the organizational domain itself gets p
    assert check(tmp_path, MESSAGE, zone, client_ip="127.0.0.9").action == "accept"
    # a record at the subdomain itself wins, and its p applies
    own = zone + '_dmarc.news.a.test. 300 IN TXT "v=DMARC1; p=quarantine"\n'
    assert check(tmp_path, sub, own, client_ip="127.0.0.9").action == "quarantine"
    # relaxed alignment: d=a.test covers From news.a.test; strict does not
    signed_sub = signed(sub)
    assert check(tmp_path, signed_sub, zone, client_ip="127.0.0.9").dmarc == "pass"
    strict = zone.replace("sp=reject", "sp=reject; adkim=s")
    assert check(tmp_path, signed_sub, strict, client_ip="127.0.0.9").dmarc == "fail"


def test_organizational_domain_from_the_public_suffix_list(tmp_path: Path) -> None:
    assert org_domain("mail.shop.example.co.uk") == "example.co.uk"
    assert org_domain("a.test") == "a.test"
    assert org_domain("news.a.test") == "a.test"  # "test" is no listed TLD: rule "*"
    assert org_domain("co.uk") == "co.uk"
    keys = key_pair("example.co.uk", "k")
    zone = zone_lines("example.co.uk", keys, dmarc="v=DMARC1; p=reject")
    raw = MESSAGE.replace(b"alice@a.test", b"alice@mail.shop.example.co.uk")
    verdict = check(tmp_path, raw, zone, client_ip="127.0.0.9", mail_from="a@example.co.uk")
    assert verdict.action == "reject"
    good = signed(raw, "example.co.uk", keys)
    assert check(tmp_path, good, zone, client_ip="127.0.0.9").dmarc == "pass"


def test_spf_alone_can_align(tmp_path: Path) -> None:
    zone = zone_lines("a.test", A_KEYS, dmarc="v=DMARC1; p=reject; aspf=s")
    assert check(tmp_path, MESSAGE, zone).dmarc == "pass"  # unsigned, SPF pass, same domain
    verdict = check(tmp_path, MESSAGE, zone, mail_from="bounce@lists.a.test")
    assert verdict.dmarc == "fail" and verdict.action == "reject"  # strict: not the same FQDN


@pytest.mark.parametrize(
    ("records", "result"),
    [
        (['"v=DMARC1; p=reject"', '"v=DMARC1; p=none"'], "none"),  # two records: no DMARC
        (['"v=spf1 -all"'], "none"),  # not a DMARC record
        (['"v=DMARC1; p=bogus"'], "none"),  # invalid p without rua
        (['"v=DMARC1; p=bogus; rua=mailto:d@a.test"'], "fail"),  # … with rua: p=none
        (['"v=DMARC1;" " p=reject"'], "fail"),  # strings joined
    ],
)
def test_dmarc_record_discovery(tmp_path: Path, records: list[str], result: str) -> None:
    zone = zone_lines("a.test", A_KEYS).replace("_dmarc.a.test.", "_old.a.test.")
    zone += "".join(f"_dmarc.a.test. 300 IN TXT {r}\n" for r in records)
    verdict = check(tmp_path, MESSAGE, zone, client_ip="127.0.0.9")
    assert verdict.dmarc == result
    assert verdict.action == (
        "reject" if records[-1].endswith('reject"') and result == "fail" else "accept"
    )


@pytest.mark.parametrize(
    ("from_field", "result"),
    [
        (b"", "permerror"),  # no From at all
        (b"From: undisclosed-recipients:;\r\n", "permerror"),
        (b"From: alice@localhost\r\n", "permerror"),
    ],
)
def test_no_usable_from_domain(tmp_path: Path, from_field: bytes, result: str) -> None:
    raw = MESSAGE.replace(b"From: Alice <alice@a.test>\r\n", from_field)
    verdict = check(tmp_path, raw, zone_lines("a.test", A_KEYS))
    assert verdict.dmarc == result and verdict.action == "accept"
    parsed(verdict)


def test_several_from_domains_take_the_strictest_policy(tmp_path: Path) -> None:
    zone = zone_lines("a.test", A_KEYS, dmarc="v=DMARC1; p=none")
    zone += zone_lines("c.test", [], dmarc="v=DMARC1; p=reject")
    raw = MESSAGE.replace(b"From: Alice <alice@a.test>", b"From: alice@a.test, carol@c.test")
    verdict = check(tmp_path, signed(raw), zone)
    assert (verdict.header_from, verdict.action) == ("c.test", "reject")


def test_arc_chain_verified_and_recorded(tmp_path: Path) -> None:
    forwarder = key_pair("f.test", "arc")[0]
    zone = zone_lines("a.test", A_KEYS) + zone_lines("f.test", [forwarder])
    received = b"Authentication-Results: f.test; dkim=pass header.d=a.test\r\n" + signed()
    seal = dkim.arc_sign(
        received, b"arcr", b"f.test", forwarder.signing_key(), b"f.test", include_headers=None
    )
    assert len(seal) == 3
    sealed = b"".join(seal) + received
    verdict = check(tmp_path, sealed, zone, client_ip="127.0.0.9")
    assert verdict.arc == "pass"
    assert parsed(verdict)["arc"] == [{"result": "pass", "smtp.remote-ip": "127.0.0.9"}]
    tampered = sealed.replace(b"the minutes are attached", b"the minutes are lost")
    broken = check(tmp_path, tampered, zone)
    assert broken.arc == "fail" and broken.dkim == "fail"
    # no key published for the sealer: fail too (RFC 8617 §5.2.1)
    assert check(tmp_path, sealed, zone_lines("a.test", A_KEYS)).arc == "fail"


FORGED = (
    b"Authentication-Results: mx.b.test; dkim=pass header.d=bank.test\r\n"
    b"Authentication-Results: (sneaky) MX.B.TEST 1;\r\n\tspf=pass smtp.mailfrom=bank.test\r\n"
    b'Authentication-Results: "mx.b.test"; dmarc=pass\r\n'
    b'Authentication-Results: "m\\x.b\\.test"; dmarc=pass\r\n'
    b"Authentication-Results: mx.b.test.evil.test; spf=pass\r\n"
    b"Authentication-Results: relay.test; spf=pass smtp.mailfrom=x.test\r\n"
    b"X-Note: Authentication-Results: mx.b.test; fake\r\n"
)


def test_forged_results_are_stripped_and_others_kept() -> None:
    raw = FORGED + MESSAGE + b"Authentication-Results: mx.b.test; in the body\r\n"
    out = strip_forged_results(raw, "mx.b.test")
    head = b"\n" + out.partition(b"\r\n\r\n")[0]
    assert b"\nAuthentication-Results: mx.b.test;" not in head
    assert b"(sneaky)" not in out and b'"mx.b.test"' not in out and b"m\\x" not in out
    assert b"mx.b.test.evil.test" in out and b"relay.test" in out and b"X-Note" in out
    assert out.endswith(MESSAGE + b"Authentication-Results: mx.b.test; in the body\r\n")
    assert strip_forged_results(MESSAGE, "mx.b.test") == MESSAGE
    lf = raw.replace(b"\r\n", b"\n")
    assert strip_forged_results(lf, "MX.b.test") == out.replace(b"\r\n", b"\n")


def test_forged_results_do_not_change_our_verdict(tmp_path: Path) -> None:
    raw = FORGED + MESSAGE
    zone = zone_lines("a.test", A_KEYS, dmarc="v=DMARC1; p=reject")
    verdict = check(tmp_path, raw, zone, client_ip="127.0.0.9")
    assert verdict.dmarc == "fail" and verdict.action == "reject"


def test_unparsable_header_section_is_a_verdict(tmp_path: Path) -> None:
    raw = b"DKIM-Signature: v=1; a=rsa-sha256; d=a.test; s=far; h=from; bh=x; b=y\r\n" + (
        b"\tcontinued\r\nthis line has no colon\r\nFrom: alice@a.test\r\n\r\nbody\r\n"
    )
    verdict = check(tmp_path, raw, zone_lines("a.test", A_KEYS))
    assert verdict.dkim == "neutral"
    parsed(verdict)


def foreign_signature(raw: bytes, key, algorithm: bytes = b"rsa-sha256", **kw) -> bytes:
    """A signature made as another MTA might: dkimpy directly, relaxed/relaxed."""
    field = dkim.sign(
        raw,
        key.selector.encode(),
        b"a.test",
        key.signing_key(),
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=[b"from", b"to", b"subject"],
        signature_algorithm=algorithm,
        **kw,
    )
    return field + raw


def test_other_signers_relaxed_bodies_verify(tmp_path: Path) -> None:
    raw = foreign_signature(MESSAGE, A_KEYS[0])
    zone = zone_lines("a.test", A_KEYS)
    assert check(tmp_path, raw, zone).dkim == "pass"
    spaced = raw.replace(b"Hello Bob,\r\n", b"Hello   Bob,  \r\n")  # relaxed body: same hash
    assert check(tmp_path, spaced, zone).dkim == "pass"
    assert check(tmp_path, raw.replace(b"Hello Bob", b"Hello Eve"), zone).dkim == "fail"


def test_rsa_sha1_is_never_valid(tmp_path: Path) -> None:
    raw = foreign_signature(MESSAGE, A_KEYS[0], algorithm=b"rsa-sha1")
    zone = zone_lines("a.test", A_KEYS, dmarc="v=DMARC1; p=reject")
    verdict = check(tmp_path, raw, zone, client_ip="127.0.0.9")
    assert verdict.dkim == "policy"  # RFC 8301 §3.1
    assert verdict.dmarc == "fail" and verdict.action == "reject"


def test_malformed_signatures_are_neutral(tmp_path: Path) -> None:
    good = signed()
    zone = zone_lines("a.test", A_KEYS)
    for broken in (
        good.replace(b" i=@a.test;", b" i=@elsewhere.test;", 1),  # i= not within d=
        good.replace(b"v=1; ", b"", 1),  # v= missing
        good.replace(b"d=a.test;", b"d=;", 1),
    ):
        verdict = check(tmp_path, broken, zone)
        assert verdict.dkim_results[0].result == "neutral", verdict.dkim_results[0]
        assert verdict.dkim_results[1].result == "pass"  # the other signature still counts
        parsed(verdict)


def test_signatures_beyond_the_cap_are_not_verified(tmp_path: Path) -> None:
    raw = signed()
    for _ in range(5):
        raw = signed(raw)  # 12 signatures
    verdict = check(tmp_path, raw, zone_lines("a.test", A_KEYS))
    assert len(verdict.dkim_results) == 8
    assert all(r.result == "pass" for r in verdict.dkim_results)


def test_internationalized_from_domain_as_a_label(tmp_path: Path) -> None:
    zone = zone_lines("xn--bcher-kva.test", [], dmarc="v=DMARC1; p=reject")
    raw = MESSAGE.replace(b"alice@a.test", "alice@bücher.test".encode())
    verdict = check(tmp_path, raw, zone, client_ip="127.0.0.9", mail_from="x@bücher.test")
    assert (verdict.header_from, verdict.spf, verdict.action) == (
        "xn--bcher-kva.test",
        "fail",
        "reject",
    )
    assert parsed(verdict)["dmarc"][0]["header.from"] == "xn--bcher-kva.test"


@pytest.mark.parametrize("raw", [b"", b"\r\n", b"\r\n\r\nbody only", b"From: a@a.test"])
def test_degenerate_messages(tmp_path: Path, raw: bytes) -> None:
    verdict = check(tmp_path, raw, zone_lines("a.test", A_KEYS))
    assert not verdict.reason.startswith("not checked")
    assert verdict.dkim == "none"
    parsed(verdict)
    assert strip_forged_results(raw, "mx.b.test") == raw
