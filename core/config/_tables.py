"""The nested tables of Settings: ``[risk]``, ``[ledger]``, ``[rate_limits]``, ``[auth]``,
``[channels]`` and ``[status_query]`` in TOML, ``PAYCORE_<TABLE>__<FIELD>`` in the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import ConfigDict, PlainValidator, TypeAdapter, with_config
from typing_extensions import TypedDict

from core.config._base import FrozenModel, OptionalText, Texts, seconds


class RiskSettings(FrozenModel):
    """Rules of the inline risk engine (grows with the risk issue)."""

    max_amount_minor: int = 1_000_000_00
    """Hard limit per payment, in minor units of any currency (default 1,000,000.00)."""
    review_amount_minor: int = 10_000_00
    """Payments above this add to the risk score (default 10,000.00)."""
    blocked_card_fingerprints: Texts = ()
    blocked_bins: Texts = ()
    blocked_customer_ids: Texts = ()
    rules_file: OptionalText = None
    """The rules file (TOML, see riskengine/README.md); unset: the shipped default rules."""
    rules_poll_interval_s: float = 2.0
    """How often the rules file's modification time is checked for a reload (0: never)."""


class LedgerSettings(FrozenModel):
    """Fees and settlement of the ledger (core/ledger, issue 6)."""

    fee_bps: int = 290
    """Default fee on a capture, in basis points of its amount (290: 2.9 %)."""
    fee_fixed_minor: int = 30
    """Default fixed fee on a capture, in minor units of its currency (30: 0.30 USD)."""
    dispute_fee_minor: int = 1500
    """Fee on a chargeback, in minor units of its currency, kept even when the merchant wins
    (1500: 15.00 USD; core/ledger/disputes.py)."""
    dispute_poll_interval_s: float = 60.0
    """How often the job looks for disputes whose evidence due date passed unanswered (and
    closes them as lost); 0: never."""
    settlement_poll_interval_s: float = 300.0
    """How often the settlement job looks for closed days with unsettled items (0: never)."""
    settlement_grace_s: float = 300.0
    """How long after its end (midnight UTC) a business day stays open: it can be settled only
    then, so that a capture stamped just before midnight has committed (0 to 21600)."""
    payout_settle_after_s: float = 2.0
    """When the (simulated) bank answers a withdrawal's payout (router/channels/bank_payouts.py)."""
    payout_query_schedule_s: str = "60,300,3600,21600,86400"
    """Seconds before each status query of a withdrawal whose bank notification has not
    come: the first after it was sent, each next after the previous query; when the last
    one still cannot tell, the withdrawal is marked for manual attention."""
    payout_poll_interval_s: float = 5.0
    """How often payout status queries look for due withdrawals (0: never)."""

    @property
    def payout_query_delays_s(self) -> tuple[float, ...]:
        """``payout_query_schedule_s`` as numbers."""
        return seconds(self.payout_query_schedule_s)


@with_config(ConfigDict(extra="forbid"))
class MerchantLimits(TypedDict, total=False):
    """One merchant's overrides of the rate limits (``[rate_limits.merchants.<id>]``)."""

    writes_per_s: float
    writes_burst: int
    reads_per_s: float
    reads_burst: int


MerchantOverrides = Annotated[
    Mapping[str, Mapping[str, float]],
    PlainValidator(TypeAdapter(dict[str, MerchantLimits]).validate_python),
]
"""Overrides per merchant id; validated as MerchantLimits, so bursts stay ints."""


class RateLimitSettings(FrozenModel):
    """Requests per second (average) and burst, per merchant and RPC class.

    ``merchants`` overrides any of the four numbers for one merchant, from the
    TOML file: ``[rate_limits.merchants.acme] writes_per_s = 500``.
    """

    writes_per_s: float = 100.0
    """Mutating RPCs (create, confirm, capture, cancel, refund, update) per second."""
    writes_burst: int = 20
    reads_per_s: float = 500.0
    """GetPayment and ListPayments per second."""
    reads_burst: int = 100
    merchants: MerchantOverrides = {}
    """Per merchant id, the numbers above that differ for it (TOML file only)."""

    def for_merchant(self, merchant_id: str) -> RateLimitSettings:
        """The limits of one merchant: the defaults with its overrides applied."""
        overrides = self.merchants.get(merchant_id)
        if not overrides:
            return self
        return self.model_copy(update={"merchants": {}, **overrides})


class AuthSettings(FrozenModel):
    """API key authentication: caching of verified keys and the guess throttle.

    The throttle counts failed authentications only and refuses failed ones
    only: a key that verifies is always accepted (core/auth/authenticator.py).
    """

    key_cache_s: float = 5.0
    """How long a process trusts a verified key without reading it again (never past its expiry).

    Revocations and rotations are broadcast to every process over Redis and
    take effect within a round trip; this is the bound only while a process's
    subscription to that broadcast is down.
    """
    lockout_failures: int = 10
    """Failed authentications from one source address (or with one key prefix) that lock it."""
    lockout_window_s: float = 60.0
    """The window in which those failures are counted."""
    lockout_s: float = 300.0
    """How long a locked source or key prefix gets RESOURCE_EXHAUSTED for its *failed* keys."""


class ChannelSettings(FrozenModel):
    """Where the built-in acquirers run: in process (default) or behind a channel simulator."""

    acquirer_a_url: OptionalText = None
    """Base URL of a ``paycore simulator --channel acquirer_a``; None: simulated in process."""
    acquirer_b_url: OptionalText = None
    """The same for ``acquirer_b``."""
    http_secret: OptionalText = None
    """Shared HMAC secret of those simulators (requests and notifications); required with a URL."""
    bank_settle_after_s: float = 2.0
    """When the simulated bank (channel ``bank_transfer``) reports a transfer: this long after
    it was registered; the notification reaches paycore only with ``callbacks_enabled``."""
    redirect_wallet_expiry_s: float = 900.0
    """How long a customer has to decide on a sandbox wallet's page (channels
    ``redirect_wallet`` and ``qr_wallet``); then the wallet reports the payment abandoned and
    it is canceled."""
    three_ds_challenge_expiry_s: float = 600.0
    """How long a customer has to complete a 3-D Secure challenge; then the payment is canceled."""
    three_ds_sweep_interval_s: float = 5.0
    """How often each server process cancels challenges and verification codes past their
    deadline."""
    verification_code_expiry_s: float = 600.0
    """How long a customer has to enter a verification code; then the payment is canceled."""
    verification_code_attempts: int = 5
    """Codes a customer may try; the last wrong one declines the payment (lockout)."""
    three_ds_secret: OptionalText = None
    """HMAC secret of the simulated ACS's signed results (None: random per process, which
    is right for one process; set it when several workers share the callbacks port)."""


class StatusQuerySettings(FrozenModel):
    """The scheduler that asks channels about attempts that ended unknown."""

    enabled: bool = True
    """Run the scheduler in every server process (leases keep workers from colliding)."""
    schedule_s: str = "60,300,300,300,300,300"
    """Seconds before each status query of an attempt: the first after the attempt ended
    unknown, each next after the previous query; when the last one still cannot tell,
    the attempt is marked for manual attention."""
    pending_schedule_s: str = "3600,21600,86400,86400,86400"
    """The same for attempts an asynchronous channel answered "pending" (bank transfers):
    they settle by notification, and these queries catch a notification that never came."""
    started_grace_s: float = 120.0
    """An attempt with no recorded answer at all (its process died mid-call) is first
    queried this long after it was recorded. Must exceed ``channel_timeout_s`` plus the
    commit retries (``minimum_started_grace_s``): a shorter grace lets a status query
    settle an attempt whose request is still waiting for the channel or for PostgreSQL."""
    lease_s: float = 30.0
    """How long a worker holds the attempts it picked (another worker takes them after)."""
    batch_size: int = 50
    poll_interval_s: float = 5.0
    """How often the scheduler looks for due attempts when the last batch was not full."""

    @property
    def delays_s(self) -> tuple[float, ...]:
        """``schedule_s`` as numbers."""
        return seconds(self.schedule_s)

    @property
    def pending_delays_s(self) -> tuple[float, ...]:
        """``pending_schedule_s`` as numbers."""
        return seconds(self.pending_schedule_s)
