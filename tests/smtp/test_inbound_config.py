"""The SMTP settings: defaults, environment, validation, and the host name."""

from __future__ import annotations

from dataclasses import replace

import pytest

from jmap.config import Config, ConfigError, check_file, load_config
from smtp_gateway.hostname import smtp_hostname
from smtp_gateway.listener import smtp_listen_problem


def test_defaults_and_environment():
    assert load_config(environ={}).smtp_listen == "127.0.0.1:2525"
    assert load_config(environ={"FULMAR_SMTP_LISTEN": "0.0.0.0:25"}).smtp_listen == "0.0.0.0:25"
    # set but empty: no listener (an unset variable keeps the default)
    assert load_config(environ={"FULMAR_SMTP_LISTEN": ""}).smtp_listen == ""
    assert load_config(environ={"FULMAR_SMTP_LISTEN": ""}, smtp_listen="[::1]:25").smtp_listen


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('smtp_listen = "nowhere"', "smtp_listen must be HOST:PORT"),
        ("smtp_max_recipients = 99", "at least 100"),
        ("smtp_max_line_length = 512", "at least 1000"),
        ("smtp_max_connections = 0", "positive integer"),
        ("smtp_max_bad_commands = 0", "positive integer"),
        ('smtp_tls_cert = "/no/such.pem"', "go together"),
        ('smtp_timeout_seconds = "soon"', "non-negative number"),
        ("smtp_intake_backlog = -1", "non-negative integer"),
        ("smtp_intake_max_wait_seconds = -1", "non-negative number"),
    ],
)
def test_bad_values_are_named(tmp_path, text, problem):
    path = tmp_path / "fulmar.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError, match=problem):
        check_file(path)


def test_an_empty_smtp_listen_is_valid(tmp_path):
    path = tmp_path / "fulmar.toml"
    path.write_text('smtp_listen = ""\nsmtp_max_recipients = 500\n')
    config, _ = check_file(path)
    assert (config.smtp_listen, config.smtp_max_recipients) == ("", 500)


def test_host_name():
    config = Config()
    assert smtp_hostname(replace(config, smtp_hostname="MX.Example.ORG.")) == "mx.example.org"
    assert (
        smtp_hostname(replace(config, base_url="https://Mail.Example.org/")) == "mail.example.org"
    )
    assert smtp_hostname(replace(config, base_url="http://127.0.0.1:8080")) == "[127.0.0.1]"
    assert smtp_hostname(replace(config, base_url="http://[::1]:8080")) == "[IPv6:::1]"


def test_a_taken_port_is_one_line(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        problem = smtp_listen_problem(replace(Config(), smtp_listen=f"127.0.0.1:{port}"))
    assert problem and problem.startswith(f"cannot listen for SMTP on 127.0.0.1:{port}")
    assert smtp_listen_problem(replace(Config(), smtp_listen="")) is None
