"""The 3-D Secure challenge page in a real browser: headless chromium driven by Playwright.

Debian's chromium (``/usr/bin/chromium``, installed by ``make test`` when it
may) clicks the simulated ACS page's buttons; its form posts, the ACS's
signed result posts itself to paycore, and the browser lands on the
merchant's return page. Against real PostgreSQL and Redis.
"""

from __future__ import annotations

from playwright.async_api import Browser, Page

from paycore.v1 import payment_pb2 as pb
from tests.support.customer_pages import needs_chromium
from tests.support.polling import eventually

from .conftest import ThreeDSServer, ThreeDSStack

pytestmark = needs_chromium

S = pb.Payment


async def open_challenge(browser: Browser, payment: pb.Payment) -> Page:
    """The customer's browser on the challenge page the payment redirects to."""
    page = await browser.new_page()
    await page.goto(payment.next_action.redirect_to_url.url)
    assert await page.title() == "Verify your payment"
    return page


async def test_a_customer_completes_the_challenge_in_the_browser(
    stack: ThreeDSStack, browser: Browser
) -> None:
    payment = await stack.challenged()
    page = await open_challenge(browser, payment)

    async with page.expect_navigation(url=stack.return_url):
        await page.click("#complete")

    assert "Thank you" in await page.content()
    done = await stack.served.api.get(payment.id)
    assert done.state == S.STATE_CAPTURED
    assert done.authentication.status == pb.Authentication.STATUS_SUCCEEDED
    assert done.authentication.liability_shift
    assert stack.acquirer.charges(payment.id) == 1


async def test_a_customer_fails_the_challenge_in_the_browser(
    stack: ThreeDSStack, browser: Browser
) -> None:
    payment = await stack.challenged()
    page = await open_challenge(browser, payment)

    async with page.expect_navigation(url=stack.return_url):
        await page.click("#fail")

    done = await stack.served.api.get(payment.id)
    assert done.state == S.STATE_DECLINED
    assert done.failure.code == "authentication_failed"
    assert stack.acquirer.charges(payment.id) == 0


async def test_a_customer_who_abandons_the_challenge_finds_it_expired(
    three_ds_server: ThreeDSServer, browser: Browser
) -> None:
    async with three_ds_server(expiry_s=1.0, sweep_s=0.1) as stack:
        payment = await stack.challenged()
        page = await open_challenge(browser, payment)

        async def canceled() -> bool:
            read = await stack.served.api.get(payment.id)
            return read.state == S.STATE_CANCELED

        await eventually(canceled, what="the abandoned challenge expired")
        # Coming back to the page too late: the completion is refused.
        async with page.expect_response(lambda r: r.url.endswith("/3ds/complete")) as answer:
            await page.click("#complete")
        response = await answer.value

        assert response.status == 409
        assert page.url != stack.return_url
        done = await stack.served.api.get(payment.id)
        assert done.state == S.STATE_CANCELED
        assert done.failure.code == "authentication_abandoned"
        assert stack.acquirer.charges(payment.id) == 0
