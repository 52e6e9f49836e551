"""The one table that says which role may call which RPC (pure: no grpc, no I/O).

Roles are ordered: a superadmin may do everything an admin may, and an admin
everything a merchant may.

- ``MERCHANT``: a merchant's own payments, cards and accounts.
- ``ADMIN``: a merchant's back office: review queues, refund approvals,
  blocklists, the merchant's settings.
- ``SUPERADMIN``: the platform operator: merchants, API keys and roles.

Every RPC paycore serves must have a row in ``POLICY``: the server refuses to
start otherwise (``core.api.pipeline.service_handler``), so a new RPC cannot
ship without a decision about who may call it. An RPC missing from the table
is denied, never allowed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from core.domain.errors import PaycoreError, Reason


class Role(enum.IntEnum):
    """What an API key may do; a higher role includes every lower one."""

    MERCHANT = 1
    ADMIN = 2
    SUPERADMIN = 3

    @property
    def label(self) -> str:
        """The role's lower-case name, as stored and shown (``merchant``, ``admin``...)."""
        return self.name.lower()

    @classmethod
    def parse(cls, label: str) -> Role:
        """The role named ``label`` (``merchant``, ``admin`` or ``superadmin``)."""
        try:
            return cls[label.upper()]
        except KeyError:
            raise ValueError(f"unknown role {label!r}") from None


_PAYMENTS = "paycore.v1.PaymentService"
_VAULT = "paycore.v1.CardVaultService"
_ACCESS = "paycore.v1.AccessService"
_SETTINGS = "paycore.v1.MerchantSettingsService"
_RISK = "paycore.v1.RiskService"
_WEBHOOKS = "paycore.v1.WebhookService"
_EVENTS = "paycore.v1.EventService"
_ACCOUNTS = "paycore.v1.AccountService"
_ROUTING = "paycore.v1.RoutingService"
_CUSTOMERS = "paycore.v1.CustomerService"
_MANDATES = "paycore.v1.MandateService"
_DISPUTES = "paycore.v1.DisputeService"
_SUBSCRIPTIONS = "paycore.v1.SubscriptionService"

POLICY: Mapping[str, Role] = {
    # Payments: a merchant's own.
    f"{_PAYMENTS}/CreatePayment": Role.MERCHANT,
    f"{_PAYMENTS}/GetPayment": Role.MERCHANT,
    f"{_PAYMENTS}/ListPayments": Role.MERCHANT,
    f"{_PAYMENTS}/UpdatePayment": Role.MERCHANT,
    f"{_PAYMENTS}/ConfirmPayment": Role.MERCHANT,
    f"{_PAYMENTS}/CapturePayment": Role.MERCHANT,
    f"{_PAYMENTS}/CancelPayment": Role.MERCHANT,
    f"{_PAYMENTS}/VerifyPaymentCode": Role.MERCHANT,
    f"{_PAYMENTS}/RefundPayment": Role.MERCHANT,
    f"{_PAYMENTS}/ListRefunds": Role.MERCHANT,
    # Refund review: the back office decides on held refunds.
    f"{_PAYMENTS}/ApproveRefund": Role.ADMIN,
    f"{_PAYMENTS}/RejectRefund": Role.ADMIN,
    # Merchant settings (refund review thresholds...): the back office's.
    f"{_SETTINGS}/GetMerchantSettings": Role.ADMIN,
    f"{_SETTINGS}/UpdateMerchantSettings": Role.ADMIN,
    # A merchant's own routing chain (issue 5): the back office's.
    f"{_ROUTING}/GetMerchantRouting": Role.ADMIN,
    f"{_ROUTING}/SetMerchantRouting": Role.ADMIN,
    # Customers (issue 20): a merchant's own, like its payments.
    f"{_CUSTOMERS}/CreateCustomer": Role.MERCHANT,
    f"{_CUSTOMERS}/GetCustomer": Role.MERCHANT,
    f"{_CUSTOMERS}/UpdateCustomer": Role.MERCHANT,
    f"{_CUSTOMERS}/ListCustomers": Role.MERCHANT,
    f"{_CUSTOMERS}/DeleteCustomer": Role.MERCHANT,
    # Saved payment methods and mandates (issue 20): a merchant's customers' own.
    f"{_MANDATES}/SetupPaymentMethod": Role.MERCHANT,
    f"{_MANDATES}/ListPaymentMethods": Role.MERCHANT,
    f"{_MANDATES}/RevokeMandate": Role.MERCHANT,
    # Disputes: a merchant's own, answered by the merchant's keys.
    f"{_DISPUTES}/GetDispute": Role.MERCHANT,
    f"{_DISPUTES}/ListDisputes": Role.MERCHANT,
    f"{_DISPUTES}/GetDisputeRate": Role.MERCHANT,
    f"{_DISPUTES}/SubmitEvidence": Role.MERCHANT,
    f"{_DISPUTES}/AcceptDispute": Role.MERCHANT,
    # Subscriptions (issue 20): a merchant's own; its test clock too (test servers only).
    f"{_SUBSCRIPTIONS}/CreatePrice": Role.MERCHANT,
    f"{_SUBSCRIPTIONS}/GetPrice": Role.MERCHANT,
    f"{_SUBSCRIPTIONS}/ListPrices": Role.MERCHANT,
    f"{_SUBSCRIPTIONS}/CreateSubscription": Role.MERCHANT,
    f"{_SUBSCRIPTIONS}/GetSubscription": Role.MERCHANT,
    f"{_SUBSCRIPTIONS}/ListSubscriptions": Role.MERCHANT,
    f"{_SUBSCRIPTIONS}/UpdateSubscription": Role.MERCHANT,
    f"{_SUBSCRIPTIONS}/CancelSubscription": Role.MERCHANT,
    f"{_SUBSCRIPTIONS}/PauseSubscription": Role.MERCHANT,
    f"{_SUBSCRIPTIONS}/ResumeSubscription": Role.MERCHANT,
    f"{_SUBSCRIPTIONS}/ListInvoices": Role.MERCHANT,
    f"{_SUBSCRIPTIONS}/GetMembershipStatus": Role.MERCHANT,
    f"{_SUBSCRIPTIONS}/AdvanceTestClock": Role.MERCHANT,
    # Card vault: the one way a card number enters paycore.
    f"{_VAULT}/TokenizeCard": Role.MERCHANT,
    f"{_VAULT}/GetCardToken": Role.MERCHANT,
    # Platform administration: merchants, keys and roles.
    f"{_ACCESS}/CreateMerchant": Role.SUPERADMIN,
    f"{_ACCESS}/GetMerchant": Role.SUPERADMIN,
    f"{_ACCESS}/ListMerchants": Role.SUPERADMIN,
    f"{_ACCESS}/CreateApiKey": Role.SUPERADMIN,
    f"{_ACCESS}/ListApiKeys": Role.SUPERADMIN,
    f"{_ACCESS}/RevokeApiKey": Role.SUPERADMIN,
    f"{_ACCESS}/RotateApiKey": Role.SUPERADMIN,
    f"{_ACCESS}/ListAuditEvents": Role.SUPERADMIN,
    # Risk back office: review queue, dry runs, block/allow lists.
    f"{_RISK}/ScoreTransaction": Role.ADMIN,
    f"{_RISK}/ListReviews": Role.ADMIN,
    f"{_RISK}/ApproveReview": Role.ADMIN,
    f"{_RISK}/RejectReview": Role.ADMIN,
    f"{_RISK}/AddBlocklistEntry": Role.ADMIN,
    f"{_RISK}/RemoveBlocklistEntry": Role.ADMIN,
    f"{_RISK}/ListBlocklistEntries": Role.ADMIN,
    # Notifications: a merchant's own endpoints and events. RedeliverEvent is
    # MERCHANT too: it only re-sends the merchant's own events to its own
    # endpoints, and merchants recovering from their own outage need it
    # without calling the back office.
    f"{_WEBHOOKS}/CreateWebhookEndpoint": Role.MERCHANT,
    f"{_WEBHOOKS}/GetWebhookEndpoint": Role.MERCHANT,
    f"{_WEBHOOKS}/ListWebhookEndpoints": Role.MERCHANT,
    f"{_WEBHOOKS}/UpdateWebhookEndpoint": Role.MERCHANT,
    f"{_WEBHOOKS}/DeleteWebhookEndpoint": Role.MERCHANT,
    f"{_WEBHOOKS}/RotateWebhookSecret": Role.MERCHANT,
    f"{_WEBHOOKS}/ListWebhookDeliveries": Role.MERCHANT,
    f"{_WEBHOOKS}/RedeliverEvent": Role.MERCHANT,
    f"{_EVENTS}/StreamEvents": Role.MERCHANT,
    # Accounts and the ledger: a merchant's own wallets, balances and statements.
    f"{_ACCOUNTS}/CreateAccount": Role.MERCHANT,
    f"{_ACCOUNTS}/GetAccount": Role.MERCHANT,
    f"{_ACCOUNTS}/TransferFunds": Role.MERCHANT,
    f"{_ACCOUNTS}/ListAccountEntries": Role.MERCHANT,
    f"{_ACCOUNTS}/TopUpWallet": Role.MERCHANT,
    f"{_ACCOUNTS}/PayFromWallet": Role.MERCHANT,
    f"{_ACCOUNTS}/WithdrawFunds": Role.MERCHANT,
    f"{_ACCOUNTS}/GetWithdrawal": Role.MERCHANT,
    # Settlement reports and runs: the back office's (finance).
    f"{_ACCOUNTS}/RunSettlement": Role.ADMIN,
    f"{_ACCOUNTS}/GetSettlementReport": Role.ADMIN,
    f"{_ACCOUNTS}/ExportSettlementReport": Role.ADMIN,
    # Withdrawals the risk engine held: the back office decides, like payment reviews.
    f"{_ACCOUNTS}/ApproveWithdrawal": Role.ADMIN,
    f"{_ACCOUNTS}/RejectWithdrawal": Role.ADMIN,
    # Fees are the platform's prices: only the platform sets them; finance reads them.
    f"{_ACCOUNTS}/SetFeeRules": Role.SUPERADMIN,
    f"{_ACCOUNTS}/GetFeeRules": Role.ADMIN,
}
"""Full RPC name (``package.Service/Method``) -> the least role allowed to call it."""


def required_role(full_method: str) -> Role | None:
    """The least role that may call ``full_method``; None when the RPC has no policy."""
    return POLICY.get(full_method)


def authorize(role: Role, full_method: str, merchant_id: str | None = None) -> None:
    """Raise unless ``role`` may call ``full_method`` for ``merchant_id``.

    PERMISSION_DENIED when the role is below the RPC's. RPCs open to merchants
    and admins act on one merchant's data, so a platform (superadmin) key must
    name that merchant: ``merchant_id == ""`` means it named none
    (UNAUTHENTICATED, MERCHANT_IDENTITY_MISSING). Superadmin-only RPCs take
    the merchant from the request instead. ``merchant_id=None`` skips that check.
    """
    needed = POLICY.get(full_method)
    if needed is None or role < needed:
        raise PaycoreError(
            Reason.PERMISSION_DENIED,
            role=role.label,
            method=full_method,
            required=needed.label if needed is not None else "a policy entry",
        )
    if merchant_id == "" and needed < Role.SUPERADMIN:
        raise PaycoreError(Reason.MERCHANT_IDENTITY_MISSING, header="x-paycore-merchant-id")
