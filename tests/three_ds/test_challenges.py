"""3-D Secure end to end, without a browser: real PostgreSQL, Redis and HTTP.

The browser drives the same page in test_browser.py; here the ACS page's
form is posted directly, and its signed result replayed, forged and sent late.
"""

from __future__ import annotations

import asyncio

from paycore.v1 import payment_pb2 as pb
from tests.support.expect import expect_invalid
from tests.support.polling import eventually
from tests.support.requests import card

from .conftest import (
    CHALLENGE,
    FRICTIONLESS,
    REFUSED_CHALLENGE,
    UNAVAILABLE,
    ThreeDSServer,
    ThreeDSStack,
    acs_result,
    post_completion,
    signed_result,
)

S = pb.Payment
A = pb.Authentication


async def test_a_frictionless_card_authorizes_at_once_with_liability_shift(
    stack: ThreeDSStack,
) -> None:
    payment = await stack.served.api.create(payment_method=card(FRICTIONLESS))

    assert payment.state == S.STATE_CAPTURED
    assert payment.authentication.flow == A.FLOW_FRICTIONLESS
    assert payment.authentication.status == A.STATUS_SUCCEEDED
    assert payment.authentication.liability_shift
    assert payment.authentication.eci == "05"
    assert not payment.HasField("next_action")
    read = await stack.served.api.get(payment.id)
    assert read.authentication == payment.authentication
    (entry,) = [e for e in stack.acquirer.ledger.values() if e.payment_id == payment.id]
    assert entry.eci == "05"


async def test_authentication_unavailable_authorizes_without_liability_shift(
    stack: ThreeDSStack,
) -> None:
    payment = await stack.served.api.create(payment_method=card(UNAVAILABLE))

    assert payment.state == S.STATE_CAPTURED
    assert payment.authentication.status == A.STATUS_UNAVAILABLE
    assert not payment.authentication.liability_shift
    assert payment.authentication.eci == "07"


async def test_a_challenge_with_no_return_url_is_declined_as_before(stack: ThreeDSStack) -> None:
    payment = await stack.served.api.create(payment_method=card(CHALLENGE))

    assert payment.state == S.STATE_DECLINED
    assert payment.failure.code == "authentication_required"
    assert payment.attempts == []


async def test_without_the_http_port_there_is_no_challenge_page_and_the_card_is_declined(
    three_ds_server: ThreeDSServer,
) -> None:
    async with three_ds_server(callbacks=False) as stack:
        payment = await stack.served.api.create(
            payment_method=card(CHALLENGE), return_url=stack.return_url
        )

        assert payment.state == S.STATE_DECLINED
        assert payment.failure.code == "authentication_required"


async def test_a_challenge_waits_for_the_customer_with_a_redirect(stack: ThreeDSStack) -> None:
    payment = await stack.challenged()

    redirect = payment.next_action.redirect_to_url
    assert redirect.url.startswith(f"{stack.served.callbacks_url}/acs/challenge/{payment.id}")
    assert redirect.return_url == stack.return_url
    assert payment.next_action.HasField("expire_time")
    assert payment.authentication.status == A.STATUS_CHALLENGE_PENDING
    assert payment.attempts == []  # nothing sent, nothing held
    assert (await stack.served.api.get(payment.id)).next_action == payment.next_action
    waiting = await stack.served.api.list(states=[S.STATE_REQUIRES_ACTION])
    assert [p.id for p in waiting.payments] == [payment.id]


async def test_a_completed_challenge_authorizes_through_the_channel_with_its_result(
    stack: ThreeDSStack,
) -> None:
    payment = await stack.challenged()
    signed = await signed_result(payment, "complete")
    reply = await post_completion(stack, signed)

    assert reply.status == 303
    assert reply.headers["Location"] == stack.return_url
    done = await stack.served.api.get(payment.id)
    assert done.state == S.STATE_CAPTURED
    assert done.authentication.flow == A.FLOW_CHALLENGE
    assert done.authentication.status == A.STATUS_SUCCEEDED
    assert done.authentication.liability_shift
    assert not done.HasField("next_action")
    # acquirer_a declines this card unless the attempt is authenticated.
    assert stack.acquirer.charges(payment.id) == 1
    (entry,) = [e for e in stack.acquirer.ledger.values() if e.payment_id == payment.id]
    assert entry.eci == "05"


async def test_a_failed_challenge_declines_the_payment(stack: ThreeDSStack) -> None:
    payment = await stack.challenged()
    signed = await signed_result(payment, "fail")
    reply = await post_completion(stack, signed)

    assert reply.status == 303  # the customer goes back to the merchant either way
    done = await stack.served.api.get(payment.id)
    assert done.state == S.STATE_DECLINED
    assert done.failure.code == "authentication_failed"
    assert done.authentication.status == A.STATUS_FAILED
    assert not done.authentication.liability_shift
    assert done.attempts == []
    assert stack.acquirer.charges(payment.id) == 0


async def test_an_acs_that_refuses_declines_even_a_completed_challenge(
    stack: ThreeDSStack,
) -> None:
    payment = await stack.challenged(REFUSED_CHALLENGE)
    signed = await signed_result(payment, "complete")
    await post_completion(stack, signed)

    done = await stack.served.api.get(payment.id)
    assert done.state == S.STATE_DECLINED
    assert done.failure.code == "authentication_failed"


async def test_a_replayed_completion_changes_nothing_and_charges_once(
    stack: ThreeDSStack,
) -> None:
    payment = await stack.challenged()
    signed = await signed_result(payment, "complete")
    first = await post_completion(stack, signed)
    after_first = await stack.served.api.get(payment.id)
    second = await post_completion(stack, signed)

    assert first.status == second.status == 303
    assert second.headers["Location"] == stack.return_url
    after_second = await stack.served.api.get(payment.id)
    assert after_second == after_first
    assert after_second.state == S.STATE_CAPTURED
    assert stack.acquirer.charges(payment.id) == 1
    assert len(after_second.attempts) == 1


async def test_a_double_submitted_completion_is_applied_once(stack: ThreeDSStack) -> None:
    payment = await stack.challenged()
    signed = await signed_result(payment, "complete")
    replies = await asyncio.gather(*(post_completion(stack, signed) for _ in range(3)))

    assert [reply.status for reply in replies] == [303, 303, 303]
    done = await stack.served.api.get(payment.id)
    assert done.state == S.STATE_CAPTURED
    assert len(done.attempts) == 1
    assert stack.acquirer.charges(payment.id) == 1


async def test_another_result_after_the_first_is_refused(stack: ThreeDSStack) -> None:
    payment = await stack.challenged()
    url = payment.next_action.redirect_to_url.url
    completed = await acs_result(url, "complete")
    failed = await acs_result(url, "fail")
    await post_completion(stack, completed)
    late = await post_completion(stack, failed)

    assert late.status == 409
    assert (await stack.served.api.get(payment.id)).state == S.STATE_CAPTURED


async def test_a_forged_signature_is_refused_and_changes_nothing(stack: ThreeDSStack) -> None:
    payment = await stack.challenged()
    signed = await signed_result(payment, "complete")
    timestamp = signed["signature"].split(",")[0]
    forged = {**signed, "signature": f"{timestamp},v1={'0' * 64}"}
    refused = await post_completion(stack, forged)
    unsigned = await post_completion(stack, {"result": signed["result"]})

    assert refused.status == 403
    assert unsigned.status == 403
    unchanged = await stack.served.api.get(payment.id)
    assert unchanged == payment
    assert stack.acquirer.charges(payment.id) == 0


async def test_an_unanswered_challenge_expires_and_a_late_completion_is_refused(
    three_ds_server: ThreeDSServer,
) -> None:
    async with three_ds_server(expiry_s=0.5, sweep_s=0.1) as stack:
        payment = await stack.challenged()
        signed = await signed_result(payment, "complete")

        async def canceled() -> pb.Payment | None:
            read = await stack.served.api.get(payment.id)
            return read if read.state == S.STATE_CANCELED else None

        expired = await eventually(canceled, what="the challenge expired")
        late = await post_completion(stack, signed)

        assert late.status == 409
        assert expired.failure.code == "authentication_abandoned"
        assert expired.authentication.status == A.STATUS_ABANDONED
        assert not expired.HasField("next_action")
        assert expired.attempts == []  # nothing was held, so nothing to release
        assert await stack.served.api.get(payment.id) == expired
        assert stack.acquirer.charges(payment.id) == 0


async def test_a_completion_past_the_deadline_cancels_even_before_the_sweep(
    three_ds_server: ThreeDSServer,
) -> None:
    async with three_ds_server(expiry_s=0.3, sweep_s=3600) as stack:
        payment = await stack.challenged()
        signed = await signed_result(payment, "complete")
        await asyncio.sleep(0.4)  # past the deadline; the sweep would wait an hour
        late = await post_completion(stack, signed)

        assert late.status == 409
        done = await stack.served.api.get(payment.id)
        assert done.state == S.STATE_CANCELED
        assert stack.acquirer.charges(payment.id) == 0


async def test_the_merchant_may_cancel_a_payment_awaiting_its_customer(
    stack: ThreeDSStack,
) -> None:
    payment = await stack.challenged()

    canceled = await stack.served.api.cancel(payment.id)

    assert canceled.state == S.STATE_CANCELED
    assert not canceled.HasField("next_action")
    assert canceled.authentication.status == A.STATUS_ABANDONED


async def test_the_state_change_is_announced_as_payment_requires_action(
    stack: ThreeDSStack,
) -> None:
    payment = await stack.challenged()
    rows = await stack.served.services.pool.fetch(
        "SELECT type FROM events WHERE resource_id = $1 ORDER BY sequence", payment.id
    )
    assert "payment.requires_action" in [row["type"] for row in rows]


async def test_a_manually_confirmed_payment_is_challenged_at_confirmation(
    stack: ThreeDSStack,
) -> None:
    api = stack.served.api
    created = await api.requires_confirmation()
    waiting = await api.confirm(created.id, CHALLENGE, return_url=stack.return_url)
    assert waiting.state == S.STATE_REQUIRES_ACTION
    signed = await signed_result(waiting, "complete")
    reply = await post_completion(stack, signed)

    assert reply.status == 303
    assert (await api.get(created.id)).state == S.STATE_CAPTURED


async def test_a_return_url_that_is_not_a_web_address_is_refused(stack: ThreeDSStack) -> None:
    api = stack.served.api
    await expect_invalid(
        api.create(payment_method=card(CHALLENGE), return_url="javascript:alert(1)"), "return_url"
    )
    assert (await api.list()).payments == []  # nothing was created
