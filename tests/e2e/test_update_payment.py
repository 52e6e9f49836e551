"""UpdatePayment over the wire: what may change, in which state, and how a mask narrows it."""

from __future__ import annotations

from datetime import UTC

import pytest

from tests.support.api import Api
from tests.support.expect import FAILED_PRECONDITION, expect_error, same_payment
from tests.support.requests import S, manual_confirmation, usd


@pytest.mark.parametrize(
    "state",
    [
        S.STATE_REQUIRES_CONFIRMATION,
        S.STATE_AUTHORIZED,
        S.STATE_CAPTURED,
        S.STATE_PARTIALLY_REFUNDED,
        S.STATE_REFUNDED,
        S.STATE_CANCELED,
        S.STATE_DECLINED,
        S.STATE_FAILED,
    ],
    ids=S.State.Name,
)
async def test_description_and_metadata_can_change_in_any_state(api: Api, state: int) -> None:
    payment = await api.in_state(state)

    updated = await api.update(payment.id, description="new text", metadata={"a": "1"})

    assert updated.description == "new text"
    assert dict(updated.metadata) == {"a": "1"}
    assert updated.state == state
    assert updated.amount == payment.amount
    assert updated.create_time == payment.create_time
    assert updated.update_time.ToDatetime(tzinfo=UTC) >= payment.update_time.ToDatetime(tzinfo=UTC)
    assert (await api.get(payment.id)).description == "new text"


async def test_metadata_update_replaces_the_whole_map(api: Api) -> None:
    payment = await api.create(metadata={"keep": "no", "old": "x"})

    updated = await api.update(payment.id, metadata={"new": "y"})

    assert dict(updated.metadata) == {"new": "y"}


async def test_update_mask_changes_only_the_named_fields(api: Api) -> None:
    payment = await api.create(description="before", metadata={"k": "v"})

    updated = await api.update(
        payment.id,
        description="",
        metadata={"ignored": "x"},
        update_mask={"paths": ["description"]},
    )

    assert updated.description == ""
    assert dict(updated.metadata) == {"k": "v"}


async def test_update_mask_can_clear_metadata(api: Api) -> None:
    payment = await api.create(metadata={"k": "v"})

    updated = await api.update(payment.id, update_mask={"paths": ["metadata"]})

    assert dict(updated.metadata) == {}


async def test_amount_can_change_while_requiring_confirmation(api: Api) -> None:
    payment = await api.create(**manual_confirmation(amount=usd(10)))

    updated = await api.update(payment.id, amount=usd(12, 34))
    confirmed = await api.confirm(payment.id)

    assert updated.amount == usd(12, 34)
    assert updated.state == S.STATE_REQUIRES_CONFIRMATION
    assert confirmed.amount_captured == usd(12, 34)


@pytest.mark.parametrize(
    "state",
    [S.STATE_AUTHORIZED, S.STATE_CAPTURED, S.STATE_CANCELED, S.STATE_DECLINED],
    ids=S.State.Name,
)
async def test_amount_cannot_change_after_confirmation(api: Api, state: int) -> None:
    payment = await api.in_state(state)

    await expect_error(
        api.update(payment.id, amount=usd(20), description="also this"),
        FAILED_PRECONDITION,
        "AMOUNT_NOT_UPDATABLE",
    )

    same_payment(payment, await api.get(payment.id))
