"""The sandbox's 3-D Secure issuer: its directory server and a simulated ACS page.

``SandboxAcs`` answers for the sandbox test cards (router/channels/sandbox.py,
``enrollment``) and serves, on paycore's callbacks HTTP port, the access
control server's challenge page: a real web page where a person presses
"Complete" or "Fail". Its form posts back here; the ACS then signs its result
(HMAC-SHA256 under ``secret``, the scheme of router/signing.py) and hands it
to the customer's browser in a form that posts itself to paycore's completion
endpoint (core/callbacks/challenge_completion.py), as a real ACS posts its
result to the requestor's notification URL.

- ``GET /acs/challenge/{payment_id}``: the challenge page;
- ``POST /acs/challenge/{payment_id}`` (``decision=complete|fail``): the signed
  result, auto-submitted to ``POST /3ds/complete``.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable

from aiohttp import web

from core.domain import ids
from core.domain.authentication import (
    Authentication,
    AuthenticationFlow,
    AuthenticationStatus,
    Enrollment,
    challenge_result,
)
from core.domain.commands import CardInput
from router.channels.sandbox import enrollment
from router.pages import html_page, posted_form
from router.signing import sign

COMPLETION_PATH = "/3ds/complete"
_REFUSES = "refuses"
"""The page's query flag for a card whose ACS refuses every challenge."""


def result_body(payment_id: str, result: Authentication) -> bytes:
    """The signed text of an ACS result (what the completion endpoint decodes)."""
    return json.dumps(
        {
            "payment_id": payment_id,
            "status": result.status.value,
            "eci": result.eci,
            "liability_shift": result.liability_shift,
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()


def result_from_body(body: bytes) -> tuple[str, Authentication]:
    """The payment id and result of a verified ACS result; ValueError when malformed."""
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("an ACS result is a JSON object")
    payment_id = data["payment_id"]
    if not isinstance(payment_id, str) or not ids.is_valid(ids.PAYMENT, payment_id):
        raise ValueError("an ACS result names a payment by its id")
    status = AuthenticationStatus(data["status"])
    if status not in (AuthenticationStatus.SUCCEEDED, AuthenticationStatus.FAILED):
        raise ValueError(f"a challenge does not end {status.value}")
    return payment_id, Authentication(
        AuthenticationFlow.CHALLENGE, status, str(data["eci"]), bool(data["liability_shift"])
    )


class SandboxAcs:
    """The sandbox directory server (``core.ports.three_ds.DirectoryServer``) and ACS page."""

    def __init__(self, *, secret: bytes, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self._clock = clock
        self._base_url = ""

    async def enrollment(self, card: CardInput) -> Enrollment:
        """The sandbox table's answer for ``card``."""
        return enrollment(card.number)

    def challenge_url(self, payment_id: str, enrollment: Enrollment) -> str:
        """This process's challenge page for ``payment_id`` ("" when the page is not served:
        the callbacks HTTP port is off)."""
        if not self._base_url:
            return ""
        url = f"{self._base_url}/acs/challenge/{payment_id}"
        return f"{url}?card={_REFUSES}" if enrollment is Enrollment.CHALLENGE_FAILS else url

    def install(self, app: web.Application) -> None:
        """Add the challenge page's routes to ``app``."""
        app.router.add_get("/acs/challenge/{payment_id}", self._page)
        app.router.add_post("/acs/challenge/{payment_id}", self._decide)

    def announce(self, host: str, port: int) -> None:
        """Where the page is served: the challenge urls given to customers from now on."""
        reachable = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
        self._base_url = f"http://{reachable}:{port}"

    async def _page(self, request: web.Request) -> web.Response:
        if not ids.is_valid(ids.PAYMENT, request.match_info["payment_id"]):
            return _no_such_payment()
        payment_id = request.match_info["payment_id"]  # an id: nothing to escape
        query = html.escape(request.query_string)
        action = f"/acs/challenge/{payment_id}" + (f"?{query}" if query else "")
        return html_page(
            "Verify your payment",
            f"""<p>Your bank asks you to confirm payment <code>{payment_id}</code>.</p>
<form method="post" action="{action}">
  <button type="submit" name="decision" value="complete" id="complete">Complete</button>
  <button type="submit" name="decision" value="fail" id="fail">Fail</button>
</form>""",
        )

    async def _decide(self, request: web.Request) -> web.Response:
        payment_id = request.match_info["payment_id"]
        if not ids.is_valid(ids.PAYMENT, payment_id):
            return _no_such_payment()
        form = await posted_form(request)
        decision = form.get("decision")
        if decision not in ("complete", "fail"):
            return web.Response(status=400, text="decision must be complete or fail")
        refuses = request.query.get("card") == _REFUSES
        result = challenge_result(completed=decision == "complete" and not refuses)
        body = result_body(payment_id, result)
        signature = sign(self._secret, body, int(self._clock()))
        return html_page(
            "Returning to the merchant",
            f"""<form method="post" action="{COMPLETION_PATH}" id="result">
  <input type="hidden" name="result" value="{html.escape(body.decode())}">
  <input type="hidden" name="signature" value="{html.escape(signature)}">
  <noscript><button type="submit">Continue</button></noscript>
</form>
<script>document.getElementById("result").submit();</script>""",
        )


def _no_such_payment() -> web.Response:
    # The sandbox ACS knows no challenges; a path that is not a payment id is no challenge.
    return html_page("Unknown payment", "<p>No payment has that id.</p>", status=404)
