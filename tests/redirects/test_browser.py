"""The sandbox wallets' pages in a real browser: headless chromium driven by Playwright.

Redirect wallet: the customer follows the payment's ``next_action`` to the
wallet's page, approves or declines there (or leaves it until it expires) and
lands on the merchant's return page. QR wallet: the merchant's checkout shows
the QR code's image, the customer's phone opens what it encodes ("scan and
pay") and decides there. Either way the wallet's signed notification settles
the payment. Against real PostgreSQL and Redis.
"""

from __future__ import annotations

import base64

import pytest
from playwright.async_api import Browser, Page

from paycore.v1 import payment_pb2 as pb
from tests.support.customer_pages import needs_chromium

from .conftest import WalletServer, WalletStack

pytestmark = needs_chromium

S = pb.Payment


async def open_wallet(browser: Browser, payment: pb.Payment) -> Page:
    """The customer's browser on the wallet page the payment redirects to."""
    page = await browser.new_page()
    await page.goto(payment.next_action.redirect_to_url.url)
    assert await page.title() == "Sandbox wallet"
    assert await page.text_content("#amount") == "10.00 USD"
    return page


async def test_a_customer_approves_in_the_wallet_in_the_browser(
    stack: WalletStack, browser: Browser
) -> None:
    payment = await stack.pay()
    page = await open_wallet(browser, payment)

    async with page.expect_navigation(url=stack.return_url):
        await page.click("#approve")

    assert "Thank you" in await page.content()
    done = await stack.settled(payment.id)
    assert done.state == S.STATE_CAPTURED
    assert done.amount_captured == payment.amount


async def test_a_customer_declines_in_the_wallet_in_the_browser(
    stack: WalletStack, browser: Browser
) -> None:
    payment = await stack.pay()
    page = await open_wallet(browser, payment)

    async with page.expect_navigation(url=stack.return_url):
        await page.click("#decline")

    done = await stack.settled(payment.id)
    assert done.state == S.STATE_DECLINED
    assert done.failure.code == "wallet_declined"


async def test_a_customer_who_abandons_the_wallet_finds_the_payment_closed(
    wallet_server: WalletServer, browser: Browser
) -> None:
    async with wallet_server(expiry_s=3.0) as stack:
        payment = await stack.pay()
        page = await open_wallet(browser, payment)

        done = await stack.settled(payment.id)  # the wallet reports the abandonment
        assert done.state == S.STATE_CANCELED
        assert done.failure.code == "customer_abandoned"
        # Coming back to the page too late: the wallet says so, no way back to a payment.
        async with page.expect_response(lambda r: r.request.method == "POST") as answer:
            await page.click("#approve")

        assert (await answer.value).status == 410
        assert "closed" in (await page.text_content("#outcome") or "")
        assert page.url != stack.return_url
        assert (await stack.served.api.get(payment.id)).state == S.STATE_CANCELED


# --- QR wallet: the merchant shows the code, the customer's phone scans it ---------


async def show_and_scan(browser: Browser, payment: pb.Payment) -> Page:
    """The merchant's checkout shows the QR code; the customer's phone opens what it encodes."""
    code = payment.next_action.display_qr_code
    checkout = await browser.new_page()
    image = base64.b64encode(code.image_png).decode()
    await checkout.set_content(f'<img id="qr" src="data:image/png;base64,{image}">')
    width = await checkout.eval_on_selector("#qr", "img => img.naturalWidth")
    assert width > 0  # a PNG the browser can show
    phone = await browser.new_page()
    await phone.goto(code.payload)
    assert await phone.title() == "Sandbox wallet"
    return phone


SCANNED_DECISIONS = {
    "#approve": ("succeeded", S.STATE_CAPTURED, ""),
    "#decline": ("declined", S.STATE_DECLINED, "wallet_declined"),
}


@pytest.mark.parametrize("button", SCANNED_DECISIONS)
async def test_a_customer_scans_the_qr_code_and_decides_in_the_browser(
    stack: WalletStack, browser: Browser, button: str
) -> None:
    outcome, state, failure = SCANNED_DECISIONS[button]
    qr = stack.qr()
    payment = await qr.pay()
    phone = await show_and_scan(browser, payment)

    async with phone.expect_navigation():
        await phone.click(button)

    # The phone stays on the wallet, which shows the outcome (no merchant page to go back to).
    assert outcome in (await phone.text_content("#outcome") or "")
    done = await qr.settled(payment.id)
    assert done.state == state
    assert done.failure.code == failure


async def test_a_qr_code_scanned_but_left_expires_in_the_browser(
    wallet_server: WalletServer, browser: Browser
) -> None:
    async with wallet_server(expiry_s=3.0) as stack:
        qr = stack.qr()
        payment = await qr.pay()
        phone = await show_and_scan(browser, payment)

        done = await qr.settled(payment.id)
        assert done.state == S.STATE_CANCELED
        assert done.failure.code == "customer_abandoned"
        async with phone.expect_response(lambda r: r.request.method == "POST") as answer:
            await phone.click("#approve")

        assert (await answer.value).status == 410
        assert (await stack.served.api.get(payment.id)).state == S.STATE_CANCELED
