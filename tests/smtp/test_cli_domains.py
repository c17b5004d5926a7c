"""``fulmar domain`` and ``fulmar alias``, run as an operator would."""

from __future__ import annotations

from tests.cli.conftest import fulmar  # noqa: F401  (the fixture)


def test_domain_commands(fulmar):  # noqa: F811
    fulmar.ok("account", "add", "alice@example.com", "--password", "password123")
    assert "added mail.example" in fulmar.ok("domain", "add", "Mail.Example")
    added = fulmar.ok("domain", "add", "shop.example", "--catch-all", "alice@example.com")
    assert "catch-all alice@example.com" in added
    listed = fulmar.ok("domain", "list").splitlines()
    assert listed == [
        "mail.example\tcatch-all: -",
        "shop.example\tcatch-all: alice@example.com",
        "example.com\t(account addresses)",
    ]
    assert "none" in fulmar.ok("domain", "catch-all", "shop.example", "--none")
    assert "catch-all: -" in fulmar.ok("domain", "list").splitlines()[1]
    fulmar.ok("domain", "catch-all", "shop.example", "alice+x@example.com")
    fulmar.ok("domain", "remove", "mail.example")
    assert "mail.example" not in fulmar.ok("domain", "list")


def test_domain_mistakes_are_one_line_errors(fulmar):  # noqa: F811
    fulmar.ok("account", "add", "alice@example.com", "--password", "password123")
    fulmar.ok("domain", "add", "mail.example")
    for args, text in [
        (("domain", "add", "mail.example"), "local domain already"),
        (("domain", "add", "not a domain"), "not a domain name"),
        (("domain", "add", "x.example", "--catch-all", "nobody@example.com"), "no account"),
        (("domain", "remove", "never.example"), "not a domain added"),
        (("domain", "catch-all", "mail.example"), "either ADDRESS or --none"),
        (("domain", "catch-all", "mail.example", "alice@example.com", "--none"), "either"),
        (("domain", "catch-all", "never.example", "--none"), "not a domain added"),
    ]:
        assert text in fulmar.fails(*args), args


def test_alias_commands(fulmar):  # noqa: F811
    fulmar.ok("account", "add", "alice@example.com", "--password", "password123")
    fulmar.ok("account", "add", "bob@example.com", "--password", "password123")
    out = fulmar.ok("alias", "add", "Sales@Example.com", "bob@example.com")
    assert out.strip() == "added sales@example.com -> bob@example.com"
    fulmar.ok("alias", "add", "team@example.com", "sales@example.com")  # to an alias
    assert fulmar.ok("alias", "list").splitlines() == [
        "sales@example.com\tbob@example.com",
        "team@example.com\tsales@example.com",
    ]
    for args, text in [
        (("alias", "add", "sales@example.com", "alice@example.com"), "an alias already"),
        (("alias", "add", "alice@example.com", "bob@example.com"), "an account's address"),
        (("alias", "add", "x@example.com", "nobody@example.com"), "no account"),
        (("alias", "add", "x@example.com", "x@example.com"), "no account"),
        (("alias", "add", "no-at", "bob@example.com"), "not an email address"),
        (("alias", "remove", "never@example.com"), "no alias"),
    ]:
        assert text in fulmar.fails(*args), args
    fulmar.ok("alias", "remove", "team@example.com")
    assert fulmar.ok("alias", "list").splitlines() == ["sales@example.com\tbob@example.com"]


def test_commands_refuse_a_folder_without_data(fulmar):  # noqa: F811
    import shutil

    shutil.rmtree(fulmar.data_dir)
    assert "holds no Fulmar data" in fulmar.fails("domain", "list")
