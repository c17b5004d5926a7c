"""``fulmar migrate --to-mongodb URL [--to-s3 URL]``: an embedded deployment copied to
MongoDB (and S3), resumably, then verified (see ``jmap.migrate``). Stop the server first."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from typing import Any

import click
from pymongo.errors import PyMongoError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from .cli import _check_data_dir, main, with_config
from .config import Config
from .datadir import make_private_dir
from .migrate import CopyReport, Migration, MigrationError
from .migrate_source import SqliteSource
from .migrate_verify import Verification, summary_rows, verify
from .s3_url import parse_s3_url
from .store.base import StoreError
from .store.blob_factory import SPOOL
from .store.mongo_mail import MongoMailStore

#: blobs hashed by default at the end (--all-blobs: every one)
DEFAULT_SAMPLE = 100


class ProgressReporter:
    """Bars on a terminal; on anything else, one line per phase."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            disable=not console.is_terminal,
        )
        self._tasks: dict[str, Any] = {}

    def start(self, task: str, total: int | None) -> None:
        self._tasks[task] = self.progress.add_task(task, total=total)
        if not self.console.is_terminal and task != "written":
            click.echo(task + (f" ({total})" if total is not None else ""))

    def advance(self, task: str, n: int = 1) -> None:
        if task in self._tasks:
            self.progress.advance(self._tasks[task], n)

    def note(self, text: str) -> None:
        self.console.print(text) if self.console.is_terminal else click.echo(text)


@main.command("migrate")
@click.option("--to-mongodb", "mongodb_url", required=True, help="The MongoDB URL to copy to.")
@click.option("--to-s3", "s3_url", help="Copy the blob files to this S3 bucket too (s3_url form).")
@click.option(
    "--sample-blobs",
    default=DEFAULT_SAMPLE,
    show_default=True,
    type=click.IntRange(min=0),
    help="Blobs read back and hashed from the bucket at the end.",
)
@click.option("--all-blobs", is_flag=True, help="Hash every blob at the end, not a sample.")
@with_config
def migrate_command(
    mongodb_url: str, s3_url: str | None, sample_blobs: int, all_blobs: bool, config: Config
) -> None:
    """Copy this embedded deployment (the data directory) to MongoDB, and its blobs to S3.

    Stop the server first. Safe to interrupt and run again: it goes on where it stopped;
    after success it only verifies. Exits non-zero if the copy does not match.
    """
    _check_data_dir(config)
    if config.mongodb_url:
        raise click.ClickException(
            "mongodb_url is set: this deployment's data is in MongoDB already, not in the "
            "data directory"
        )
    if not mongodb_url.startswith(("mongodb://", "mongodb+srv://")):
        raise click.ClickException("--to-mongodb must start with mongodb:// or mongodb+srv://")
    if s3_url is not None:
        if config.s3_url:
            raise click.ClickException("s3_url is set: the blobs are in S3 already")
        try:
            parse_s3_url(s3_url)
        except ValueError as exc:
            raise click.ClickException(f"--to-s3 {exc}") from None
    console = Console(stderr=False)
    reporter = ProgressReporter(console)
    try:
        copied, checked = asyncio.run(
            _run(config, mongodb_url, s3_url, None if all_blobs else sample_blobs, reporter)
        )
    except MigrationError as exc:
        raise click.ClickException(str(exc)) from None
    except (StoreError, PyMongoError, sqlite3.Error, OSError) as exc:
        raise click.ClickException(f"migration stopped (run it again to go on): {exc}") from None
    _summary(console, copied, checked)
    if not checked.ok:
        click.echo(f"verification FAILED: {checked.mismatch_count} mismatches", err=True)
        sys.exit(1)
    click.echo("verification passed: the target matches the source")
    click.echo("now set, for every node (and keep the server stopped until then):")
    click.echo(f"  mongodb_url = {mongodb_url!r}   (or FULMAR_MONGODB_URL)")
    if s3_url is not None:
        click.echo(f"  s3_url = {s3_url!r}   (or FULMAR_S3_URL)")
    else:
        click.echo(f"  (blobs stay in {config.blob_dir}: keep data_dir, or migrate with --to-s3)")


async def _run(
    config: Config,
    mongodb_url: str,
    s3_url: str | None,
    sample: int | None,
    reporter: ProgressReporter,
) -> tuple[CopyReport, Verification]:
    source = SqliteSource(config.data_dir)
    target = MongoMailStore(mongodb_url)
    blobs = None
    try:
        await target.open()
        if s3_url is not None:
            from .store.s3 import S3BlobStore

            make_private_dir(config.data_dir / SPOOL)
            blobs = S3BlobStore(parse_s3_url(s3_url), config.data_dir / SPOOL)
            await blobs.open()
        with reporter.progress:
            copied = await Migration(source, target, blobs, reporter).run()
            reporter.start("verifying", None)
            checked = await verify(source, target.db, blobs, sample)
        return copied, checked
    finally:
        if blobs is not None:
            await blobs.close()
        await target.close()
        source.close()


def _summary(console: Console, copied: CopyReport, checked: Verification) -> None:
    if not copied.nothing_to_do:
        click.echo(
            f"accounts copied {copied.accounts_copied}, unchanged since an earlier run "
            f"{copied.accounts_skipped}, removed {copied.accounts_removed}; objects "
            f"{copied.objects}, change-log entries {copied.changes}, jobs {copied.jobs}"
        )
        if copied.blobs_uploaded or copied.blobs_present:
            click.echo(
                f"blobs uploaded {copied.blobs_uploaded}, in the bucket already "
                f"{copied.blobs_present}"
            )
    if copied.without_text:
        click.echo(
            f"note: {copied.without_text} Emails had their text in Meilisearch, not in the "
            "database: keep meilisearch_url set (the MongoDB text index has no text for them)"
        )
    table = Table(title="source and target compared")
    table.add_column("what")
    table.add_column("count", justify="right")
    for what, count in summary_rows(checked):
        table.add_row(what, count)
    console.print(table)
    for text in checked.mismatches:
        click.echo(f"MISMATCH {text}", err=True)
    if checked.mismatch_count > len(checked.mismatches):
        click.echo(f"… and {checked.mismatch_count - len(checked.mismatches)} more", err=True)
