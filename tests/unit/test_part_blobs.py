"""Part blob ids: ``{message blobId}_{partId}[_{partId}…]``."""

from __future__ import annotations

import pytest

from jmap.part_blobs import part_blob_id, split_blob_id

ROOT = "G" + "a" * 64


def test_round_trip_and_nesting():
    assert split_blob_id(ROOT) == (ROOT, [])
    assert split_blob_id(part_blob_id(ROOT, "3")) == (ROOT, ["3"])
    assert split_blob_id(part_blob_id(part_blob_id(ROOT, "3"), "12")) == (ROOT, ["3", "12"])


@pytest.mark.parametrize(
    "value",
    [
        ROOT + "_",
        ROOT + "__1",
        ROOT + "_x",
        ROOT + "_\u00b2",
        ROOT + "_\u0661",
        "G" + "a" * 63,
        "nope_1",
        "",
    ],
)
def test_malformed_ids_are_none(value):
    assert split_blob_id(value) is None
