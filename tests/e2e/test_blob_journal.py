"""The server journals every blob it writes (uploads, deliveries) for the orphan sweep."""

from __future__ import annotations

import sqlite3

import pytest

from tests.mail.conftest import upload
from tests.mongo.servers import BACKEND_ENV


def test_uploads_are_journalled(server, alice):
    if server.process_env().get(BACKEND_ENV, "sqlite") != "sqlite":
        pytest.skip("reads the SQLite journal table (the MongoDB one: tests/store)")
    blob_id = upload(alice, b"journal me", "application/octet-stream")
    db = sqlite3.connect(f"file:{server.data_dir / 'fulmar.db'}?mode=ro", uri=True, timeout=30)
    try:
        rows = db.execute("SELECT at FROM blob_writes WHERE blob_id = ?", (blob_id,)).fetchall()
    finally:
        db.close()
    assert len(rows) == 1
