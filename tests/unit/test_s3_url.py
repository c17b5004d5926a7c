"""The ``s3_url`` setting: parsing, percent-decoding, and errors that never show the secret."""

from __future__ import annotations

import pytest

from jmap.config import ConfigError, check_file, load_config
from jmap.s3_url import S3Url, parse_s3_url


def test_parts_are_split_and_decoded():
    url = "https://AKIA%2FKEY:se%2Bcr%2Fet%40x@s3.example.com:9000/mail-blobs?region=eu-west-1"
    assert parse_s3_url(url) == S3Url(
        "s3.example.com:9000", True, "AKIA/KEY", "se+cr/et@x", "mail-blobs", "eu-west-1"
    )


def test_defaults_and_ipv6():
    assert parse_s3_url("http://k:s@127.0.0.1/bucket") == S3Url(
        "127.0.0.1", False, "k", "s", "bucket", None
    )
    assert parse_s3_url("http://k:s@[::1]:9000/bucket/").endpoint == "[::1]:9000"


def test_the_secret_is_not_in_the_repr():
    assert "hunter2" not in repr(parse_s3_url("http://k:hunter2@127.0.0.1:9000/b-1"))


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("s3://k:s@127.0.0.1:9000/bucket", "must start with http:// or https://"),
        ("ftp://k:s@127.0.0.1/bucket", "must start with http:// or https://"),
        ("http://127.0.0.1:9000/bucket", "needs the access key and secret"),
        ("http://k@127.0.0.1:9000/bucket", "needs the access key and secret"),
        ("http://k:@127.0.0.1:9000/bucket", "must not be empty"),
        ("http://:s@127.0.0.1:9000/bucket", "must not be empty"),
        ("http://k:s@127.0.0.1:99999/bucket", "the port must be a number"),
        ("http://k:s@127.0.0.1:port/bucket", "the port must be a number"),
        ("http://k:s@127.0.0.1:0/bucket", "the port must be a number"),
        ("http://k:s@:9000/bucket", "needs a host"),
        ("http://k:s@127.0.0.1:9000", "needs the bucket"),
        ("http://k:s@127.0.0.1:9000/", "needs the bucket"),
        ("http://k:s@127.0.0.1:9000/bucket/prefix", "must be one bucket name"),
        ("http://k:s@127.0.0.1:9000/Bucket", "not a valid bucket name"),
        ("http://k:s@127.0.0.1:9000/ab", "not a valid bucket name"),
        ("http://k:s@127.0.0.1:9000/-bucket", "not a valid bucket name"),
        ("http://k:s@127.0.0.1:9000/my..bucket", "not a valid bucket name"),
        ("http://k:s@127.0.0.1:9000/192.168.1.1", "not a valid bucket name"),
        ("http://k:s@127.0.0.1:9000/b_u", "not a valid bucket name"),
        ("http://k:s@127.0.0.1:9000/bucket?regoin=x", "unknown parameters ['regoin']"),
        ("http://k:s@127.0.0.1:9000/bucket?region=", "exactly one non-empty value"),
        ("http://k:s@127.0.0.1:9000/bucket?region=a&region=b", "exactly one non-empty"),
        ("http://k:s@127.0.0.1:9000/bucket#x", "#fragment"),
    ],
)
def test_bad_urls_say_what_is_wrong_without_the_secret(url, problem):
    with pytest.raises(ValueError) as caught:
        parse_s3_url(url)
    assert problem in str(caught.value)
    with pytest.raises(ConfigError) as from_env:
        load_config(environ={"FULMAR_S3_URL": url.replace("k:s@", "k:TOPSECRET@")})
    assert str(from_env.value).startswith("s3_url ")
    assert "TOPSECRET" not in str(from_env.value)


def test_from_environment_and_file(tmp_path):
    url = "http://key:secret@127.0.0.1:9000/mail?region=us-east-1"
    assert load_config(environ={"FULMAR_S3_URL": url}).s3_url == url
    assert load_config(environ={}).s3_url is None
    good = tmp_path / "good.toml"
    good.write_text(f's3_url = "{url}"\n')
    assert load_config(good, environ={}).s3_url == url
    config, _ = check_file(good)
    assert config.s3_url == url


def test_config_check_reports_a_bad_s3_url(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('s3_url = "http://key:PW@127.0.0.1:9000/"\n')
    with pytest.raises(ConfigError) as caught:
        check_file(bad)
    assert "s3_url needs the bucket" in str(caught.value) and "PW" not in str(caught.value)
    number = tmp_path / "number.toml"
    number.write_text("s3_url = 5\n")
    with pytest.raises(ConfigError, match="s3_url must be a string"):
        load_config(number, environ={})
