"""The ``fulmar`` command line, run for real."""

from __future__ import annotations

import re
import time

from jmap.auth import Authenticator, token_hash
from jmap.store.base import DataStore
from jmap.store.files import FileBlobStore

from .conftest import Fulmar

PASSWORD = "correct horse"


def accounts_by_login(fulmar) -> dict[str, list[str]]:
    out = fulmar.ok("account", "list")
    listed = {}
    for line in out.splitlines():
        login, _, ids = line.partition("\t")
        listed[login] = ids.split(", ") if ids else []
    return listed


def test_account_add_and_list(fulmar):
    out = fulmar.ok("account", "add", "Alice@Example.com", "--password", PASSWORD)
    match = re.fullmatch(r"created alice@example\.com \(account id (\S+)\)\n", out)
    assert match, out
    account_id = match.group(1)
    fulmar.ok("account", "add", "bob@example.com", "--password", PASSWORD)
    assert accounts_by_login(fulmar) == {
        "alice@example.com": [account_id],
        "bob@example.com": [accounts_by_login(fulmar)["bob@example.com"][0]],
    }

    async def check(data: DataStore):
        principal = await data.principal_by_login("alice@example.com")
        assert principal is not None
        assert await Authenticator(data).check_password("alice@example.com", PASSWORD)
        assert not await Authenticator(data).check_password("alice@example.com", "wrong pass")
        _, mailboxes = await data.get(account_id, "Mailbox", None)
        return {m.get("role") for m in mailboxes}

    roles = fulmar.store(check)
    assert "inbox" in roles, "a new account has the standard mailboxes"


def test_account_add_errors(fulmar):
    fulmar.ok("account", "add", "alice@example.com", "--password", PASSWORD)
    for address in ("not-an-address", "a@b@c", "two words@example.com", "@example.com"):
        message = fulmar.fails("account", "add", address, "--password", PASSWORD)
        assert "address" in message
    assert "8 characters" in fulmar.fails(
        "account", "add", "bob@example.com", "--password", "short"
    )
    duplicate = fulmar.fails("account", "add", "ALICE@example.com", "--password", PASSWORD)
    assert "exists" in duplicate
    assert list(accounts_by_login(fulmar)) == ["alice@example.com"]


def test_data_dir_that_cannot_be_used(fulmar, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    env = {"FULMAR_DATA_DIR": str(a_file)}
    message = fulmar.fails(
        "account", "add", "alice@example.com", "--password", PASSWORD, env=env, data_dir=False
    )
    assert "data directory" in message
    message = fulmar.fails("account", "list", "--data-dir", str(a_file / "below"), data_dir=False)
    assert "data directory" in message


def test_account_passwd(fulmar):
    fulmar.ok("account", "add", "alice@example.com", "--password", PASSWORD)
    fulmar.ok("account", "add", "bob@example.com", "--password", PASSWORD)
    out = fulmar.ok("account", "passwd", "Alice@example.com", "--password", "new password")
    assert "alice@example.com" in out.lower()
    assert "no account" in fulmar.fails(
        "account", "passwd", "carol@example.com", "--password", "new password"
    )
    assert "8 characters" in fulmar.fails(
        "account", "passwd", "alice@example.com", "--password", "short"
    )
    assert "address" in fulmar.fails("account", "passwd", "alice", "--password", "new password")

    async def check(data: DataStore):
        auth = Authenticator(data)
        return (
            bool(await auth.check_password("alice@example.com", "new password")),
            bool(await auth.check_password("alice@example.com", PASSWORD)),
            bool(await auth.check_password("bob@example.com", PASSWORD)),
        )

    assert fulmar.store(check) == (True, False, True)


def test_account_remove(fulmar):
    fulmar.ok("account", "add", "alice@example.com", "--password", PASSWORD)
    fulmar.ok("account", "add", "bob@example.com", "--password", PASSWORD)
    listed = accounts_by_login(fulmar)
    alice, bob = listed["alice@example.com"][0], listed["bob@example.com"][0]
    blobs = FileBlobStore(fulmar.data_dir / "blobs")

    async def populate(data: DataStore):
        only_alice = await blobs.put(b"alice's upload")
        shared = await blobs.put(b"both have it")
        referenced = await blobs.put(b"alice's message")
        later = time.time() + 3600
        await data.add_upload(alice, only_alice, 14, later)
        await data.add_upload(alice, shared, 12, later)
        await data.add_upload(bob, shared, 12, later)
        async with data.transaction(alice) as tx:
            await tx.create("Thing", {"id": "t1"})
            await tx.add_blob_refs([(referenced, "t1")])
        principal = await data.principal_by_login("alice@example.com")
        assert principal is not None
        await data.add_token(token_hash("fmt_alice"), principal.id, "test", None)
        return only_alice, shared, referenced

    only_alice, shared, referenced = fulmar.store(populate)
    assert "no account" in fulmar.fails("account", "remove", "carol@example.com", "--yes")
    out = fulmar.ok("account", "remove", "ALICE@example.com", "--yes")
    assert "removed" in out
    assert list(accounts_by_login(fulmar)) == ["bob@example.com"]

    async def check(data: DataStore):
        now = time.time()
        assert await data.principal_by_login("alice@example.com") is None
        assert await data.principal_for_token(token_hash("fmt_alice"), now) is None
        _, things = await data.get(alice, "Thing", None)
        _, mailboxes = await data.get(alice, "Mailbox", None)
        assert things == [] and mailboxes == []
        _, bobs = await data.get(bob, "Mailbox", None)
        assert bobs, "bob keeps his mailboxes"
        assert await data.blob_visible(bob, shared, now)
        return [await blobs.get(b) for b in (only_alice, shared, referenced)]

    assert fulmar.store(check) == [None, b"both have it", None]
    # the address can be used again
    fulmar.ok("account", "add", "alice@example.com", "--password", PASSWORD)


def test_account_share(fulmar):
    for login in ("alice@example.com", "bob@example.com", "carol@example.com"):
        fulmar.ok("account", "add", login, "--password", PASSWORD)
    listed = accounts_by_login(fulmar)
    alice = listed["alice@example.com"][0]
    carol = listed["carol@example.com"][0]
    fulmar.ok("account", "share", "alice@example.com", "--with", "Bob@example.com")
    out = fulmar.ok(
        "account", "share", "carol@example.com", "--with", "bob@example.com", "--read-only"
    )
    assert "read-only" in out
    assert "no account" in fulmar.fails(
        "account", "share", "alice@example.com", "--with", "dave@example.com"
    )
    assert "no account" in fulmar.fails(
        "account", "share", "dave@example.com", "--with", "bob@example.com"
    )
    assert "address" in fulmar.fails("account", "share", "alice", "--with", "bob@example.com")
    # sharing an account with its owner would turn the owner's access read-only
    assert "owns" in fulmar.fails(
        "account", "share", "alice@example.com", "--with", "ALICE@example.com", "--read-only"
    )
    listed = accounts_by_login(fulmar)
    assert listed["bob@example.com"][0] not in (alice, carol), "own account first"
    assert set(listed["bob@example.com"][1:]) == {alice, carol}
    assert listed["alice@example.com"] == [alice]

    async def check(data: DataStore):
        modes = {}
        for login in ("alice@example.com", "bob@example.com"):
            principal = await data.principal_by_login(login)
            assert principal is not None
            for account in await data.accounts_for(principal.id):
                modes[(login, account.id)] = (account.is_personal, account.is_read_only)
        return modes

    modes = fulmar.store(check)
    assert modes[("bob@example.com", alice)] == (False, False)
    assert modes[("bob@example.com", carol)] == (False, True)
    assert modes[("alice@example.com", alice)] == (True, False)


def test_token_create(fulmar):
    fulmar.ok("account", "add", "alice@example.com", "--password", PASSWORD)
    forever = fulmar.ok("token", "create", "Alice@example.com").strip()
    weekly = fulmar.ok("token", "create", "alice@example.com", "--days", "7").strip()
    for token in (forever, weekly):
        assert token.startswith("fmt_") and len(token) > 30
        assert "\n" not in token
    assert forever != weekly
    assert "no account" in fulmar.fails("token", "create", "bob@example.com")
    assert "address" in fulmar.fails("token", "create", "bob")

    async def check(data: DataStore):
        now = time.time()
        alice = await data.principal_by_login("alice@example.com")
        assert alice is not None
        found = [await data.principal_for_token(token_hash(t), now) for t in (forever, weekly)]
        assert [p.id if p else None for p in found] == [alice.id, alice.id]
        in_eight_days = now + 8 * 86400
        assert await data.principal_for_token(token_hash(weekly), in_eight_days) is None
        assert await data.principal_for_token(token_hash(forever), in_eight_days) is not None
        assert await data.principal_for_token(token_hash(forever + "x"), now) is None

    fulmar.store(check)

    assert "revoked" in fulmar.ok("token", "revoke", weekly)
    assert "no such token" in fulmar.fails("token", "revoke", weekly)

    async def revoked(data: DataStore):
        now = time.time()
        assert await data.principal_for_token(token_hash(weekly), now) is None
        assert await data.principal_for_token(token_hash(forever), now) is not None

    fulmar.store(revoked)


def test_serve_configuration_errors(tmp_path):
    fulmar = Fulmar(tmp_path / "new")
    for listen in ("nope", "127.0.0.1:99999", "127.0.0.1:"):
        assert "listen" in fulmar.fails("serve", "--listen", listen)
    missing = tmp_path / "missing.toml"
    assert "missing.toml" in fulmar.fails("serve", "--config", str(missing))
    bad = tmp_path / "bad.toml"
    bad.write_text("surprise = 1\n")
    assert "surprise" in fulmar.fails("serve", "--config", str(bad))
    assert "listen" in fulmar.fails("serve", env={"FULMAR_LISTEN": "bad"})
    assert "log_level" in fulmar.fails("serve", env={"FULMAR_LOG_LEVEL": "chatty"})
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    assert "tls" in fulmar.fails("serve", "--tls-cert", str(cert)).lower()
    # nothing was started or created
    assert not fulmar.data_dir.exists()


def test_environment_variables(fulmar, tmp_path):
    env_dir = tmp_path / "from-env"
    Fulmar(env_dir).create()
    fulmar.data_dir.rename(tmp_path / "moved")  # the --data-dir of the fixture is gone
    env = {"FULMAR_DATA_DIR": str(env_dir)}
    fulmar.ok(
        "account", "add", "alice@example.com", "--password", PASSWORD, env=env, data_dir=False
    )
    assert not fulmar.data_dir.exists()
    assert "alice@example.com" in fulmar.ok("account", "list", env=env, data_dir=False)
    # --data-dir wins over the environment
    (tmp_path / "moved").rename(fulmar.data_dir)
    assert fulmar.ok("account", "list", env=env) == ""
    # and a config file named by FULMAR_CONFIG is read
    config = tmp_path / "fulmar.toml"
    config.write_text(f'data_dir = "{env_dir}"\n')
    listed = fulmar.ok("account", "list", env={"FULMAR_CONFIG": str(config)}, data_dir=False)
    assert "alice@example.com" in listed
