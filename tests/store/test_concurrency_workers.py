"""The worker pool (issue 8.2): a task past its budget is killed and its worker replaced,
and one user cannot hold every worker. Ordering, not timing: the long tasks sleep a minute,
far past the budget or the other task."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from jmap.workers import BudgetExceeded, WorkerPool


def run_pool(processes: int, budget: float, body):
    async def main():
        pool = WorkerPool(processes, budget)
        pool.start()
        try:
            return await body(pool)
        finally:
            await pool.close()

    return asyncio.run(main())


def test_a_task_past_the_budget_is_stopped_and_the_pool_goes_on():
    async def body(pool: WorkerPool):
        with pytest.raises(BudgetExceeded):
            await pool.run("alice", time.sleep, 60)
        # the killed worker was replaced: the pool still answers
        assert await pool.run("alice", sum, [1, 2, 3]) == 6

    run_pool(1, 0.5, body)


def test_one_user_cannot_hold_every_worker():
    async def body(pool: WorkerPool):
        order: list[str] = []

        async def alice() -> None:
            await pool.run("alice", time.sleep, 60)
            order.append("alice")

        hogs = [asyncio.create_task(alice()) for _ in range(2)]
        await asyncio.sleep(0)
        assert await pool.run("bob", os.getpid) > 0
        order.append("bob")
        for hog in hogs:
            hog.cancel()  # kills the sleeping worker
        await asyncio.gather(*hogs, return_exceptions=True)
        assert order == ["bob"]

    run_pool(2, 0, body)
