"""The outbound settings: smtp_routes from a TOML table or FULMAR_SMTP_ROUTES, smtp_relay."""

from __future__ import annotations

import pytest

from jmap.config import ConfigError, check_file, load_config


def test_routes_from_a_table_and_from_the_environment(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('smtp_routes = { "Example.NET" = "127.0.0.1:2526" }\n')
    assert check_file(path)[0].smtp_routes == (("example.net", "127.0.0.1:2526"),)
    config = load_config(
        environ={
            "FULMAR_SMTP_ROUTES": "a.example=127.0.0.1:25, b.example=[::1]:2525",
            "FULMAR_SMTP_RELAY": "smtp://u:p@127.0.0.1:587",
        }
    )
    assert config.smtp_routes == (("a.example", "127.0.0.1:25"), ("b.example", "[::1]:2525"))
    assert config.smtp_relay == "smtp://u:p@127.0.0.1:587"


@pytest.mark.parametrize("bad", ["a.example=nohost", "a.example=127.0.0.1:0", "=127.0.0.1:25"])
def test_bad_routes_are_refused(bad):
    with pytest.raises(ConfigError, match="smtp_routes"):
        load_config(environ={"FULMAR_SMTP_ROUTES": bad})


def test_relay_must_be_an_smtp_url(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('smtp_relay = "http://relay.example"\n')
    with pytest.raises(ConfigError, match="smtp_relay"):
        check_file(path)
