"""The Meilisearch search backend against a REAL Meilisearch, when
``FULMAR_TEST_MEILISEARCH_URL`` (and, if it needs one, ``FULMAR_TEST_MEILISEARCH_KEY``) is
set: the same contract tests as on the stand-in (``meili_contract``), each on a fresh index
that is deleted afterwards."""

from __future__ import annotations

import asyncio
import os
import secrets

import pytest

from jmap.store.meili import MeiliSearchIndex

from .meili_contract import *  # noqa: F403 (the contract tests, run here on a real Meilisearch)

URL = os.environ.get("FULMAR_TEST_MEILISEARCH_URL")
KEY = os.environ.get("FULMAR_TEST_MEILISEARCH_KEY")

pytestmark = pytest.mark.skipif(
    not URL, reason="FULMAR_TEST_MEILISEARCH_URL is not set (no real Meilisearch to test)"
)


@pytest.fixture
def meili():
    uid = f"fulmar-test-{secrets.token_hex(6)}"
    yield lambda **options: MeiliSearchIndex(URL, KEY, index_uid=uid, **options)

    async def drop() -> None:
        from meilisearch_python_sdk import AsyncClient

        async with AsyncClient(URL, KEY) as client:
            await client.index(uid).delete()

    asyncio.run(drop())
