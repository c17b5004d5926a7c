"""dkimpy's RSA primitives (RSASSA-PKCS1-v1_5, RFC 8017 §8.2) done by OpenSSL through
cryptography instead of Python's ``pow`` and byte loops.

dkimpy calls ``RSASSA_PKCS1_v1_5_sign`` and ``RSASSA_PKCS1_v1_5_verify`` through its module
namespace; importing this module replaces both, once. The results are the same octets and
the same answers (the scheme is deterministic; tests compare the two), at a fraction of the
CPU: signing drops from about 50 ms to a few, verifying by about a quarter of a message's
check. Hashes other than SHA-256 go to dkimpy's own code.
"""

from __future__ import annotations

import functools
from typing import Any

import dkim
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

PYTHON_SIGN = dkim.RSASSA_PKCS1_v1_5_sign
PYTHON_VERIFY = dkim.RSASSA_PKCS1_v1_5_verify
_PRIVATE = (
    "modulus",
    "publicExponent",
    "privateExponent",
    "prime1",
    "prime2",
    "exponent1",
    "exponent2",
    "coefficient",
)


@functools.lru_cache(maxsize=256)
def _private_key(n: int, e: int, d: int, p: int, q: int, dp: int, dq: int, qi: int) -> Any:
    numbers = rsa.RSAPrivateNumbers(p, q, d, dp, dq, qi, rsa.RSAPublicNumbers(e, n))
    return numbers.private_key(unsafe_skip_rsa_key_validation=True)  # our own stored keys


@functools.lru_cache(maxsize=1024)
def _public_key(n: int, e: int) -> Any:
    return rsa.RSAPublicNumbers(e, n).public_key()


def rsa_sign(hash: Any, private_key: dict[str, int]) -> bytes:
    if hash.name.lower() != "sha256":
        return PYTHON_SIGN(hash, private_key)
    key = _private_key(*(private_key[name] for name in _PRIVATE))
    return key.sign(hash.digest(), padding.PKCS1v15(), Prehashed(hashes.SHA256()))


def rsa_verify(hash: Any, signature: bytes, public_key: dict[str, int]) -> bool:
    if hash.name.lower() != "sha256":
        return PYTHON_VERIFY(hash, signature, public_key)
    try:
        key = _public_key(public_key["modulus"], public_key["publicExponent"])
    except ValueError:  # not a key OpenSSL accepts (even exponent, …): dkimpy decides
        return PYTHON_VERIFY(hash, signature, public_key)
    try:
        key.verify(bytes(signature), hash.digest(), padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


dkim.RSASSA_PKCS1_v1_5_sign = rsa_sign
dkim.RSASSA_PKCS1_v1_5_verify = rsa_verify
