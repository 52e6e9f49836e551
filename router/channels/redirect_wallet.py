"""The wallet channels (sandbox): the customer approves the payment on the wallet's page.

``redirect_wallet`` sends the customer's browser to the page and back to the
merchant's return url; ``qr_wallet`` (merchant-presented QR code) has the
merchant show the page's url as a QR code, which the customer scans and
"pays" on their phone: the same page, the same settlement.

Authorization opens a session at the simulated wallet (router/channels/wallet_book.py)
and answers PENDING with the wallet's page: the payment waits in
REQUIRES_ACTION while the customer approves or declines there (or lets it
expire), and the wallet's HMAC-signed notification to ``/callbacks/redirect_wallet``
settles it; a status query asks the wallet when no notification came.
Refunds go back through the wallet. The pages (served on paycore's callbacks
HTTP port, beside the notification ingress):

- ``GET /<channel>/{reference}``: the payment, with Approve and Decline buttons;
- ``POST /<channel>/{reference}`` (``decision=approve|decline``): the decision,
  then a redirect (303) to the merchant's return url (a scanned page shows the
  result instead).
"""

from __future__ import annotations

import html
import secrets
import time
from collections.abc import Callable, Mapping

from aiohttp import web

from core.domain.attempt import Attempt, AttemptOutcome, ChannelResult
from core.domain.commands import CardInput
from core.domain.payment import Failure
from router.channel import Notification
from router.channels.acquirer_wire import signed_notification
from router.channels.simulated import NOT_FOUND
from router.channels.wallet_book import WalletBook, WalletSession
from router.pages import html_page, posted_form
from router.routing import ChannelProfile
from router.signing import verify

REDIRECT_WALLET_PROFILE = ChannelProfile(
    name="redirect_wallet",
    methods=frozenset({"redirect_wallet"}),
    currencies=frozenset({"EUR", "GBP", "USD"}),
    fee_bps=150,
)

QR_WALLET_PROFILE = ChannelProfile(
    name="qr_wallet",
    methods=frozenset({"qr_wallet"}),
    currencies=frozenset({"EUR", "GBP", "USD"}),
    fee_bps=100,
)

_UNAVAILABLE = ChannelResult(
    AttemptOutcome.FAILED,
    failure=Failure("wallet_unavailable", "The wallet's page cannot be shown to the customer."),
    not_processed=True,
)


class RedirectWalletChannel:
    """Channel adapter of the simulated wallet, and the wallet's pages."""

    def __init__(
        self,
        wallet: WalletBook,
        *,
        profile: ChannelProfile = REDIRECT_WALLET_PROFILE,
        redirects: bool = True,
        tolerance_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = profile.name
        self.profile = profile
        self.redirects = redirects
        """True: the customer's browser is sent to the page and back to the return url;
        False: the merchant shows the page as a QR code, scanned with the customer's phone."""
        self.wallet = wallet
        """The wallet behind the channel (tests read its sessions and refunds)."""
        self._tolerance_s = tolerance_s
        self._clock = clock

    async def authorize(self, attempt: Attempt, card: CardInput | None) -> ChannelResult:
        """Open the wallet session: PENDING with the page the customer decides on."""
        if not self.wallet.page_url or (self.redirects and not attempt.return_url):
            # Nowhere to send the customer (callbacks port off, or no way back).
            return _UNAVAILABLE
        return self.wallet.open(attempt).answer

    async def capture(self, attempt: Attempt) -> ChannelResult:
        """Take the money of an approved session (manual capture)."""
        return self._approved(attempt, "wc")

    async def void(self, attempt: Attempt) -> ChannelResult:
        """Release an approved, uncaptured session."""
        return self._approved(attempt, "wv")

    async def refund(self, attempt: Attempt) -> ChannelResult:
        """The wallet gives ``attempt.amount`` back to the customer (idempotent by attempt id)."""
        result = self._approved(attempt, "wr")
        if result.outcome is AttemptOutcome.SUCCEEDED:
            self.wallet.refunds[attempt.id] = attempt.amount
        return result

    async def query(self, attempt: Attempt) -> ChannelResult:
        """The session's answer now (PENDING while the customer may still decide)."""
        reference = self.wallet.by_attempt.get(attempt.id)
        return NOT_FOUND if reference is None else self.wallet.sessions[reference].answer

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> Notification:
        """Verify the wallet's HMAC signature (and its age) and decode the notification."""
        verify(self.wallet.secret, headers, body, self._clock(), self._tolerance_s)
        return signed_notification(body)

    def set_notify_url(self, url: str) -> None:
        """Where the wallet posts its notifications, unless it was given a URL already."""
        if not self.wallet.notify_url:
            self.wallet.notify_url = url

    def install_pages(self, app: web.Application) -> None:
        """Add the wallet's pages to ``app`` (paycore's callbacks HTTP port)."""
        app.router.add_get(f"/{self.name}/{{reference}}", self._page)
        app.router.add_post(f"/{self.name}/{{reference}}", self._decide)

    def set_page_url(self, base_url: str) -> None:
        """Where the pages are served: the pages given to customers from now on."""
        self.wallet.page_url = f"{base_url}/{self.name}"

    async def close(self) -> None:
        """Stop the wallet's expiries and notifications (the router closes its channels)."""
        await self.wallet.close()

    def _approved(self, attempt: Attempt, prefix: str) -> ChannelResult:
        session = self.wallet.sessions.get(attempt.channel_reference)
        if session is None or session.answer.outcome is not AttemptOutcome.SUCCEEDED:
            return NOT_FOUND
        return ChannelResult(
            AttemptOutcome.SUCCEEDED, reference=f"{prefix}_{attempt.id.removeprefix('att_')}"
        )

    async def _page(self, request: web.Request) -> web.Response:
        session = self.wallet.sessions.get(request.match_info["reference"])
        if session is None:
            return _unknown()
        if not session.pending:
            return _ended(session)
        amount = f"{session.amount.amount / 100:.2f} {session.amount.currency}"
        action = f"/{self.name}/{html.escape(session.reference)}"
        return html_page(
            "Sandbox wallet",
            f"""<p>Pay <strong id="amount">{html.escape(amount)}</strong> with your wallet?</p>
<form method="post" action="{action}">
  <button type="submit" name="decision" value="approve" id="approve">Approve</button>
  <button type="submit" name="decision" value="decline" id="decline">Decline</button>
</form>""",
        )

    async def _decide(self, request: web.Request) -> web.StreamResponse:
        decision = (await posted_form(request)).get("decision")
        if decision not in ("approve", "decline"):
            return web.Response(status=400, text="decision must be approve or decline")
        session = self.wallet.decide(request.match_info["reference"], approve=decision == "approve")
        if session is None:
            return _unknown()
        if session.answer.outcome is AttemptOutcome.FAILED or not session.return_url:
            # Expired before the customer decided: they stay on the wallet. Or scanned
            # from a QR code: the phone has no merchant page to go back to.
            return _ended(session)
        raise web.HTTPSeeOther(session.return_url)


def _unknown() -> web.Response:
    return html_page("Unknown payment", "<p>The wallet has no such payment.</p>", status=404)


def _ended(session: WalletSession) -> web.Response:
    outcome = session.answer.outcome.value
    return html_page(
        "Payment closed",
        f'<p id="outcome">This payment is closed at the wallet: {html.escape(outcome)}.</p>',
        status=410 if session.answer.outcome is AttemptOutcome.FAILED else 200,
    )


def simulated_wallet_channels(*, expiry_s: float = 900.0) -> list[RedirectWalletChannel]:
    """The built-in wallets (``redirect_wallet``, ``qr_wallet``), each with a secret of its own.

    Their page urls and ``notify_url`` are set by the server once the callbacks
    port listens (a wallet notifies this process's own ingress).
    """
    return [
        RedirectWalletChannel(WalletBook(secrets.token_bytes(32), expiry_s=expiry_s)),
        RedirectWalletChannel(
            WalletBook(secrets.token_bytes(32), expiry_s=expiry_s),
            profile=QR_WALLET_PROFILE,
            redirects=False,
        ),
    ]
