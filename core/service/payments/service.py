"""The payment service the API calls: one object over the payment use cases.

Each use case lives in its module of core/service/payments/; this facade builds
them from the service's dependencies and exposes their methods as its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.domain.refund_review import NoRefundRiskFlags, RefundRiskCheck
from core.gate import RequestGate
from core.ports.disputes import RefundGuard
from core.ports.repository import PaymentRepository
from core.ports.telemetry import NO_INSTRUMENTS, Instruments
from core.risk.screen import RiskScreen
from core.service.card_vault import CardVault
from core.service.execution import RequestExecutor
from core.service.payments.authorize import Authorization
from core.service.payments.cancel import PaymentCancellation
from core.service.payments.capture import PaymentCapture
from core.service.payments.create import PaymentCreation
from core.service.payments.reads import PaymentReads
from core.service.payments.refund import Refunds
from core.service.payments.three_ds import ThreeDSecure
from core.service.payments.update import PaymentUpdate
from core.service.payments.verification import CodeVerification, no_code_steps
from router import Router


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """What the payment service needs from configuration."""

    fingerprint_key: str


class PaymentService:
    """Create, confirm, capture, cancel, refund, update, get and list payments.

    Each method is the bound method of its use case (create.py, capture.py,
    cancel.py, refund.py, update.py, reads.py; ``dispatch_reviewed``: the
    authorization path of authorize.py, for an approved risk review), taken
    once here, so that a call reaches the use case directly: no hop of the
    facade's own on the request path.
    """

    def __init__(
        self,
        *,
        executor: RequestExecutor,
        repository: PaymentRepository,
        gate: RequestGate,
        risk: RiskScreen,
        router: Router,
        settings: ServiceSettings,
        vault: CardVault,
        telemetry: Instruments | None = None,
        refund_risk: RefundRiskCheck | None = None,
        refund_guard: RefundGuard | None = None,
        three_ds: ThreeDSecure | None = None,
        verification: CodeVerification | None = None,
    ) -> None:
        """``refund_risk``: flags refunds for review whatever their amount (default: none);
        ``refund_guard``: refuses refunds of disputed payments (default: none);
        ``three_ds``: 3-D Secure between risk and routing (default: none);
        ``verification``: verification codes for stepped-up wallet payments (default: none,
        and VerifyPaymentCode finds no payment waiting for a code)."""
        telemetry = telemetry or NO_INSTRUMENTS
        authorization = Authorization(
            risk=risk,
            router=router,
            vault=vault,
            telemetry=telemetry,
            fingerprint_key=settings.fingerprint_key,
            three_ds=three_ds,
        )
        creation = PaymentCreation(
            executor=executor,
            vault=vault,
            risk=risk,
            authorization=authorization,
            fingerprint_key=settings.fingerprint_key,
        )
        refunds = Refunds(
            executor=executor, refund_risk=refund_risk or NoRefundRiskFlags(), guard=refund_guard
        )
        reads = PaymentReads(repository=repository, gate=gate, telemetry=telemetry)
        self.create_payment = creation.create_payment
        self.confirm_payment = creation.confirm_payment
        self.capture_payment = PaymentCapture(executor).capture_payment
        self.cancel_payment = PaymentCancellation(executor).cancel_payment
        self.update_payment = PaymentUpdate(executor).update_payment
        self.refund_payment = refunds.refund_payment
        self.approve_refund = refunds.approve_refund
        self.reject_refund = refunds.reject_refund
        self.get_payment = reads.get_payment
        self.list_payments = reads.list_payments
        self.list_refunds = reads.list_refunds
        self.dispatch_reviewed = authorization.dispatch_reviewed
        self.authorization = authorization
        """The authorization path, for other use cases that authorize (SetupPaymentMethod)."""
        self.verification = verification
        """Verification codes, for PayFromWallet (AccountService) to ask for one."""
        self.verify_payment_code = verification.verify if verification else no_code_steps
