"""Configuration: defaults < TOML file < FULMAR_* environment < command-line flags."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

from jmap.config import Config, ConfigError, Limits, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fulmar.toml"
    path.write_text(text)
    return path


def test_defaults():
    config = load_config(environ={})
    assert config == Config()
    assert config.data_dir == Path("data")
    assert (config.host, config.port) == ("127.0.0.1", 8080)
    assert config.public_url == "http://127.0.0.1:8080"
    assert config.database_path == Path("data") / "fulmar.db"
    assert config.blob_dir == Path("data") / "blobs"
    assert config.limits == Limits()
    # the RFC 8620 §2 suggested minimums
    assert config.limits.max_size_upload >= 50_000_000
    assert config.limits.max_calls_in_request >= 16
    assert config.limits.max_objects_in_get >= 500
    assert config.upload_ttl_seconds >= 3600


def test_toml_file(tmp_path):
    path = write(
        tmp_path,
        """
data_dir = "/srv/fulmar"
listen = "0.0.0.0:9000"
base_url = "https://mail.example.com/"
upload_ttl_seconds = 7200
access_log = false

[limits]
max_calls_in_request = 32
max_size_upload = 1000
""",
    )
    config = load_config(path, environ={})
    assert config.data_dir == Path("/srv/fulmar")
    assert isinstance(config.data_dir, Path)
    assert (config.host, config.port) == ("0.0.0.0", 9000)
    assert config.public_url == "https://mail.example.com"
    assert config.upload_ttl_seconds == 7200
    assert config.access_log is False
    assert config.limits.max_calls_in_request == 32
    assert config.limits.max_size_upload == 1000
    # limits not in the file keep their defaults
    assert config.limits.max_objects_in_get == Limits().max_objects_in_get


def test_config_file_from_the_environment(tmp_path):
    path = write(tmp_path, 'listen = "127.0.0.1:7000"\n')
    assert load_config(environ={"FULMAR_CONFIG": str(path)}).port == 7000


def test_environment(tmp_path):
    config = load_config(
        environ={
            "FULMAR_DATA_DIR": str(tmp_path / "d"),
            "FULMAR_LISTEN": "[::1]:8443",
            "FULMAR_BASE_URL": "https://jmap.example.org",
            "UNRELATED": "x",
        }
    )
    assert config.data_dir == tmp_path / "d"
    assert (config.host, config.port) == ("::1", 8443)
    assert config.public_url == "https://jmap.example.org"
    # an empty variable counts as unset
    assert load_config(environ={"FULMAR_LISTEN": ""}).listen == Config().listen


def test_tls_makes_https_urls():
    assert load_config(environ={}, tls_cert="c.pem", tls_key="k.pem").public_url.startswith(
        "https://"
    )


def test_precedence(tmp_path):
    path = write(tmp_path, 'listen = "127.0.0.1:1001"\ndata_dir = "from-file"\n')
    env = {"FULMAR_LISTEN": "127.0.0.1:1002"}
    assert load_config(path, environ={}).port == 1001
    assert load_config(path, environ=env).port == 1002
    assert load_config(path, environ=env, listen="127.0.0.1:1003").port == 1003
    # a flag left unset (None) does not hide the lower layers
    assert load_config(path, environ=env, listen=None).port == 1002
    both = load_config(path, environ={"FULMAR_DATA_DIR": "from-env"}, data_dir=None)
    assert both.data_dir == Path("from-env")
    assert load_config(path, environ={}, data_dir=Path("flag")).data_dir == Path("flag")


@pytest.mark.parametrize(
    "text",
    [
        "not toml at all = = =",
        "unknown_setting = 1",
        "[limits]\nmax_bogus = 1",
        "limits = 5",
        'listen = "no-port"',
        'listen = "host:0"',
        'listen = "host:65536"',
        'listen = "host:http"',
        'listen = ":8080"',
        "listen = 8080",
        'upload_ttl_seconds = "a day"',
        "upload_ttl_seconds = -1",
        "upload_ttl_seconds = 1.5",
        'access_log = "yes"',
        "data_dir = 5",
        "base_url = true",
        '[limits]\nmax_size_upload = "big"',
        "[limits]\nmax_calls_in_request = 0",
        "[limits]\nmax_calls_in_request = true",
    ],
)
def test_bad_file_values(tmp_path, text):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), environ={})
    assert str(info.value)
    assert "\n" not in str(info.value).strip()


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.toml", environ={})


@pytest.mark.parametrize(
    "listen", ["8080", "localhost", "host:", "host:99999", "host:-1", "host:\u00b2", "host:8O"]
)
def test_bad_listen_from_env_and_flags(listen):
    with pytest.raises(ConfigError):
        load_config(environ={"FULMAR_LISTEN": listen})
    with pytest.raises(ConfigError):
        load_config(environ={}, listen=listen)


def test_log_level():
    assert load_config(environ={"FULMAR_LOG_LEVEL": "DEBUG"}).log_level == "DEBUG"
    for where in ({"environ": {"FULMAR_LOG_LEVEL": "chatty"}}, {"environ": {}, "log_level": "x"}):
        with pytest.raises(ConfigError, match="log_level"):
            load_config(**where)


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, tuple):
        return json.dumps(list(value))
    return json.dumps(str(value))


@pytest.mark.parametrize(
    "name", [f.name for f in fields(Config) if f.name != "limits" and f.default is not None]
)
def test_every_setting_accepts_its_default_in_a_file(tmp_path, name):
    default = getattr(Config(), name)
    config = load_config(write(tmp_path, f"{name} = {_toml_value(default)}\n"), environ={})
    assert getattr(config, name) == default


def test_every_limit_accepts_its_default_in_a_file(tmp_path):
    lines = [f"{f.name} = {getattr(Limits(), f.name)}" for f in fields(Limits)]
    config = load_config(write(tmp_path, "[limits]\n" + "\n".join(lines) + "\n"), environ={})
    assert config.limits == Limits()


def test_trusted_proxies_are_checked_addresses_or_networks(tmp_path):
    """Issue 7.19: forwarded headers are believed only from the proxies named here."""
    assert Config().trusted_proxies == ()
    config = load_config(
        write(tmp_path, 'trusted_proxies = ["127.0.0.1", "10.0.0.0/8"]\n'), environ={}
    )
    assert config.trusted_proxies == ("127.0.0.1/32", "10.0.0.0/8")
    for bad in ('["not-an-address"]', "[1]", "true"):
        with pytest.raises(ConfigError, match="trusted_proxies"):
            load_config(write(tmp_path, f"trusted_proxies = {bad}\n"), environ={})
