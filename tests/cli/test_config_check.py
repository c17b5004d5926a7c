"""``fulmar config check FILE``: every problem of a config file, or a summary."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def check(fulmar, tmp_path: Path, text: str):
    path = tmp_path / "fulmar.toml"
    path.write_text(text)
    return fulmar.run("config", "check", str(path), data_dir=False)


def test_the_readme_example_is_valid(fulmar, tmp_path):
    (example,) = re.findall(r"```toml\n(.*?)```", README.read_text(), re.S)
    result = check(fulmar, tmp_path, example)
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout
    assert "data directory: /var/lib/fulmar (`fulmar serve` creates it)" in result.stdout
    assert "public URL: https://mail.example.org" in result.stdout


def test_summary_of_a_good_file(fulmar, tmp_path):
    text = (
        f'data_dir = "{fulmar.data_dir}"\nlisten = "127.0.0.1:9000"\nupload_ttl_seconds = 60\n'
        "[limits]\nmax_size_email = 1000\n"
    )
    result = check(fulmar, tmp_path, text)
    assert result.returncode == 0, result.stderr
    assert f"data directory: {fulmar.data_dir} (holds Fulmar data)" in result.stdout
    assert "listen: 127.0.0.1:9000; public URL: http://127.0.0.1:9000" in result.stdout
    assert "TLS: none (plain HTTP)" in result.stdout
    changed = "changed from the defaults: data_dir, listen, upload_ttl_seconds, "
    assert changed + "limits.max_size_email" in result.stdout
    assert "warning: upload_ttl_seconds is under an hour" in result.stderr


def test_every_problem_is_named(fulmar, tmp_path):
    text = (
        "surprise = 1\n"
        "listen = 8080\n"
        'log_level = "chatty"\n'
        'access_log = "yes"\n'
        "push_retry_attempts = -2\n"
        "[limits]\nmax_size_upload = 0\nmax_things = 5\n"
    )
    result = check(fulmar, tmp_path, text)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 7, result.stderr
    for word in ("surprise", "listen", "log_level", "access_log", "push_retry_attempts"):
        assert any(word in line for line in errors), word
    assert any("limits.max_size_upload" in line for line in errors)
    assert any("max_things" in line for line in errors)
    assert "7 problem(s)" in result.stderr
    assert result.stdout == ""


def test_bad_values_of_the_right_type(fulmar, tmp_path):
    text = (
        'base_url = "mail.example.org"\n'
        'tls_cert = "missing.pem"\n'
        'redis_url = "localhost:6379"\n'
        "eventsource_ping_min = 400\n"
    )
    result = check(fulmar, tmp_path, text)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    for expected in (
        "base_url must start with http:// or https://",
        "tls_cert and tls_key go together",
        "tls_cert: no such file: missing.pem",
        "redis_url must start with redis://",
        "eventsource_ping_min is larger than eventsource_ping_max",
    ):
        assert f"error: {expected}" in result.stderr


def test_unreadable_files(fulmar, tmp_path):
    result = check(fulmar, tmp_path, "listen = [unclosed\n")
    assert result.returncode != 0 and "not valid TOML" in result.stderr
    result = fulmar.run("config", "check", str(tmp_path / "missing.toml"), data_dir=False)
    assert result.returncode != 0 and "cannot read" in result.stderr
