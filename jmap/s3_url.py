"""The ``s3_url`` setting: ``http(s)://KEY:SECRET@host:port/bucket?region=…``.

The key and the secret are percent-decoded (a secret may hold ``/``, ``+`` or ``@``). Error
messages never repeat the secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

#: S3's bucket naming rules: 3-63 lowercase letters, digits, dots and hyphens, starting and
#: ending with a letter or digit, not shaped like an IPv4 address
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IPV4 = re.compile(r"\d+\.\d+\.\d+\.\d+")
_SHAPE = "http(s)://KEY:SECRET@host:port/bucket?region=…"


@dataclass(frozen=True, slots=True)
class S3Url:
    """Where the blobs live and how to sign requests there."""

    endpoint: str  # host:port, as the minio client takes it
    secure: bool
    access_key: str
    secret_key: str = field(repr=False)
    bucket: str
    region: str | None = None


def parse_s3_url(value: str) -> S3Url:
    """Split and check an ``s3_url``; raise ValueError saying what is wrong."""
    if not isinstance(value, str):
        raise ValueError(f"must be a string of the form {_SHAPE}")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"must start with http:// or https:// ({_SHAPE})")
    if parts.username is None or parts.password is None:
        raise ValueError(f"needs the access key and secret before the host ({_SHAPE})")
    access_key, secret_key = unquote(parts.username), unquote(parts.password)
    if not access_key or not secret_key:
        raise ValueError("the access key and the secret must not be empty")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the port must be a number from 1 to 65535") from None
    host = parts.hostname
    if not host:
        raise ValueError(f"needs a host ({_SHAPE})")
    if port == 0:
        raise ValueError("the port must be a number from 1 to 65535")
    if parts.fragment:
        raise ValueError("must not have a #fragment")
    bucket = parts.path.strip("/")
    if not bucket:
        raise ValueError(f"needs the bucket as its path ({_SHAPE})")
    if "/" in bucket:
        raise ValueError(f"the path must be one bucket name, not {bucket!r}")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket or _IPV4.fullmatch(bucket):
        raise ValueError(
            f"{bucket!r} is not a valid bucket name (3-63 lowercase letters, digits, "
            "dots and hyphens, starting and ending with a letter or digit)"
        )
    query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
    unknown = sorted(set(query) - {"region"})
    if unknown:
        raise ValueError(f"unknown parameters {unknown}: only ?region= is understood")
    region = None
    if "region" in query:
        if len(query["region"]) != 1 or not query["region"][0]:
            raise ValueError("?region= needs exactly one non-empty value")
        region = query["region"][0]
    bracketed = f"[{host}]" if ":" in host else host
    endpoint = bracketed if port is None else f"{bracketed}:{port}"
    return S3Url(endpoint, parts.scheme == "https", access_key, secret_key, bucket, region)
