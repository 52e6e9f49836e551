"""A card acquirer reached over HTTP (the simulator's API, router/channels/acquirer_wire.py).

How every ending of an HTTP call is classified (money safety first):

- could not connect (refused, unreachable): the request never left, so
  ChannelNotProcessed: the router may fail over;
- 200: the channel's answer;
- 503 with ``not_processed``, or 401 (our signature refused before
  processing): FAILED and not processed;
- anything else (5xx, a reset or a timeout mid-request, an unreadable body):
  raised as ``AmbiguousAnswer``, so the dispatcher records UNKNOWN, logs one
  WARNING line (an expected outcome, not a bug: no traceback) and a status
  query settles it.

A status query only trusts a 200: if the status API cannot be reached, the
attempt stays unknown (see Router.query).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import ClientConnectorError, ClientError, ClientSession, ClientTimeout

from core.domain.attempt import Attempt, AttemptOutcome, ChannelResult
from core.domain.commands import CardInput
from core.domain.disputes import DisputeNotice, Evidence
from core.domain.payment import Failure
from router.channel import AmbiguousAnswer, ChannelNotProcessed, Notification
from router.channels.acquirer_wire import (
    attempt_to_wire,
    evidence_to_wire,
    result_from_wire,
    signed_dispute_notice,
    signed_notification,
)
from router.routing import ChannelProfile
from router.signing import SIGNATURE_HEADER, sign, verify


class HttpAcquirer:
    """Channel adapter for an acquirer speaking the simulator's HTTP API."""

    def __init__(
        self,
        profile: ChannelProfile,
        base_url: str,
        secret: bytes,
        *,
        callback_tolerance_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = profile.name
        self.profile = profile
        self._base_url = base_url.rstrip("/")
        self._secret = secret
        self._tolerance_s = callback_tolerance_s
        self._clock = clock
        self._session: ClientSession | None = None

    async def close(self) -> None:
        """Close the connection pool."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _client(self) -> ClientSession:
        # Created on first use, inside the running event loop. The router
        # bounds every call with its own timeout; this one is a backstop.
        if self._session is None:
            self._session = ClientSession(timeout=ClientTimeout(total=60))
        return self._session

    async def authorize(self, attempt: Attempt, card: CardInput | None) -> ChannelResult:
        """POST /v1/authorize."""
        return await self._call("authorize", attempt_to_wire(attempt, card))

    async def capture(self, attempt: Attempt) -> ChannelResult:
        """POST /v1/capture."""
        return await self._call("capture", attempt_to_wire(attempt))

    async def void(self, attempt: Attempt) -> ChannelResult:
        """POST /v1/void."""
        return await self._call("void", attempt_to_wire(attempt))

    async def refund(self, attempt: Attempt) -> ChannelResult:
        """POST /v1/refund."""
        return await self._call("refund", attempt_to_wire(attempt))

    async def query(self, attempt: Attempt) -> ChannelResult:
        """POST /v1/query: only a 200 answer counts."""
        status, payload = await self._post("query", attempt_to_wire(attempt))
        if status != 200:
            raise AmbiguousAnswer(f"status query answered HTTP {status}")
        return result_from_wire(payload)

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> Notification:
        """Verify the HMAC signature (and its age) and decode the notification."""
        verify(self._secret, headers, body, self._clock(), self._tolerance_s)
        return signed_notification(body)

    def parse_dispute_notice(self, headers: Mapping[str, str], body: bytes) -> DisputeNotice:
        """Verify the HMAC signature (and its age) and decode a dispute notification."""
        verify(self._secret, headers, body, self._clock(), self._tolerance_s)
        return signed_dispute_notice(body)

    async def send_dispute_evidence(self, reference: str, evidence: Evidence) -> None:
        """POST /v1/dispute_evidence; anything but a 200 raises AmbiguousAnswer."""
        status, _ = await self._post("dispute_evidence", evidence_to_wire(reference, evidence))
        if status != 200:
            raise AmbiguousAnswer(f"dispute_evidence answered HTTP {status}")

    async def _call(self, operation: str, body: dict[str, Any]) -> ChannelResult:
        status, payload = await self._post(operation, body)
        if status == 200:
            return result_from_wire(payload)
        if status == 503 and payload.get("not_processed"):
            return ChannelResult(
                AttemptOutcome.FAILED,
                failure=Failure("not_processed", "The channel did not process the request."),
                not_processed=True,
            )
        if status == 401:
            return ChannelResult(
                AttemptOutcome.FAILED,
                failure=Failure("channel_auth_failed", "The channel refused our signature."),
                not_processed=True,
            )
        raise AmbiguousAnswer(f"{operation} answered HTTP {status}")

    async def _post(self, operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        data = json.dumps(body).encode()
        headers = {
            SIGNATURE_HEADER: sign(self._secret, data, int(self._clock())),
            "Content-Type": "application/json",
        }
        try:
            async with self._client().post(
                f"{self._base_url}/v1/{operation}", data=data, headers=headers
            ) as answer:
                body_bytes = await answer.read()
                status = answer.status
        except ClientConnectorError as exc:
            # The connection was never established: nothing was sent.
            raise ChannelNotProcessed(f"{self.name}: cannot connect: {exc}") from exc
        except ClientError as exc:
            # Sent, then the connection reset or closed before a full answer: the
            # acquirer may have acted. Ambiguous, never "not processed".
            raise AmbiguousAnswer(
                f"{operation}: connection lost before an answer ({type(exc).__name__}: {exc})"
            ) from exc
        try:
            # ValueError covers bytes that are not UTF-8 too (UnicodeDecodeError).
            payload = json.loads(body_bytes) if body_bytes else {}
        except ValueError:
            payload = {}
        return status, payload if isinstance(payload, dict) else {}
