"""The bank-transfer channel: asynchronous, with RSA-signed notifications.

Authorization only registers the transfer: the bank answers PENDING (with
a reference the customer pays to), and the payment stays PENDING until the
bank posts a notification that the money arrived (or that the transfer was
rejected). Notifications are signed with the bank's RSA key (router/signing.py);
paycore holds only the public key.

``SimulatedBank`` plays the bank (in process): it answers each authorization
with a reference (``bt_...``) and its collection account (``TEST_COLLECTION_ACCOUNT``),
settles the transfer after ``settle_after_s`` and posts the notification to
``notify_url`` (paycore's own ingress when started by ``paycore run`` with
``callbacks_enabled``). Being in process, it forgets its transfers on restart:
a status query about one it forgot answers "not found" and fails the payment,
as a real bank would for a transfer it never registered. Outcome by amount:

================  ==========================================
amount ends in    the bank reports
================  ==========================================
...99 (minor)     failed: ``transfer_rejected``
anything else     succeeded (the money arrived)
================  ==========================================
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Mapping

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from core.domain.attempt import Attempt, AttemptOutcome, ChannelOperation, ChannelResult
from core.domain.commands import CardInput
from core.domain.payment import BankAccount, Failure
from router.channel import Notification
from router.channels.acquirer_wire import notification_to_wire, signed_notification
from router.channels.bank_desk import BankBook
from router.channels.simulated import NOT_FOUND
from router.routing import ChannelProfile
from router.signing import verify_rsa

BANK_TRANSFER_PROFILE = ChannelProfile(
    name="bank_transfer",
    methods=frozenset({"bank_transfer"}),
    currencies=frozenset({"EUR", "GBP", "USD"}),
    fee_fixed_minor=25,
)

TEST_COLLECTION_ACCOUNT = BankAccount(
    iban="DE89370400440532013000", bic="COBADEFFXXX", holder="paycore test collections"
)
"""Where customers of the simulated bank send their transfers (a well-known test IBAN)."""


class SimulatedBank(BankBook[ChannelResult]):
    """The bank behind the channel: registers transfers and notifies their settlement."""

    @property
    def transfers(self) -> dict[str, ChannelResult]:
        """Every registered transfer by attempt id, as the bank sees it now."""
        return self.entries

    def register(self, attempt: Attempt) -> ChannelResult:
        """Register a transfer (idempotent by attempt id); it settles later."""
        reference = f"bt_{attempt.id.removeprefix('att_')}"
        pending = ChannelResult(
            AttemptOutcome.PENDING, reference=reference, pay_to=TEST_COLLECTION_ACCOUNT
        )

        def settled() -> ChannelResult:
            if attempt.amount.amount % 100 == 99:
                failure = Failure("transfer_rejected", "The bank rejected the transfer.")
                return ChannelResult(AttemptOutcome.FAILED, reference=reference, failure=failure)
            return ChannelResult(AttemptOutcome.SUCCEEDED, reference=reference)

        def wire(result: ChannelResult) -> bytes:
            return json.dumps(notification_to_wire(f"ev_{attempt.id}", attempt.id, result)).encode()

        return self.open(attempt.id, pending, settled, wire)


class BankTransferChannel:
    """Channel adapter of the bank: PENDING at authorization, settled by notification."""

    def __init__(
        self,
        bank: SimulatedBank,
        public_key: RSAPublicKey,
        *,
        profile: ChannelProfile = BANK_TRANSFER_PROFILE,
        tolerance_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = profile.name
        self.profile = profile
        self.bank = bank
        """The bank behind the channel (its ``notify_url`` is where notifications go)."""
        self._public_key = public_key
        self._tolerance_s = tolerance_s
        self._clock = clock

    async def authorize(self, attempt: Attempt, card: CardInput | None) -> ChannelResult:
        """Register the transfer: PENDING until the bank's notification."""
        return self.bank.register(attempt)

    async def capture(self, attempt: Attempt) -> ChannelResult:
        """Transfers are captured when they arrive: nothing to do."""
        return _unsupported(attempt.operation)

    async def void(self, attempt: Attempt) -> ChannelResult:
        """A registered transfer cannot be recalled from paycore's side."""
        return _unsupported(attempt.operation)

    async def refund(self, attempt: Attempt) -> ChannelResult:
        """The bank sends the money back."""
        return ChannelResult(
            AttemptOutcome.SUCCEEDED, reference=f"btr_{attempt.id.removeprefix('att_')}"
        )

    async def query(self, attempt: Attempt) -> ChannelResult:
        """The transfer's state at the bank (PENDING until it settles)."""
        return self.bank.transfers.get(attempt.id, NOT_FOUND)

    def set_notify_url(self, url: str) -> None:
        """Where the bank posts its notifications, unless it was given a URL already."""
        if not self.bank.notify_url:
            self.bank.notify_url = url

    async def close(self) -> None:
        """Stop the bank's pending settlements (the router closes its channels)."""
        await self.bank.close()

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> Notification:
        """Verify the bank's RSA signature (and its age) and decode the notification."""
        verify_rsa(self._public_key, headers, body, self._clock(), self._tolerance_s)
        return signed_notification(body)


@functools.cache
def process_bank_key() -> RSAPrivateKey:
    """The simulated bank's signing key (payments and payouts alike)."""
    # Made once per process (2048-bit generation is slow), never written anywhere.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def simulated_bank_channel(*, settle_after_s: float = 2.0) -> BankTransferChannel:
    """The built-in bank channel in its test mode, with a key pair of its own.

    The key pair is made per process: the bank of a process notifies that
    process's own ingress (each worker has its own callbacks port).
    ``notify_url`` is set by the server once its ingress listens.
    """
    key = process_bank_key()
    return BankTransferChannel(SimulatedBank(key, settle_after_s=settle_after_s), key.public_key())


def _unsupported(operation: ChannelOperation) -> ChannelResult:
    return ChannelResult(
        AttemptOutcome.DECLINED,
        failure=Failure("not_supported", f"Bank transfers do not support {operation.value}."),
    )
