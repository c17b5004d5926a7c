"""Messages per hour per account: a sliding window kept in the submitting transaction."""

from __future__ import annotations

import asyncio

import pytest

from jmap.store.sqlite import SqliteDataStore
from smtp_gateway.rate_limits import HOUR, RateLimited, charge

T0 = 1_800_000_000.0 - (1_800_000_000.0 % HOUR)  # the start of an hour


def run(tmp_path, body):
    async def main():
        data = SqliteDataStore(tmp_path / "d.db")
        await data.open()
        try:
            account = (await data.create_principal("a@example.com", "h", "a@example.com")).id
            return await body(data, account)
        finally:
            await data.close()

    return asyncio.run(main())


async def send(data, account, now, limit, messages=1):
    async with data.transaction(account) as tx:
        await charge(tx, now, limit, messages)


def test_the_limit_holds_within_the_hour_and_frees_as_it_slides(tmp_path):
    async def body(data, account):
        for n in range(10):
            await send(data, account, T0 + n, limit=10)
        with pytest.raises(RateLimited) as refused:
            await send(data, account, T0 + 600, limit=10)
        assert 0 < refused.value.retry_after <= 2 * HOUR
        # at the turn of the hour last hour's ten still count almost fully ...
        with pytest.raises(RateLimited):
            await send(data, account, T0 + HOUR + 60, limit=10)
        # ... and half an hour later half of them do
        for n in range(5):
            await send(data, account, T0 + 1.5 * HOUR + n, limit=10)
        with pytest.raises(RateLimited):
            await send(data, account, T0 + 1.5 * HOUR + 10, limit=10)
        # two hours on, the window is empty again
        for n in range(10):
            await send(data, account, T0 + 3 * HOUR + n, limit=10)

    run(tmp_path, body)


def test_a_refused_call_charges_nothing_and_zero_is_no_limit(tmp_path):
    class Boom(Exception):
        pass

    async def body(data, account):
        with pytest.raises(Boom):
            async with data.transaction(account) as tx:
                await charge(tx, T0, limit=2, messages=2)
                raise Boom  # the submission failed after charging: the charge is undone
        await send(data, account, T0 + 1, limit=2, messages=2)
        with pytest.raises(RateLimited):
            await send(data, account, T0 + 2, limit=2)
        for n in range(50):
            await send(data, account, T0 + 3 + n, limit=0)

    run(tmp_path, body)


def test_retry_after_names_when_the_next_message_fits(tmp_path):
    async def body(data, account):
        await send(data, account, T0, limit=1)
        with pytest.raises(RateLimited) as refused:
            await send(data, account, T0 + 10, limit=1)
        wait = refused.value.retry_after
        with pytest.raises(RateLimited):
            await send(data, account, T0 + 10 + wait - 120, limit=1)
        await send(data, account, T0 + 10 + wait, limit=1)

    run(tmp_path, body)
