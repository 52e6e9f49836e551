"""``POST /3ds/complete``: a 3-D Secure challenge's signed result, from the customer's browser.

The access control server (core/callbacks/acs.py) hands its signed result to
the browser, which posts it here as a form (``result``: the JSON it signed,
``signature``: ``t=<unix seconds>,v1=<hex HMAC>`` as in router/signing.py).
Answers:

- 403: missing, wrong or stale signature (nothing changes);
- 400: a well-signed but malformed result;
- 404: no challenge for that payment;
- 409: the challenge had ended otherwise (expired, canceled, another result
  first): nothing changes;
- 503: not applied now (rate limited, or the same result still being
  applied after a while): the page may be submitted again;
- 303 to the payment's return url: applied, or the same result again
  (idempotent: core/service/payments/challenges.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from aiohttp import web

from core.callbacks.acs import COMPLETION_PATH, result_from_body
from core.service.payments.challenges import ChallengeCompletion, Completion
from router.channel import BadSignature
from router.pages import posted_form
from router.signing import SIGNATURE_HEADER, verify

log = logging.getLogger(__name__)


class ChallengeCompletionIngress:
    """The completion endpoint (mounted on the callbacks endpoint by the server)."""

    def __init__(
        self,
        *,
        completion: ChallengeCompletion,
        secret: bytes,
        tolerance_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._completion = completion
        self._secret = secret
        self._tolerance_s = tolerance_s
        self._clock = clock

    def install(self, app: web.Application) -> None:
        """Add ``POST /3ds/complete`` to ``app``."""
        app.router.add_post(COMPLETION_PATH, self._handle)

    def announce(self, host: str, port: int) -> None:
        """Nothing to tell: the ACS page posts to a path on the same port."""

    async def _handle(self, request: web.Request) -> web.Response:
        form = await posted_form(request)
        body, signature = form.get("result"), form.get("signature")
        if not isinstance(body, str) or not isinstance(signature, str):
            return web.Response(status=403, text="unsigned result")
        raw = body.encode()
        try:
            verify(
                self._secret, {SIGNATURE_HEADER: signature}, raw, self._clock(), self._tolerance_s
            )
        except BadSignature as exc:
            log.warning("3-D Secure result refused: peer=%s reason=%s", request.remote, exc)
            return web.Response(status=403, text="bad signature")
        try:
            payment_id, result = result_from_body(raw)
        except (ValueError, KeyError, TypeError):
            return web.Response(status=400, text="malformed result")
        outcome = await self._completion.complete(payment_id, result)
        if outcome is Completion.UNKNOWN:
            return web.Response(status=404, text="unknown challenge")
        if outcome is Completion.BUSY:
            return web.Response(status=503, text="Please try again in a moment.")
        if outcome is Completion.CLOSED:
            return web.Response(
                status=409,
                text="This authentication has ended; the payment was not changed.",
            )
        return_url = await self._completion.return_url(payment_id)
        assert return_url is not None  # the challenge exists: complete found it
        raise web.HTTPSeeOther(return_url)
