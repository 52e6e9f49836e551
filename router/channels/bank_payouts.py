"""The bank channel's payout side: withdrawals sent to a bank account, answered asynchronously.

The mirror image of a bank-transfer payment (router/channels/bank_transfer.py):
paycore submits a payout and the bank answers "pending" at once; later the
bank posts an RSA-signed notification (``X-Signature: t=<unix>,rsa=<base64>``,
router/signing.py) to ``POST /callbacks/bank_transfer/payouts`` saying the
money left (``paid``) or the payout was refused (``refused``). A status
query (``query``) asks the same question when no notification came, and
answers ``unknown`` for a payout the bank never received.

``SimulatedPayoutDesk`` plays the bank (in process), like ``SimulatedBank``
does for incoming transfers. It registers each payout once per payout id
(idempotent: paycore may submit again after a crash), settles it after
``settle_after_s`` and notifies. Outcome by amount:

================  ==========================================
amount ends in    the bank reports
================  ==========================================
...99 (minor)     refused: ``payout_refused``
anything else     paid (the money left)
================  ==========================================
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from core.domain.money import Money
from router.channels.acquirer_wire import UNREADABLE, signed_object
from router.channels.bank_desk import BankBook
from router.signing import verify_rsa

PAYOUTS_PATH = "/callbacks/bank_transfer/payouts"
"""Where the bank posts payout notifications (the callbacks ingress port)."""


class PayoutStatus(enum.Enum):
    """What the bank says about a payout."""

    PENDING = "pending"
    PAID = "paid"
    REFUSED = "refused"
    UNKNOWN = "unknown"
    """The bank has no such payout (it was never received)."""

    @property
    def is_final(self) -> bool:
        """Whether the bank's answer settles the payout."""
        return self in (PayoutStatus.PAID, PayoutStatus.REFUSED)


@dataclass(frozen=True, slots=True)
class Payout:
    """Money to send to a bank account; ``id`` is the withdrawal's (the bank dedupes by it)."""

    id: str
    merchant_id: str
    amount: Money
    bank_account: str


@dataclass(frozen=True, slots=True)
class PayoutAnswer:
    """The bank's answer about one payout (a submit's, a query's or a notification's)."""

    payout_id: str
    merchant_id: str
    status: PayoutStatus
    reference: str = ""
    failure_code: str = ""
    failure_message: str = ""


def answer_to_wire(answer: PayoutAnswer) -> dict[str, Any]:
    """A notification body."""
    return {
        "payout_id": answer.payout_id,
        "merchant_id": answer.merchant_id,
        "status": answer.status.value,
        "reference": answer.reference,
        "failure_code": answer.failure_code,
        "failure_message": answer.failure_message,
    }


def answer_from_wire(body: Mapping[str, Any]) -> PayoutAnswer:
    """The answer of a (verified) notification body; ValueError/KeyError when malformed."""
    return PayoutAnswer(
        payout_id=str(body["payout_id"]),
        merchant_id=str(body["merchant_id"]),
        status=PayoutStatus(body["status"]),
        reference=str(body.get("reference", "")),
        failure_code=str(body.get("failure_code", "")),
        failure_message=str(body.get("failure_message", "")),
    )


class SimulatedPayoutDesk(BankBook[PayoutAnswer]):
    """The bank's payout desk (in process): registers payouts, settles and notifies them."""

    @property
    def payouts(self) -> dict[str, PayoutAnswer]:
        """Every payout received, by id, as the bank sees it now."""
        return self.entries

    def register(self, payout: Payout) -> PayoutAnswer:
        """Receive a payout (idempotent by id: a second submit changes nothing)."""
        reference = f"po_{payout.id.removeprefix('wd_')}"
        pending = PayoutAnswer(
            payout.id, payout.merchant_id, PayoutStatus.PENDING, reference=reference
        )

        def settled() -> PayoutAnswer:
            if payout.amount.amount % 100 == 99:
                return PayoutAnswer(
                    payout.id,
                    payout.merchant_id,
                    PayoutStatus.REFUSED,
                    reference=reference,
                    failure_code="payout_refused",
                    failure_message="The bank refused the payout.",
                )
            return PayoutAnswer(
                payout.id, payout.merchant_id, PayoutStatus.PAID, reference=reference
            )

        return self.open(
            payout.id, pending, settled, lambda a: json.dumps(answer_to_wire(a)).encode()
        )

    def query(self, payout_id: str, merchant_id: str) -> PayoutAnswer:
        """The payout as the bank sees it (UNKNOWN when never received)."""
        return self.payouts.get(
            payout_id, PayoutAnswer(payout_id, merchant_id, PayoutStatus.UNKNOWN)
        )


class BankPayoutChannel:
    """paycore's adapter of the bank's payout side: submit, query, verify notifications."""

    name = "bank_transfer"

    def __init__(
        self,
        desk: SimulatedPayoutDesk,
        public_key: RSAPublicKey,
        *,
        tolerance_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._desk = desk
        self._public_key = public_key
        self._tolerance_s = tolerance_s
        self._clock = clock

    async def submit(self, payout: Payout) -> PayoutAnswer:
        """Send the payout; the bank answers PENDING and notifies later."""
        return self._desk.register(payout)

    async def query(self, payout_id: str, merchant_id: str) -> PayoutAnswer:
        """Ask the bank where the payout is."""
        return self._desk.query(payout_id, merchant_id)

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> PayoutAnswer:
        """Verify the bank's RSA signature (and its age) and decode the notification.

        Raises router.channel.BadSignature for a missing, wrong or stale
        signature, ValueError for a verified body that is not a notification.
        """
        verify_rsa(self._public_key, headers, body, self._clock(), self._tolerance_s)
        try:
            return answer_from_wire(signed_object(body))
        except UNREADABLE as exc:
            raise ValueError(f"not a payout notification: {exc}") from None
