"""The Python client's mandate calls against a real paycore (PostgreSQL, Redis)."""

from __future__ import annotations

import pytest

from paycore.client import AsyncPaycoreClient, FailedPreconditionError, money
from paycore.v1 import mandate_service_pb2 as ms
from tests.mandates.conftest import Saved, scope
from tests.support.auth import Metadata
from tests.support.serving import Serving


@pytest.fixture
async def client(serving: Serving, metadata: Metadata) -> AsyncPaycoreClient:
    """The async client as the test's merchant (the sync one would block the server's loop)."""
    api_key = dict(metadata)["authorization"].removeprefix("Bearer ")
    return AsyncPaycoreClient(serving.target, api_key=api_key, channel=serving.channel)


async def test_the_client_sets_up_charges_lists_and_revokes_a_mandate(
    client: AsyncPaycoreClient, saved: Saved
) -> None:
    mandate = await client.setup_payment_method(saved.customer_id, saved.card_token, scope=scope())
    assert mandate.status == ms.Mandate.STATUS_ACTIVE

    payment = await client.create_payment(
        amount=money(1500, "USD"), mandate_id=mandate.id, off_session=True
    )
    assert payment.customer_id == saved.customer_id
    methods = [m async for m in client.iter_payment_methods(saved.customer_id, page_size=1)]
    assert [[x.id for x in m.mandates] for m in methods] == [[mandate.id]]

    revoked = await client.revoke_mandate(mandate.id)
    assert revoked.status == ms.Mandate.STATUS_REVOKED
    with pytest.raises(FailedPreconditionError):
        await client.create_payment(
            amount=money(1500, "USD"), mandate_id=mandate.id, off_session=True
        )
