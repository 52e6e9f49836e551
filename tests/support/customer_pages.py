"""The customer's side of a redirect: a real browser, and the merchant's page they come back to.

Debian's chromium (``/usr/bin/chromium``, installed by ``make test`` when it
may) driven by Playwright; tests that need it are marked ``needs_chromium``
and skip, saying why, where it is missing.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiohttp import web
from playwright.async_api import Browser, async_playwright

CHROMIUM = "/usr/bin/chromium"

needs_chromium = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"no {CHROMIUM}: run `make test` as root to install it, or `apt-get install chromium`",
)


@asynccontextmanager
async def headless_chromium() -> AsyncIterator[Browser]:
    """Headless chromium (Debian's, not a downloaded one)."""
    async with async_playwright() as driver:
        launched = await driver.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            await launched.close()


@asynccontextmanager
async def merchant_return_page() -> AsyncIterator[str]:
    """The merchant's page customers come back to (answers "Thank you"); yields its url."""

    async def thanks(request: web.Request) -> web.Response:
        return web.Response(text="Thank you", content_type="text/html")

    app = web.Application()
    app.router.add_get("/return", thanks)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/return"
    finally:
        await runner.cleanup()
