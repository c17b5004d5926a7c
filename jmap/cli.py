"""The ``fulmar`` command line: run the server, manage accounts and tokens."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import secrets
import socket
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

import click

from .auth import hash_password, new_token, token_hash
from .cli_mongo import mongo as mongo_group
from .config import Config, ConfigError, check_file, load_config
from .datadir import DATABASE, holds_data
from .provision import ProvisionError, add_account, check_address, check_password, remove_account
from .roles import ALL_ROLES, API, SMTP, roles_problem
from .store.base import ConflictError, DataStore, NotFoundError, StoreError, TokenInfo
from .store.blob_factory import blob_store
from .store.factory import open_data_store, open_search_index

T = TypeVar("T")

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where data lives (default ./data, or FULMAR_DATA_DIR).",
)
config_option = click.option(
    "--config", "config_file", type=click.Path(dir_okay=False), help="A TOML config file."
)


def with_config(command: Callable[..., T]) -> Callable[..., T]:
    """Give a command ``--data-dir`` and ``--config``, and call it with the ``config``."""

    @data_dir_option
    @config_option
    @functools.wraps(command)
    def wrapper(*args: Any, config_file: str | None, data_dir: Path | None, **kwargs: Any) -> T:
        return command(*args, config=_config(config_file=config_file, data_dir=data_dir), **kwargs)

    return wrapper


def _config(**overrides: Any) -> Config:
    try:
        return load_config(**overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _check_data_dir(config: Config) -> None:
    """Refuse a folder that holds no Fulmar data: a mistyped ``--data-dir`` or
    ``FULMAR_DATA_DIR`` must not start an empty database (only ``serve`` creates one)."""
    if config.mongodb_url:  # the data lives in MongoDB, not in the folder
        return
    if not holds_data(config.data_dir):
        raise click.ClickException(
            f"{config.data_dir} holds no Fulmar data (no {DATABASE}): check --data-dir "
            f"or FULMAR_DATA_DIR; `fulmar serve` creates a new data directory"
        )


def _with_store(
    config: Config, work: Callable[[DataStore], Awaitable[T]], create: bool = False
) -> T:
    """Open the data store, run ``work`` on it, close it; errors become one line.

    Only with ``create`` may the data directory be new.
    """
    if not create:
        _check_data_dir(config)

    async def run() -> T:
        data = open_data_store(config.database_path, config.mongodb_url, open_search_index(config))
        await data.open()
        try:
            return await work(data)
        finally:
            await data.close()

    try:
        return asyncio.run(run())
    except (ProvisionError, NotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    except ConflictError:
        raise click.ClickException("an account with that address exists already") from None
    except (StoreError, OSError) as exc:
        raise click.ClickException(f"cannot use the data directory: {exc}") from None
    except Exception as exc:  # a bug: still one line for the operator, and a clear one
        raise click.ClickException(f"internal error: {type(exc).__name__}: {exc}") from None


@click.group()
@click.version_option(package_name="fulmar")
def main() -> None:
    """Fulmar, a real-time JMAP mail server."""
    os.umask(0o077)  # whatever Fulmar writes is for its own user only (mail, keys, hashes)


main.add_command(mongo_group)


@main.command()
@data_dir_option
@click.option("--listen", help="HOST:PORT to listen on (default 127.0.0.1:8080).")
@click.option("--base-url", help="Public URL of the server (default http://HOST:PORT).")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), help="PEM certificate.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="PEM private key.")
@click.option("--redis-url", help="Redis URL for push across nodes (or FULMAR_REDIS_URL).")
@click.option(
    "--smtp-listen",
    help="HOST:PORT for SMTP (default 127.0.0.1:2525, or FULMAR_SMTP_LISTEN; '' for none).",
)
@click.option(
    "--submission-listen",
    help="HOST:PORT for mail clients: STARTTLS, then AUTH (or FULMAR_SUBMISSION_LISTEN).",
)
@click.option(
    "--submissions-listen",
    help="HOST:PORT for mail clients over implicit TLS (or FULMAR_SUBMISSIONS_LISTEN).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error", "critical"], case_sensitive=False),
    help="Least severe level logged (default info, or FULMAR_LOG_LEVEL).",
)
@click.option(
    "--roles",
    help="What this node runs: api, smtp, worker, comma-separated (default all three, "
    "or FULMAR_ROLES).",
)
@config_option
def serve(config_file: str | None, **options: Any) -> None:
    """Run the JMAP server."""
    config = _config(config_file=config_file, **options)  # a mistake is told before loading
    if bool(config.tls_cert) != bool(config.tls_key):
        raise click.ClickException("--tls-cert and --tls-key go together")
    if problem := roles_problem(config):
        raise click.ClickException(problem)
    if SMTP in config.roles:
        _check_smtp_listeners(config)
    import uvicorn

    from .app import create_app
    from .observability import setup_logging
    from .serving import uvicorn_options

    setup_logging(config.log_level)
    if not holds_data(config.data_dir):
        click.echo(f"Creating a new data directory: {config.data_dir.resolve()}", err=True)
    _check_s3(config)
    _first_start(config)
    if API in config.roles:
        click.echo(f"Fulmar JMAP session: {config.public_url}/.well-known/jmap", err=True)
    if len(config.roles) < len(ALL_ROLES):
        click.echo(f"Fulmar node roles: {', '.join(config.roles)}", err=True)
    uvicorn.run(create_app(config), **uvicorn_options(config))


def _check_smtp_listeners(config: Config) -> None:
    from smtp_gateway.listener import smtp_listen_problem

    if problem := smtp_listen_problem(config):
        raise click.ClickException(problem)
    from smtp_gateway.submission import submission_listen_problems

    if problems := submission_listen_problems(config):
        raise click.ClickException(problems[0])


def _check_s3(config: Config) -> None:
    """With ``s3_url``, fail in one line before serving if the bucket cannot be used."""
    if not config.s3_url:
        return

    async def check() -> None:
        async with blob_store(config):
            pass

    try:
        asyncio.run(check())
    except (StoreError, OSError) as exc:
        raise click.ClickException(f"cannot use the blob store: {exc}") from None


def _first_start(config: Config) -> None:
    """With no account at all, create one and print how to log in."""

    async def work(data: DataStore) -> tuple[str, str] | None:
        if await data.principals():
            return None
        address = f"admin@{_mail_domain(config)}"
        password = secrets.token_urlsafe(12)
        try:
            await add_account(data, address, password)
        except ConflictError:  # another node starting at the same moment made it
            return None
        return address, password

    created = _with_store(config, work, create=True)
    if created:
        address, password = created
        click.echo(
            f"\nCreated the first account.\n  address:  {address}\n  password: {password}\n"
            f"Try: curl -u '{address}:{password}' {config.public_url}/.well-known/jmap\n",
            err=True,
        )


def _mail_domain(config: Config) -> str:
    host = config.host
    if host in ("127.0.0.1", "0.0.0.0", "::", "::1", "localhost"):
        return "localhost"
    numeric = host.replace(".", "")
    return host if not (numeric.isascii() and numeric.isdigit()) else socket.gethostname()


@main.group()
def account() -> None:
    """Manage accounts (the login name is the email address)."""


def _password(password: str | None, prompt: str) -> str:
    if password is None:
        password = click.prompt(prompt, hide_input=True, confirmation_prompt=True)
    try:
        return check_password(password)
    except ProvisionError as exc:
        raise click.ClickException(str(exc)) from None


@account.command("add")
@click.argument("address")
@click.option("--password", help="The password (asked for when not given).")
@with_config
def account_add(address: str, password: str | None, config: Config) -> None:
    """Create an account with the standard mailboxes."""
    password = _password(password, "Password")
    created = _with_store(config, lambda data: add_account(data, address, password))
    click.echo(f"created {check_address(address)} (account id {created.id})")


@account.command("list")
@with_config
def account_list(config: Config) -> None:
    """List accounts."""

    async def work(data: DataStore) -> list[tuple[str, str]]:
        rows = []
        for principal in await data.principals():
            accounts = await data.accounts_for(principal.id)
            rows.append((principal.login, ", ".join(a.id for a in accounts)))
        return rows

    for login, account_ids in _with_store(config, work):
        click.echo(f"{login}\t{account_ids}")


@account.command("passwd")
@click.argument("address")
@click.option("--password", help="The new password (asked for when not given).")
@with_config
def account_passwd(address: str, password: str | None, config: Config) -> None:
    """Change an account's password."""
    password = _password(password, "New password")
    _with_store(
        config, lambda data: data.set_password(check_address(address), hash_password(password))
    )
    click.echo(f"password changed for {address}")


@account.command("remove")
@click.argument("address")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_config
def account_remove(address: str, yes: bool, config: Config) -> None:
    """Remove an account and all its data."""
    if not yes:
        if not sys.stdin.isatty():
            # a script, cron or `echo n |`: nobody can be asked, so nothing is deleted
            raise click.ClickException(
                f"not removing {address}: no terminal to confirm on; add --yes to remove it"
            )
        click.confirm(f"Remove {address} and all its mail?", abort=True)
    _check_data_dir(config)

    async def remove(data: DataStore) -> None:
        async with blob_store(config) as blobs:
            await remove_account(data, blobs, address)

    _with_store(config, remove)
    click.echo(f"removed {address}")


@account.command("share")
@click.argument("owner")
@click.option("--with", "grantee", required=True, help="Address of who gets access.")
@click.option("--read-only", is_flag=True, help="Read access only.")
@with_config
def account_share(owner: str, grantee: str, read_only: bool, config: Config) -> None:
    """Let another user use OWNER's account."""

    async def work(data: DataStore) -> None:
        owner_p = await data.principal_by_login(check_address(owner))
        grantee_p = await data.principal_by_login(check_address(grantee))
        if owner_p is None or grantee_p is None:
            raise NotFoundError(f"no account with the address {owner if not owner_p else grantee}")
        if owner_p.id == grantee_p.id:
            # a grant to the owner would replace the owner's own (read-write) access
            raise ProvisionError(f"{owner} owns that account already")
        own = [a for a in await data.accounts_for(owner_p.id) if a.is_personal]
        await data.grant(own[0].id, grantee_p.id, read_only)

    _with_store(config, work)
    click.echo(f"{grantee} can now use {owner}'s account" + (" (read-only)" if read_only else ""))


@main.group()
def token() -> None:
    """Manage Bearer tokens."""


@token.command("create")
@click.argument("address")
@click.option("--label", default="cli", help="A note on what the token is for.")
@click.option("--days", type=click.IntRange(min=1), help="Expire after this many days.")
@with_config
def token_create(address: str, label: str, days: int | None, config: Config) -> None:
    """Print a new Bearer token for ADDRESS."""
    value, digest = new_token()

    async def work(data: DataStore) -> None:
        principal = await data.principal_by_login(check_address(address))
        if principal is None:
            raise NotFoundError(f"no account with the address {address}")
        expires = time.time() + days * 86400 if days else None
        await data.add_token(digest, principal.id, label, expires)

    _with_store(config, work)
    click.echo(value)


#: a token's id in ``token list``: the start of its stored digest (which reveals nothing)
TOKEN_ID_LENGTH = 12


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


@token.command("list")
@click.argument("address", required=False)
@with_config
def token_list(address: str | None, config: Config) -> None:
    """List Bearer tokens (of ADDRESS, or everyone's): id, address, label, created, expires,
    last used (to the minute)."""

    async def work(data: DataStore) -> list[TokenInfo]:
        if address is None:
            return await data.tokens()
        login = check_address(address)
        if await data.principal_by_login(login) is None:
            raise NotFoundError(f"no account with the address {address}")
        return [t for t in await data.tokens() if t.login == login]

    tokens = _with_store(config, work)
    now = time.time()
    click.echo("ID\tADDRESS\tLABEL\tCREATED\tEXPIRES\tLAST USED")
    for t in tokens:
        expires = _when(t.expires) + (" (expired)" if t.expires and t.expires <= now else "")
        row = (t.hash[:TOKEN_ID_LENGTH], t.login, t.label, _when(t.created), expires)
        click.echo("\t".join((*row, _when(t.last_used))))


@token.command("revoke")
@click.argument("token_value", metavar="[TOKEN]", required=False)
@click.option("--id", "token_id", help="The token's id, as `fulmar token list` shows it.")
@click.option("--label", help="Every token with this label (of --address).")
@click.option("--address", help="Whose tokens --label means.")
@with_config
def token_revoke(
    token_value: str | None,
    token_id: str | None,
    label: str | None,
    address: str | None,
    config: Config,
) -> None:
    """Revoke Bearer tokens, named by value, --id or --label (push subscriptions made with
    them go too)."""
    if sum(x is not None for x in (token_value, token_id, label)) != 1:
        raise click.ClickException("name the token by one of TOKEN, --id or --label")
    if (label is None) != (address is None):
        raise click.ClickException("--label and --address go together")

    async def work(data: DataStore) -> int:
        if token_value is not None:
            if not await data.remove_token(token_hash(token_value.strip())):
                raise NotFoundError("no such token")
            return 1
        tokens = await data.tokens()
        if token_id is not None:
            chosen = [t for t in tokens if t.hash.startswith(token_id.strip().lower())]
            if len(token_id.strip()) < TOKEN_ID_LENGTH or len(chosen) != 1:
                raise NotFoundError(f"no token with the id {token_id}")
        else:
            login = check_address(address or "")
            chosen = [t for t in tokens if t.login == login and t.label == label]
            if not chosen:
                raise NotFoundError(f"{address} has no token labelled {label!r}")
        for t in chosen:
            await data.remove_token(t.hash)
        return len(chosen)

    revoked = _with_store(config, work)
    click.echo("token revoked" if revoked == 1 else f"{revoked} tokens revoked")


def _no_s3_blobs(config: Config, command: str) -> None:
    """Backups hold the blobs of DATA_DIR/blobs: with S3 they would silently lack them."""
    if config.s3_url:
        raise click.ClickException(
            f"{command} handles blobs under the data directory, but s3_url puts them in an "
            "S3 bucket: back the bucket up with S3's own tools (versioning, replication)"
        )


@main.command("backup")
@click.argument("dest", type=click.Path(path_type=Path))
@with_config
def backup_command(dest: Path, config: Config) -> None:
    """Copy the data (database, blobs, keys) into DEST, a new or empty folder; consistent
    while the server runs and takes writes."""
    from .backup import BackupError, backup

    _check_data_dir(config)
    _no_s3_blobs(config, "backup")
    try:
        report = backup(config.data_dir, dest)
    except (BackupError, OSError, sqlite3.Error) as exc:
        raise click.ClickException(f"backup failed: {exc}") from None
    for blob_id in report.missing:
        click.echo(f"warning: blob {blob_id} was deleted during the backup", err=True)
    key = config.push_vapid_key_file
    if key and not Path(key).resolve().is_relative_to(config.data_dir.resolve()):
        click.echo(f"warning: the VAPID key {key} is outside the data directory: copy it", err=True)
    extra = f", {', '.join(report.files)}" if report.files else ""
    click.echo(f"backed up {config.data_dir} to {dest}: database, {report.blobs} blobs{extra}")


@main.command("restore")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Put the data directory's current data aside.")
@with_config
def restore_command(source: Path, force: bool, config: Config) -> None:
    """Make the data directory a copy of the backup SOURCE (stop the server first)."""
    from .backup import BackupError, restore

    _no_s3_blobs(config, "restore")

    try:
        aside = restore(source, config.data_dir, force)
    except (BackupError, OSError, sqlite3.Error) as exc:
        raise click.ClickException(f"restore failed: {exc}") from None
    if aside:
        click.echo(f"the data that was in {config.data_dir} is now in {aside}", err=True)
    click.echo(f"restored {source} into {config.data_dir}")


@main.group("config")
def config_group() -> None:
    """Check configuration files."""


@config_group.command("check")
@click.argument("config_file", metavar="FILE", type=click.Path(dir_okay=False))
def config_check(config_file: str) -> None:
    """Check a TOML config file: unknown settings, wrong types, bad values."""
    try:
        config, warnings = check_file(config_file)
    except ConfigError as exc:
        problems = str(exc).splitlines()
        for problem in problems:
            click.echo(f"error: {problem}", err=True)
        raise click.ClickException(f"{config_file}: {len(problems)} problem(s)") from None
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    state = "holds Fulmar data" if holds_data(config.data_dir) else "`fulmar serve` creates it"
    tls = f"{config.tls_cert} / {config.tls_key}" if config.tls_cert else "none (plain HTTP)"
    changed = [
        f.name for f in fields(Config) if getattr(config, f.name) != getattr(Config(), f.name)
    ]
    changed_limits = [
        f"limits.{f.name}"
        for f in fields(config.limits)
        if getattr(config.limits, f.name) != getattr(Config().limits, f.name)
    ]
    click.echo(f"{config_file}: OK (the file alone: FULMAR_* variables and flags come on top)")
    click.echo(f"  data directory: {config.data_dir} ({state})")
    click.echo(f"  listen: {config.listen}; public URL: {config.public_url}")
    click.echo(f"  TLS: {tls}")
    click.echo(f"  push across nodes: {config.redis_url or 'off (in-process)'}")
    others = [n for n in changed if n != "limits"] + changed_limits
    click.echo(f"  changed from the defaults: {', '.join(others) or 'nothing'}")


@main.command("import")
@click.argument("address")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--mailbox",
    help="Put everything in this mailbox (a path like Archive/2023; made if missing).",
)
@with_config
def import_mail(address: str, paths: tuple[Path, ...], mailbox: str | None, config: Config) -> None:
    """Import mbox files (also .gz/.xz), Maildirs or single messages (.eml) into ADDRESS's
    account (safe to re-run)."""
    from rich.progress import Progress

    from .importer import count, import_inputs
    from .mailfiles import NotMailError, open_inputs

    _check_data_dir(config)
    if mailbox is not None and not mailbox.strip("/ "):
        raise click.ClickException("--mailbox needs a mailbox name")
    with contextlib.ExitStack() as stack:
        try:
            inputs = stack.enter_context(open_inputs(list(paths), mailbox))
        except NotMailError as exc:
            raise click.ClickException(f"nothing imported: {exc}") from None
        progress = stack.enter_context(Progress(transient=not sys.stderr.isatty()))
        task = progress.add_task("importing", total=count(inputs))

        def advance(n: int) -> None:
            progress.advance(task, n)

        async def run_import(data: DataStore) -> Any:
            async with blob_store(config) as blobs:
                return await import_inputs(
                    data,
                    blobs,
                    check_address(address),
                    inputs,
                    advance,
                    max_size=config.limits.max_size_email,
                )

        report = _with_store(config, run_import)
    for failure in report.failed:
        click.echo(f"skipped unreadable message: {failure}", err=True)
    for too_large in report.too_large:
        click.echo(f"skipped message over limits.max_size_email: {too_large}", err=True)
    click.echo(
        f"imported {report.imported}, already there {report.skipped}, "
        f"unreadable {len(report.failed)}, too large {len(report.too_large)}"
    )


# command groups of their own modules: fulmar dns, dkim, domain, alias, reindex
from smtp_gateway import cli_dns, cli_domains  # noqa: E402, F401
from smtp_gateway import cli_suppression as _suppression  # noqa: E402, F401

from . import cli_migrate, reindex_cli  # noqa: E402, F401
