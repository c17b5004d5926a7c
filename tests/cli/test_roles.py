"""``fulmar serve --roles``: the setting's parsing and the one-line refusals at start-up."""

from __future__ import annotations

import pytest

from jmap.config import ConfigError, load_config
from jmap.roles import ALL_ROLES, RolesError, parse_roles, roles_problem
from tests.cli.conftest import Fulmar


def test_default_is_every_role():
    assert load_config(environ={}).roles == ALL_ROLES == ("api", "smtp", "worker")


@pytest.mark.parametrize(
    ("given", "roles"),
    [
        ("api", ("api",)),
        ("worker,api", ("api", "worker")),
        (" SMTP , worker ,smtp", ("smtp", "worker")),
        (["worker", "smtp"], ("smtp", "worker")),
        ("api,,worker", ("api", "worker")),
    ],
)
def test_roles_parse_into_canonical_order(given, roles):
    assert parse_roles(given) == roles
    assert load_config(environ={}, roles=given).roles == roles


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("", "at least one"),
        (" , ", "at least one"),
        ([], "at least one"),
        ("api,mail", "unknown role 'mail'"),
        ("workers", "unknown role 'workers'"),
        (["api", 3], "must be a list"),
        (7, "must be a list"),
    ],
)
def test_bad_roles_are_refused(given, message):
    with pytest.raises(RolesError, match=message):
        parse_roles(given)
    with pytest.raises(ConfigError, match=message):
        load_config(environ={}, roles=given)


def test_environment_set_but_empty_is_an_error_not_the_default():
    with pytest.raises(ConfigError, match="at least one"):
        load_config(environ={"FULMAR_ROLES": ""})
    assert load_config(environ={"FULMAR_ROLES": "smtp,api"}).roles == ("api", "smtp")


def test_smtp_role_needs_a_listener_unless_the_node_runs_everything():
    def problem(**settings):
        return roles_problem(load_config(environ={}, **settings))

    assert problem(roles="smtp", smtp_listen="") is not None
    assert problem(roles="smtp,worker", smtp_listen="") is not None
    assert problem(roles="smtp", smtp_listen="", submission_listen="127.0.0.1:5870") is None
    assert problem(roles="smtp", smtp_listen="", submissions_listen="127.0.0.1:4650") is None
    assert problem(roles="smtp") is None  # the default listener
    assert problem(roles="api,worker", smtp_listen="") is None
    # one server for everything may run without SMTP, as before the roles existed
    assert problem(smtp_listen="") is None


def test_serve_refuses_bad_roles_in_one_line(tmp_path):
    fulmar = Fulmar(tmp_path / "new")
    assert "at least one" in fulmar.fails("serve", "--roles", "")
    assert "unknown role 'mail'" in fulmar.fails("serve", "--roles", "api,mail")
    assert "at least one" in fulmar.fails("serve", env={"FULMAR_ROLES": ""})
    assert "unknown role" in fulmar.fails("serve", env={"FULMAR_ROLES": "frontend"})
    config = tmp_path / "roles.toml"
    config.write_text("roles = []\n")
    assert "at least one" in fulmar.fails("serve", "--config", str(config))
    no_listener = ("--roles", "smtp,worker", "--smtp-listen", "")
    assert "the smtp role needs an SMTP listener" in fulmar.fails("serve", *no_listener)
    env = {"FULMAR_ROLES": "smtp", "FULMAR_SMTP_LISTEN": ""}
    assert "the smtp role needs an SMTP listener" in fulmar.fails("serve", env=env)
    # nothing was started or created
    assert not fulmar.data_dir.exists()


def test_config_check_reports_bad_roles(tmp_path):
    fulmar = Fulmar(tmp_path / "new")
    config = tmp_path / "roles.toml"
    config.write_text('roles = ["api", "nope"]\n')
    result = fulmar.run("config", "check", str(config), data_dir=False)
    assert result.returncode != 0 and "unknown role 'nope'" in result.stderr
    config.write_text('roles = ["smtp"]\nsmtp_listen = ""\n')
    result = fulmar.run("config", "check", str(config), data_dir=False)
    assert result.returncode != 0 and "needs an SMTP listener" in result.stderr
    for fine in ('roles = ["smtp", "worker"]\n', 'roles = "api"\nsmtp_listen = ""\n'):
        config.write_text(fine)
        assert fulmar.run("config", "check", str(config), data_dir=False).returncode == 0
