"""Message authentication of incoming mail: SPF (pyspf, RFC 7208), DKIM (dkimpy, RFC 6376,
RFC 8463), DMARC (RFC 7489) and ARC (dkimpy, RFC 8617), recorded in one
Authentication-Results header field (RFC 8601).

The libraries are synchronous; the event loop stays free:

- parsing the header section and verifying signatures (body hashing of a message of any
  size) run in a thread (``asyncio.to_thread``), or in the worker processes when the
  caller passes ``run_cpu`` (``prescan`` and ``verify_signatures`` take and return plain
  data);
- DKIM and ARC keys and DMARC records are looked up on the loop through the ``Resolver``
  before or between those steps (their names are known from the header section);
- pyspf decides its lookups as it goes, so it runs in a thread of its own whose DNS calls
  are handed to the loop (``asyncio.run_coroutine_threadsafe``), at most ``SPF_LOOKUPS``
  of them and within ``SPF_SECONDS`` in all (RFC 7208 §4.6.4, §11.1).

DMARC is evaluated here rather than by authheaders: authheaders checks only the first DKIM
signature (RFC 7489 §4.2 counts any aligned one), ignores ``pct``, reads the public suffix
list anew for every message and asks DNS synchronously. The Organizational Domain comes
from the public suffix list authheaders ships, read once with publicsuffix2.

Garbage in gives a ``Verdict``, never an exception.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import email.utils
import functools
import importlib.resources
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import dkim
import dkim.util
import spf

from . import dkim_openssl  # noqa: F401  (dkimpy's RSA through OpenSSL)
from .dns import DnsError, DnsTemporaryError, Resolver

log = logging.getLogger(__name__)

#: DKIM signatures verified per message (RFC 6376 §6.1: a verifier MAY cap them)
MAX_SIGNATURES = 8
#: distinct key names looked up per message (DKIM and ARC together)
MAX_KEY_NAMES = 16
#: DNS queries pyspf may make for one message, and the time they may take in all
SPF_LOOKUPS = 40
SPF_SECONDS = 20.0
#: From addresses evaluated for DMARC (RFC 7489 §6.6.1)
MAX_FROM_DOMAINS = 4
#: the header section examined (the body is only hashed)
MAX_HEADER_OCTETS = 1_000_000

Action = Literal["accept", "quarantine", "reject"]
#: runs ``fn(*args)`` off the event loop and awaits it (``asyncio.to_thread`` or a pool)
CpuRunner = Callable[..., Awaitable[Any]]


@dataclass(slots=True)
class DkimResult:
    """One DKIM signature's result (RFC 8601 §2.7.1)."""

    result: str
    domain: str = ""
    identity: str = ""
    selector: str = ""
    algorithm: str = ""
    b: str = ""
    reason: str = ""
    #: the key says t=y: reported, but treated as unsigned (RFC 6376 §3.6.1)
    testing: bool = False


@dataclass(slots=True)
class Verdict:
    #: the complete "Authentication-Results: ..." field, folded, ending in CRLF
    header: str
    spf: str
    dkim: str
    dmarc: str
    arc: str
    action: Action
    reason: str
    #: each verified signature, in message order
    dkim_results: list[DkimResult] = field(default_factory=list)
    #: the RFC5322.From domain DMARC judged (the strictest, with several)
    header_from: str = ""


# -- the public suffix list and header parsing --


@functools.cache
def _suffixes() -> Any:
    from publicsuffix2 import PublicSuffixList

    ref = importlib.resources.files("authheaders") / "public_suffix_list.txt"
    with importlib.resources.as_file(ref) as path, open(path, encoding="utf-8") as handle:
        return PublicSuffixList(handle)


def org_domain(domain: str) -> str:
    """RFC 7489 §3.2: the longest public suffix plus one label. A TLD the list does not
    know is a public suffix too (the list's default rule "*")."""
    domain = domain.lower().strip(".")
    suffix = _suffixes().get_tld(domain, strict=True)
    suffix_labels = suffix.count(".") + 1 if suffix else 1
    labels = domain.split(".")
    return domain if len(labels) <= suffix_labels else ".".join(labels[-suffix_labels - 1 :])


def header_fields(raw: bytes, limit: int = MAX_HEADER_OCTETS) -> list[tuple[bytes, bytes]]:
    """The header section as (name, exact octets of the whole field), tolerant of anything:
    a line with no colon becomes a field with an empty name. Linear (fields are slices of
    ``raw``, never grown line by line); stops at ``limit``."""
    starts: list[tuple[bytes, int]] = []
    pos, end = 0, min(len(raw), limit)
    while pos < end:
        nl = raw.find(b"\n", pos, end)
        line_end = end if nl < 0 else nl + 1
        if raw[pos:line_end] in (b"\r\n", b"\n"):
            break
        if raw[pos : pos + 1] not in (b" ", b"\t") or not starts:
            colon = raw.find(b":", pos, line_end)
            starts.append((raw[pos:colon].strip().lower() if colon > pos else b"", pos))
        pos = line_end
    bounds = [start for _, start in starts[1:]] + [pos] if starts else []
    return [(name, raw[start:stop]) for (name, start), stop in zip(starts, bounds, strict=True)]


def field_value(whole: bytes) -> str:
    """A field's value unfolded, as text."""
    value = whole.split(b":", 1)[1] if b":" in whole else b""
    return re.sub(r"\r?\n", "", value.decode("utf-8", "replace")).strip()


def strip_forged_results(raw: bytes, authserv_id: str) -> bytes:
    """Drop every Authentication-Results field claiming ``authserv_id`` (RFC 8601 §5): only
    we may say what we verified. Other fields and the body stay exactly as they were.
    Linear in the header section (plain data in and out: a message with a huge header
    section can go through ``run_cpu`` like the checks)."""
    ours = authserv_id.strip().lower()
    needle = ours.encode("ascii", "replace")
    fields = header_fields(raw, len(raw))
    kept, pos, dropped = [], 0, False
    for name, whole in fields:
        claims = name == b"authentication-results" and (
            needle in whole.lower() or b"\\" in whole  # quoted-pairs hide nothing
        )
        if claims and _authserv_id(field_value(whole)) == ours:
            dropped = True
        else:
            kept.append(whole)
        pos += len(whole)
    return b"".join(kept) + raw[pos:] if dropped else raw


def _authserv_id(value: str) -> str:
    """The authserv-id an Authentication-Results value starts with (comments skipped)."""
    text = value
    for _ in range(10):  # nested comments, bounded
        stripped = re.sub(r"\([^()]*\)", " ", text)
        if stripped == text:
            break
        text = stripped
    text = text.strip()
    if text.startswith('"'):
        match = re.match(r'"((?:[^"\\]|\\.)*)"', text)
        return re.sub(r"\\(.)", r"\1", match.group(1)).lower() if match else ""
    return re.split(r"[\s;]", text, maxsplit=1)[0].lower()


def _domain_of(address: str) -> str | None:
    """The A-label domain of an address, or None if it has no valid one."""
    domain = address.rpartition("@")[2].strip().strip(".").lower() if "@" in address else ""
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = domain.split(".")
    if not domain or len(domain) > 253 or len(labels) < 2:
        return None
    if not all(0 < len(x) <= 63 and re.fullmatch(r"[a-z0-9_-]+", x) for x in labels):
        return None
    return domain


# -- step 1 (thread): parse what the checks need --


@dataclass
class Prescan:
    """What the header section says the checks need (plain data: it may cross processes)."""

    signatures: list[dict[bytes, bytes] | str]  # tags, or why the signature is unusable
    from_domains: list[str]
    from_problem: str
    arc_present: bool
    key_names: list[str]
    orgs: dict[str, str]


def prescan(raw: bytes, spf_domain: str) -> Prescan:
    """Step 1 (CPU, off the loop): signatures, key names, From domains, their
    Organizational Domains."""
    fields = header_fields(raw)
    signatures: list[dict[bytes, bytes] | str] = []
    key_names: list[str] = []
    for name, whole in fields:
        if name in (b"dkim-signature", b"arc-seal", b"arc-message-signature"):
            try:
                tags = dkim.util.parse_tag_value(whole.split(b":", 1)[1])
            except Exception as exc:  # any malformed tag list
                tags = f"malformed signature: {exc}"[:200]
            if name == b"dkim-signature" and len(signatures) < MAX_SIGNATURES:
                signatures.append(tags)
            if isinstance(tags, dict) and b"s" in tags and b"d" in tags:
                key = _key_name(tags)
                if key and key not in key_names and len(key_names) < MAX_KEY_NAMES:
                    key_names.append(key)
    from_values = [field_value(whole) for name, whole in fields if name == b"from"]
    addresses = [a for _, a in email.utils.getaddresses(from_values) if a]
    domains: list[str] = []
    problem = ""
    for address in addresses:
        domain = _domain_of(address)
        if domain is None:
            problem = "no valid domain in the From address"
        elif domain not in domains and len(domains) < MAX_FROM_DOMAINS:
            domains.append(domain)
    if not from_values:
        problem = "no From field"
    elif not domains and not problem:
        problem = "no address in From"
    ids = (
        domains
        + [spf_domain]
        + [
            t.get(b"d", b"").decode("ascii", "replace").lower()
            for t in signatures
            if isinstance(t, dict)
        ]
    )
    orgs = {d: org_domain(d) for d in ids if d}
    arc = any(n in (b"arc-seal", b"arc-message-signature") for n, _ in fields)
    return Prescan(signatures, domains, problem, arc, key_names, orgs)


def _key_name(tags: dict[bytes, bytes]) -> str | None:
    try:
        name = tags[b"s"].decode("ascii") + "._domainkey." + tags[b"d"].decode("ascii")
    except (KeyError, UnicodeDecodeError):
        return None
    return name.strip().lower().rstrip(".")


# -- step 2 (loop): keys, SPF, DMARC records --


async def _fetch_keys(resolver: Resolver, names: list[str]) -> tuple[dict[str, bytes], set[str]]:
    async def one(name: str) -> bytes | DnsError | None:
        try:
            records = await resolver.txt_strings(name)
        except DnsError as exc:
            return exc
        return b"".join(records[0]) if records else None

    found = await asyncio.gather(*(one(n) for n in names))
    keys = {n: v for n, v in zip(names, found, strict=True) if isinstance(v, bytes)}
    temporary = {n for n, v in zip(names, found, strict=True) if isinstance(v, DnsTemporaryError)}
    return keys, temporary


_bridge: contextvars.ContextVar[_SpfBridge | None] = contextvars.ContextVar(
    "fulmar_spf_bridge", default=None
)
_SPF_THREADS = concurrent.futures.ThreadPoolExecutor(16, thread_name_prefix="spf")
_ORIGINAL_LOOKUP = spf.DNSLookup


class _SpfBridge:
    """pyspf's DNS calls, from its thread, answered by the Resolver on the loop."""

    def __init__(self, resolver: Resolver, loop: asyncio.AbstractEventLoop) -> None:
        self.resolver, self.loop = resolver, loop
        self.lookups = 0
        self.deadline = time.monotonic() + SPF_SECONDS

    def lookup(self, name: str, qtype: str) -> list[tuple[tuple[str, str], Any]]:
        self.lookups += 1
        if self.lookups > SPF_LOOKUPS:
            raise spf.PermError(f"more than {SPF_LOOKUPS} DNS lookups")
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise spf.TempError("DNS: SPF evaluation took too long")
        future = asyncio.run_coroutine_threadsafe(self._query(name, qtype), self.loop)
        try:
            return future.result(timeout=remaining)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise spf.TempError(f"DNS timeout for {name} {qtype}") from None
        except DnsTemporaryError as exc:
            raise spf.TempError(f"DNS {exc}") from None
        except DnsError:
            return []

    async def _query(self, name: str, qtype: str) -> list[tuple[tuple[str, str], Any]]:
        if qtype not in ("A", "AAAA", "MX", "PTR", "TXT"):
            return []  # type SPF (99) is obsolete (RFC 7208 §3.1)
        records = await self.resolver.query(name, qtype)
        key = (name, qtype)
        if qtype in ("A", "AAAA"):
            return [(key, r.address) for r in records]
        if qtype == "MX":
            return [(key, (r.preference, r.exchange.to_text(True))) for r in records]
        if qtype == "PTR":
            return [(key, r.target.to_text(True)) for r in records]
        return [(key, tuple(r.strings)) for r in records]


def _dns_lookup(name: str, qtype: str, strict: Any = True, timeout: Any = None) -> Any:
    """pyspf's module-level DNSLookup, through the bridge of the check running here."""
    bridge = _bridge.get()
    if bridge is None:
        return _ORIGINAL_LOOKUP(name, qtype, strict, timeout)
    return bridge.lookup(name, qtype)


spf.DNSLookup = _dns_lookup


@dataclass(slots=True)
class _Spf:
    result: str
    reason: str
    domain: str  # the identity's domain: MAIL FROM's, or HELO's for a null sender
    helo_identity: bool


async def _check_spf(resolver: Resolver, client_ip: str, helo: str, mail_from: str) -> _Spf:
    loop = asyncio.get_running_loop()
    identity = mail_from or f"postmaster@{helo}"
    domain = _domain_of(identity) or ""
    if not domain:  # RFC 7208 §4.3: a malformed domain gives "none"
        return _Spf("none", "no valid domain to check", "", not mail_from)

    def run() -> tuple[str, int, str]:
        _bridge.set(_SpfBridge(resolver, loop))
        query = spf.query(
            i=client_ip, s=identity, h=helo, timeout=resolver.timeout, querytime=SPF_SECONDS
        )
        return query.check()

    try:
        context = contextvars.copy_context()
        result, _, explanation = await loop.run_in_executor(_SPF_THREADS, context.run, run)
    except Exception as exc:  # pyspf on input it did not expect
        return _Spf("permerror", f"{type(exc).__name__}: {exc}"[:200], domain, not mail_from)
    return _Spf(result, explanation, domain, not mail_from)


@dataclass(slots=True)
class _Record:
    domain: str  # where it was found
    tags: dict[str, str]


async def _dmarc_records(
    resolver: Resolver, domains: list[str], orgs: dict[str, str]
) -> dict[str, _Record | DnsTemporaryError | None]:
    """RFC 7489 §6.6.3: the record at the From domain, else at its Organizational Domain."""

    async def at(domain: str) -> _Record | None:
        texts = [t for t in await resolver.txt(f"_dmarc.{domain}") if _is_dmarc(t)]
        if len(texts) != 1:
            return None  # none, or several: no DMARC (§6.6.3 step 5)
        tags = _dmarc_tags(texts[0])
        return _Record(domain, tags) if tags else None

    async def one(domain: str) -> _Record | DnsTemporaryError | None:
        try:
            found = await at(domain)
            if found is None and orgs.get(domain, domain) != domain:
                found = await at(orgs[domain])
            return found
        except DnsTemporaryError as exc:
            return exc
        except DnsError:
            return None

    found = await asyncio.gather(*(one(d) for d in domains))
    return dict(zip(domains, found, strict=True))


def _is_dmarc(text: str) -> bool:
    return re.match(r"v\s*=\s*DMARC1\s*(;|$)", text) is not None


def _dmarc_tags(text: str) -> dict[str, str] | None:
    """A record's tags, checked (RFC 7489 §6.3); None when it is unusable."""
    tags: dict[str, str] = {}
    for part in text.split(";"):
        name, sep, value = part.partition("=")
        if sep and name.strip():
            tags.setdefault(name.strip().lower(), value.strip())
    policies = ("none", "quarantine", "reject")
    if tags.get("p", "").lower() not in policies:
        if not tags.get("rua", "").lower().startswith("mailto:"):
            return None
        tags["p"] = "none"  # §6.6.3 step 6: invalid p with a valid rua acts as p=none
    tags["p"] = tags["p"].lower()
    if tags.get("sp", "").lower() in policies:
        tags["sp"] = tags["sp"].lower()
    else:
        tags.pop("sp", None)
    pct = tags.get("pct", "100")
    tags["pct"] = pct if pct.isascii() and pct.isdigit() and int(pct) <= 100 else "100"
    for name in ("adkim", "aspf"):
        tags[name] = "s" if tags.get(name, "r").lower() == "s" else "r"
    return tags


# -- step 3 (thread): verify signatures --


def verify_signatures(
    raw: bytes,
    signatures: list[dict[bytes, bytes] | str],
    keys: dict[str, bytes],
    temporary: set[str],
    arc_present: bool,
) -> tuple[list[DkimResult], str, str]:
    """Step 3 (CPU, off the loop): each DKIM signature and the ARC chain against the keys
    looked up in step 2. Plain data in and out, so it may run in a worker process."""

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        key = name.decode("ascii", "replace").lower().rstrip(".")
        if key in temporary:
            raise dkim.DnsTimeoutError(f"temporary DNS error for {key}")
        return keys.get(key)

    try:
        signer = dkim.DKIM(raw, minkey=1024) if signatures else None
    except Exception:  # dkimpy cannot parse the header section
        signer = None
    results = [
        _verify_one(signer, idx, tags, keys, temporary, dnsfunc)
        for idx, tags in enumerate(signatures)
    ]
    arc, arc_reason = _verify_arc(raw, dnsfunc) if arc_present else ("none", "")
    return results, arc, arc_reason


def _verify_one(
    signer: Any,
    idx: int,
    tags: dict[bytes, bytes] | str,
    keys: dict[str, bytes],
    temporary: set[str],
    dnsfunc: Callable[..., bytes | None],
) -> DkimResult:
    if isinstance(tags, str):
        return DkimResult("neutral", reason=tags)

    def tag(name: bytes) -> str:
        return tags.get(name, b"").decode("ascii", "replace").strip()

    result = DkimResult(
        "neutral",
        domain=tag(b"d").lower(),
        identity=tag(b"i"),
        selector=tag(b"s"),
        algorithm=tag(b"a").lower(),
        b=re.sub(r"\s+", "", tag(b"b"))[:8],
    )
    name = _key_name(tags)
    if signer is None:
        result.reason = "the message's header section cannot be parsed"
        return result
    try:
        signer.verify_headerprep(idx)  # required tags, i= within d=, t=/x= (RFC 6376 §6.1.1)
    except Exception as exc:
        result.reason = f"malformed signature: {exc}"[:200]
        return result
    if result.algorithm == "rsa-sha1":
        result.result, result.reason = "policy", "rsa-sha1 is not accepted (RFC 8301 §3.1)"
        return result
    if name is None:
        result.reason = "malformed signature: s= or d= is not ASCII"
        return result
    if name in temporary:
        result.result, result.reason = "temperror", f"key lookup failed for {name}"
        return result
    key = keys.get(name)
    if not key:
        result.result, result.reason = "permerror", f"no key at {name}"
        return result
    try:
        dkim.evaluate_pk(name, key)
        key_tags = dkim.util.parse_tag_value(key)
    except Exception as exc:
        result.result, result.reason = "permerror", f"unusable key at {name}: {exc}"[:200]
        return result
    result.testing = b"y" in key_tags.get(b"t", b"").split(b":")
    try:
        ok = signer.verify(idx=idx, dnsfunc=dnsfunc)
    except (dkim.MessageFormatError, dkim.ParameterError) as exc:
        result.reason = f"malformed signature: {exc}"[:200]
        return result
    except dkim.KeyFormatError as exc:
        result.result, result.reason = "permerror", str(exc)[:200]
        return result
    except dkim.ValidationError as exc:  # "body hash mismatch (got …)": the first words
        result.result, result.reason = "fail", str(exc).split(" (")[0][:200]
        return result
    except Exception as exc:  # dkimpy on input it did not expect
        result.reason = f"{type(exc).__name__}: {exc}"[:200]
        return result
    result.result = "pass" if ok else "fail"
    if not ok:
        result.reason = "signature did not verify"
    return result


def _verify_arc(raw: bytes, dnsfunc: Callable[..., bytes | None]) -> tuple[str, str]:
    """RFC 8617 §5.2; every error, DNS ones too, is a failure (§5.2.1)."""
    try:
        cv, _, comment = dkim.ARC(raw, minkey=1024).verify(dnsfunc=dnsfunc)
    except Exception as exc:
        return "fail", f"{type(exc).__name__}: {exc}"[:200]
    if cv == dkim.CV_Pass:
        return "pass", ""
    if cv == dkim.CV_None:
        return "none", ""
    return "fail", str(comment)[:200]


# -- DMARC evaluation and the header --


@dataclass(slots=True)
class _Dmarc:
    result: str
    domain: str = ""
    policy: str = ""  # the policy that applies after sp and pct: what policy.dmarc says
    requested: str = ""  # p or sp as published
    action: Action = "accept"
    reason: str = ""
    comment: str = ""


_STRICTNESS = {"accept": 0, "quarantine": 1, "reject": 2}


def _evaluate_dmarc(
    parsed: Prescan,
    records: dict[str, _Record | DnsTemporaryError | None],
    spf_result: _Spf,
    dkim_results: list[DkimResult],
    sample: Callable[[], float],
) -> _Dmarc:
    if not parsed.from_domains:
        return _Dmarc("permerror", reason=parsed.from_problem)
    verdicts = [
        _dmarc_for(d, records.get(d), parsed.orgs, spf_result, dkim_results, sample)
        for d in parsed.from_domains
    ]
    return max(verdicts, key=lambda v: _STRICTNESS[v.action])


def _aligned(identifier: str, author: str, mode: str, orgs: dict[str, str]) -> bool:
    identifier = identifier.lower().rstrip(".")
    if mode == "s":
        return identifier == author
    return orgs.get(identifier, identifier) == orgs.get(author, author)


def _dmarc_for(
    author: str,
    record: _Record | DnsTemporaryError | None,
    orgs: dict[str, str],
    spf_result: _Spf,
    dkim_results: list[DkimResult],
    sample: Callable[[], float],
) -> _Dmarc:
    if isinstance(record, DnsTemporaryError):
        return _Dmarc("temperror", author, reason=f"DMARC record lookup: {record}")
    if record is None:
        return _Dmarc("none", author)
    tags = record.tags
    dkim_ok = any(
        r.result == "pass" and not r.testing and _aligned(r.domain, author, tags["adkim"], orgs)
        for r in dkim_results
    )
    spf_ok = spf_result.result == "pass" and _aligned(spf_result.domain, author, tags["aspf"], orgs)
    requested = tags["p"] if record.domain == author else tags.get("sp", tags["p"])
    comment = f"p={tags['p']} sp={tags.get('sp', tags['p'])} pct={tags['pct']}"
    if dkim_ok or spf_ok:
        return _Dmarc("pass", author, requested, requested, comment=comment)
    # a temporary error that might have given an aligned pass: the policy cannot be applied
    maybe = [r for r in dkim_results if _aligned(r.domain, author, tags["adkim"], orgs)]
    if any(r.result == "temperror" for r in maybe) or (
        spf_result.result == "temperror" and _aligned(spf_result.domain, author, tags["aspf"], orgs)
    ):
        return _Dmarc("temperror", author, requested, requested, reason="DNS", comment=comment)
    policy = requested
    if policy != "none" and not sample() * 100 < int(tags["pct"]):
        policy = "quarantine" if policy == "reject" else "none"  # §6.6.4
    action: Action = {"reject": "reject", "quarantine": "quarantine"}.get(policy, "accept")
    reason = "no aligned SPF or DKIM pass"
    return _Dmarc("fail", author, policy, requested, action, reason, comment)


def _value(text: str) -> str:
    """An RFC 8601 pvalue: as it is when a token or address, else a quoted-string; printable
    ASCII only (domains are A-labels), bounded."""
    text = re.sub(r"[^\x20-\x7e]", "?", text)[:200]
    if re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`{|}~-]+(@[A-Za-z0-9.-]+)?", text) or re.fullmatch(
        r"@[A-Za-z0-9.-]+", text
    ):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _comment(text: str) -> str:
    return " (" + re.sub(r"[^\x20-\x27\x2a-\x5b\x5d-\x7e]", "", text)[:200] + ")" if text else ""


def _resinfo(method: str, result: str, reason: str = "", comment: str = "", **props: str) -> str:
    """One resinfo (RFC 8601 §2.2): ``method=result (comment) reason=… ptype.prop=value…``;
    ``header_oldest_pass`` names ``header.oldest-pass``."""
    parts = [f"{method}={result}{_comment(comment)}"]
    if reason:
        parts.append(f"reason={_value(reason)}")
    for key, value in props.items():
        ptype, _, prop = key.partition("_")
        if value:
            parts.append(f"{ptype}.{prop.replace('_', '-')}={_value(value)}")
    return " ".join(parts)


def _header(
    authserv_id: str,
    spf_result: _Spf,
    dkim_results: list[DkimResult],
    dmarc: _Dmarc,
    arc: str,
    arc_reason: str,
    client_ip: str,
) -> str:
    """The one Authentication-Results field, a result per line (RFC 8601 §2.2, §4)."""
    if spf_result.helo_identity:
        identity = {"smtp_helo": spf_result.domain}
    else:
        identity = {"smtp_mailfrom": spf_result.domain}  # the domain only (§2.7.2)
    clauses = [_resinfo("spf", spf_result.result, **identity)]
    for r in dkim_results or [DkimResult("none")]:
        clauses.append(
            _resinfo(
                "dkim",
                r.result,
                r.reason,
                "key in testing mode" if r.testing else "",
                header_d=r.domain,
                header_i=r.identity,
                header_s=r.selector,
                header_a=r.algorithm,
                header_b=r.b,
            )
        )
    clauses.append(
        _resinfo(
            "dmarc",
            dmarc.result,
            dmarc.reason,
            dmarc.comment,
            header_from=dmarc.domain,
            policy_dmarc=dmarc.policy,
        )
    )
    if arc != "none":
        clauses.append(_resinfo("arc", arc, arc_reason, smtp_remote_ip=client_ip))
    return "Authentication-Results: " + authserv_id + ";\r\n\t" + ";\r\n\t".join(clauses) + "\r\n"


async def check_message(
    raw: bytes,
    *,
    client_ip: str,
    helo: str,
    mail_from: str,
    resolver: Resolver,
    authserv_id: str,
    sample: Callable[[], float] = random.random,
    run_cpu: CpuRunner = asyncio.to_thread,
) -> Verdict:
    """SPF, DKIM, DMARC and ARC for one message as received. ``mail_from`` is the
    reverse-path without brackets ("" for the null sender); ``sample`` draws DMARC's
    ``pct`` (injectable for tests); ``run_cpu(fn, *args)`` runs the CPU steps (default a
    thread; ``functools.partial(worker_pool.run, owner)`` puts them in the worker processes,
    with their time budget). Call it on the message as received, before
    ``strip_forged_results``, and prepend ``Verdict.header``. A CPU step that fails (its
    budget exceeded) gives a temperror verdict."""
    try:
        return await _check(raw, client_ip, helo, mail_from, resolver, authserv_id, sample, run_cpu)
    except Exception as exc:  # a CPU step over its budget, or a bug: still a verdict
        log.exception("message authentication failed")
        header = _resinfo("spf", "temperror") + ";\r\n\t" + _resinfo("dkim", "temperror")
        return Verdict(
            f"Authentication-Results: {authserv_id};\r\n\t{header}\r\n",
            "temperror",
            "temperror",
            "temperror",
            "none",
            "accept",
            f"not checked: {type(exc).__name__}",
        )


async def _check(
    raw: bytes,
    client_ip: str,
    helo: str,
    mail_from: str,
    resolver: Resolver,
    authserv_id: str,
    sample: Callable[[], float],
    run_cpu: CpuRunner,
) -> Verdict:
    identity = mail_from or f"postmaster@{helo}"
    spf_task = asyncio.ensure_future(_check_spf(resolver, client_ip, helo, mail_from))
    try:
        parsed = await run_cpu(prescan, raw, _domain_of(identity) or "")
        (keys, temporary), records = await asyncio.gather(
            _fetch_keys(resolver, parsed.key_names),
            _dmarc_records(resolver, parsed.from_domains, parsed.orgs),
        )
        dkim_results, arc, arc_reason = await run_cpu(
            verify_signatures, raw, parsed.signatures, keys, temporary, parsed.arc_present
        )
        spf_result = await spf_task
    finally:
        spf_task.cancel()
    dmarc = _evaluate_dmarc(parsed, records, spf_result, dkim_results, sample)
    header = _header(authserv_id, spf_result, dkim_results, dmarc, arc, arc_reason, client_ip)
    passing = [r for r in dkim_results if r.result == "pass"]
    dkim_summary = "pass" if passing else (dkim_results[0].result if dkim_results else "none")
    if dmarc.action != "accept":
        reason = f"DMARC policy {dmarc.policy} of {dmarc.domain}: {dmarc.reason}"
    else:
        reason = f"DMARC {dmarc.result}" + (f" for {dmarc.domain}" if dmarc.domain else "")
    return Verdict(
        header=header,
        spf=spf_result.result,
        dkim=dkim_summary,
        dmarc=dmarc.result,
        arc=arc,
        action=dmarc.action,
        reason=reason,
        dkim_results=dkim_results,
        header_from=dmarc.domain,
    )
