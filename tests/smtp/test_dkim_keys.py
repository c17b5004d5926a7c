"""DKIM keys in the data role (documents of the server account) and signing with them."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization

from jmap.store.base import SERVER_ACCOUNT
from smtp_gateway.dkim_keys import (
    TYPE,
    DkimKeyError,
    active_keys,
    all_keys,
    check_domain,
    remove,
    rotate,
)
from smtp_gateway.dkim_sign import DkimSignError, sign_message

from .dns_helpers import Clock, data_store, key_pair
from .test_authcheck import MESSAGE

DAY = 86400.0


def test_keys_are_made_on_first_use_and_stored_as_documents(tmp_path: Path) -> None:
    clock = Clock()
    clock.now = 1_796_169_600.0  # 2026-12-02

    async def main() -> None:
        async with data_store(tmp_path) as data:
            keys = await active_keys(data, "A.Test.", clock)
            assert [(k.selector, k.algorithm) for k in keys] == [
                ("f20261202r", "rsa-sha256"),
                ("f20261202e", "ed25519-sha256"),
            ]
            assert await active_keys(data, "a.test", clock) == keys  # the same, not new ones
            _, docs = await data.get(SERVER_ACCOUNT, TYPE, None)
            assert sorted(d["id"] for d in docs) == ["a.test:f20261202e", "a.test:f20261202r"]
            rsa_doc = next(d for d in docs if d["algorithm"] == "rsa-sha256")
            assert set(rsa_doc) == {
                "id", "domain", "selector", "algorithm", "privateKey", "publicKey", "created",
                "active",
            }  # fmt: skip
            assert rsa_doc["domain"] == "a.test" and rsa_doc["active"] is True
            assert rsa_doc["created"] == clock.now
            private = serialization.load_pem_private_key(rsa_doc["privateKey"].encode(), None)
            assert private.key_size == 2048
            public = private.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            assert base64.b64decode(rsa_doc["publicKey"]) == public
            ed = next(k for k in keys if k.algorithm == "ed25519-sha256")
            assert len(base64.b64decode(ed.publicKey)) == 32  # RFC 8463 §4.2
            assert ed.dns_value.startswith("v=DKIM1; k=ed25519; p=")
        async with data_store(tmp_path) as data:  # durable: another process sees them
            assert [k.id for k in await active_keys(data, "a.test", clock)] == [k.id for k in keys]

    asyncio.run(main())


def test_concurrent_first_use_makes_one_pair(tmp_path: Path) -> None:
    async def main() -> None:
        async with data_store(tmp_path) as data:
            found = await asyncio.gather(*(active_keys(data, "a.test") for _ in range(4)))
            assert all(keys == found[0] for keys in found)
            assert len(await all_keys(data, "a.test")) == 2

    asyncio.run(main())


def test_rotation_keeps_the_old_pair_until_removed(tmp_path: Path) -> None:
    clock = Clock()
    clock.now = 1_796_169_600.0

    async def main() -> None:
        async with data_store(tmp_path) as data:
            first = await active_keys(data, "a.test", clock)
            clock.now += 60
            new, retired = await rotate(data, "a.test", clock)  # the same day
            assert [k.selector for k in new] == ["f20261202br", "f20261202be"]
            assert [k.id for k in retired] == [k.id for k in first]
            assert await active_keys(data, "a.test", clock) == new
            stored = await all_keys(data, "a.test")
            assert [(k.selector, k.active) for k in stored] == [
                ("f20261202r", False),
                ("f20261202e", False),
                ("f20261202br", True),
                ("f20261202be", True),
            ]
            clock.now += DAY
            newer, _ = await rotate(data, "a.test", clock)
            assert [k.selector for k in newer] == ["f20261203r", "f20261203e"]
            with pytest.raises(DkimKeyError, match="rotate first"):
                await remove(data, "a.test", "f20261203r")
            with pytest.raises(DkimKeyError, match="no DKIM selector"):
                await remove(data, "a.test", "nope")
            await remove(data, "a.test", "f20261202r")
            assert "f20261202r" not in {k.selector for k in await all_keys(data, "a.test")}
            assert await all_keys(data, "b.test") == []  # other domains untouched

    asyncio.run(main())


@pytest.mark.parametrize(
    "bad", ["", "localhost", "a..test", "-a.test", "a b.test", "x" * 64 + ".t"]
)
def test_domains_that_cannot_sign(bad: str) -> None:
    with pytest.raises(DkimKeyError):
        check_domain(bad)


def test_idn_domains_sign_as_a_labels() -> None:
    assert check_domain("Bücher.Example.") == "xn--bcher-kva.example"


def test_sign_message_dual_signs_and_oversigns(tmp_path: Path) -> None:
    async def main() -> tuple[bytes, list]:
        async with data_store(tmp_path) as data:
            raw = await sign_message(MESSAGE, "a.test", data)
            return raw, await active_keys(data, "a.test")

    raw, keys = asyncio.run(main())
    assert raw.endswith(MESSAGE)
    headers, _ = dkim.rfc822_parse(raw)
    sigs = [dkim.util.parse_tag_value(v) for n, v in headers if n == b"DKIM-Signature"]
    assert [s[b"a"] for s in sigs] == [b"rsa-sha256", b"ed25519-sha256"]
    assert [s[b"s"].decode() for s in sigs] == [k.selector for k in keys]
    for sig in sigs:
        assert sig[b"d"] == b"a.test" and sig[b"c"] == b"relaxed/simple" and b"l" not in sig
        signed = [h.strip() for h in sig[b"h"].split(b":")]
        assert signed.count(b"from") == 2  # once more than present (RFC 6376 §8.15)
        assert signed.count(b"reply-to") == 1  # absent, and signed: none may be added
        assert b"received" not in signed and b"return-path" not in signed

    def txt(name: bytes, timeout: int = 5) -> bytes | None:
        for key in keys:
            if name.rstrip(b".").decode() == key.dns_name:
                return key.dns_value.encode()
        return None

    d = dkim.DKIM(raw)
    assert d.verify(0, dnsfunc=txt) and d.verify(1, dnsfunc=txt)


def test_lf_only_messages_sign_with_lf(tmp_path: Path) -> None:
    lf = MESSAGE.replace(b"\r\n", b"\n")

    async def main() -> bytes:
        async with data_store(tmp_path) as data:
            return await sign_message(lf, "a.test", data)

    raw = asyncio.run(main())
    assert b"\r" not in raw and raw.endswith(lf)


def test_an_unparsable_message_cannot_be_signed(tmp_path: Path) -> None:
    async def main() -> None:
        async with data_store(tmp_path) as data:
            with pytest.raises(DkimSignError):
                await sign_message(b"no colon here\r\n\r\nbody", "a.test", data)
            with pytest.raises(DkimKeyError):
                await sign_message(MESSAGE, "not a domain", data)

    asyncio.run(main())


def test_openssl_rsa_gives_dkimpys_octets_and_answers() -> None:
    """dkimpy's RSA primitives handed to OpenSSL are the same functions, only faster."""
    import hashlib

    from dkim.crypto import parse_pem_private_key, parse_public_key

    from smtp_gateway import dkim_openssl

    key = next(k for k in key_pair("a.test") if k.algorithm == "rsa-sha256")
    private = parse_pem_private_key(key.signing_key())
    public = parse_public_key(base64.b64decode(key.publicKey))
    for text in (b"", b"one", b"x" * 10_000):

        def digest(text: bytes = text) -> dkim.HashThrough:
            h = dkim.HashThrough(hashlib.sha256())
            h.update(text)
            return h

        ours = dkim_openssl.rsa_sign(digest(), private)
        assert bytes(ours) == bytes(dkim_openssl.PYTHON_SIGN(digest(), private))
        for signature in (ours, ours[:-1] + b"\0", b"", b"\0" * 256, b"\xff" * 256):
            expected = dkim_openssl.PYTHON_VERIFY(digest(), signature, public)
            assert dkim_openssl.rsa_verify(digest(), signature, public) == expected
        assert dkim_openssl.rsa_verify(digest(), ours, public)
    assert dkim.RSASSA_PKCS1_v1_5_sign is dkim_openssl.rsa_sign
    assert dkim.RSASSA_PKCS1_v1_5_verify is dkim_openssl.rsa_verify
