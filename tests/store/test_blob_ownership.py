"""Uploads, blob references and visibility (the blob bookkeeping of the data role)."""

from __future__ import annotations

from jmap.store.base import DataStore

X = "G" + "a" * 64
Y = "G" + "b" * 64
Z = "G" + "c" * 64
NOW = 1_700_000_000.0


async def two_accounts(data: DataStore) -> tuple[str, str]:
    a = await data.create_principal("alice@example.com", "h", "a")
    b = await data.create_principal("bob@example.com", "h", "b")
    return a.id, b.id


def test_upload_visibility_and_expiry(run_data):
    async def body(data: DataStore):
        alice, bob = await two_accounts(data)
        await data.add_upload(alice, X, 5, NOW + 100)
        assert await data.blob_visible(alice, X, NOW)
        assert await data.blob_visible(alice, X, NOW + 99)
        assert not await data.blob_visible(alice, X, NOW + 100)
        assert not await data.blob_visible(bob, X, NOW), "uploads are per account"
        assert not await data.blob_visible(alice, Y, NOW)
        # uploading the same blob again never shortens its life
        await data.add_upload(alice, X, 5, NOW + 500)
        await data.add_upload(alice, X, 5, NOW + 50)
        assert await data.blob_visible(alice, X, NOW + 400)

    run_data(body)


def test_expired_uploads_returns_only_unheld_blobs(run_data):
    async def body(data: DataStore):
        alice, bob = await two_accounts(data)
        await data.add_upload(alice, X, 1, NOW + 10)  # expires, nothing else holds it
        await data.add_upload(alice, Y, 1, NOW + 10)  # expires, bob's upload lives on
        await data.add_upload(bob, Y, 1, NOW + 1000)
        await data.add_upload(alice, Z, 1, NOW + 10)  # expires, an object holds it
        async with data.transaction(bob) as tx:
            await tx.create("Email", {"id": "e1"})
            await tx.add_blob_refs([(Z, "e1")])
        assert await data.expired_uploads(NOW) == []
        assert await data.expired_uploads(NOW + 20) == [X]
        # the records are gone: asking again finds nothing
        assert await data.expired_uploads(NOW + 20) == []
        assert not await data.blob_visible(alice, X, NOW)
        assert not await data.blob_visible(alice, Y, NOW)
        assert await data.blob_visible(bob, Y, NOW + 20)
        assert await data.blob_visible(bob, Z, NOW + 20)
        assert sorted(await data.expired_uploads(NOW + 2000)) == [Y]

    run_data(body)


def test_blob_refs_keep_a_blob_visible(run_data):
    async def body(data: DataStore):
        alice, bob = await two_accounts(data)
        await data.add_upload(alice, X, 1, NOW + 10)
        async with data.transaction(alice) as tx:
            await tx.create("Email", {"id": "e1"})
            await tx.add_blob_refs([(X, "e1"), (Y, "e1")])
        async with data.transaction(alice) as tx:
            await tx.create("Email", {"id": "e2"})
            await tx.add_blob_refs([(X, "e2")])
        far = NOW + 10_000
        assert await data.blob_visible(alice, X, far)
        assert await data.blob_visible(alice, Y, far)
        assert not await data.blob_visible(bob, X, NOW), "refs are per account"
        assert await data.expired_uploads(far) == []
        async with data.transaction(alice) as tx:
            await tx.remove_blob_refs("e1")
        assert not await data.blob_visible(alice, Y, far)
        assert await data.blob_visible(alice, X, far), "e2 still holds it"
        async with data.transaction(alice) as tx:
            await tx.remove_blob_refs("e2")
        assert not await data.blob_visible(alice, X, far)

    run_data(body)


def test_blob_refs_follow_the_order_of_operations(run_data):
    async def body(data: DataStore):
        alice, _ = await two_accounts(data)
        # added then removed in one transaction (created and destroyed in one /set)
        async with data.transaction(alice) as tx:
            await tx.add_blob_refs([(X, "e1")])
            await tx.remove_blob_refs("e1")
        assert not await data.blob_visible(alice, X, NOW)
        # removed then added again under the same ref (an object replacing its blob)
        async with data.transaction(alice) as tx:
            await tx.add_blob_refs([(Y, "e2")])
        async with data.transaction(alice) as tx:
            await tx.remove_blob_refs("e2")
            await tx.add_blob_refs([(Z, "e2")])
        assert not await data.blob_visible(alice, Y, NOW)
        assert await data.blob_visible(alice, Z, NOW)

    run_data(body)


def test_blobs_held(run_data):
    async def body(data: DataStore):
        alice, bob = await two_accounts(data)
        await data.add_upload(alice, X, 1, NOW + 10)
        async with data.transaction(bob) as tx:
            await tx.create("Email", {"id": "e1"})
            await tx.add_blob_refs([(Y, "e1")])
        assert await data.blobs_held([X, Y, Z]) == {X, Y}
        assert await data.blobs_held([]) == set()
        async with data.transaction(bob) as tx:
            await tx.destroy("Email", "e1")
            await tx.remove_blob_refs("e1")
        assert await data.blobs_held([X, Y, Z]) == {X}

    run_data(body)
