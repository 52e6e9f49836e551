"""Accounts: the ledger's store, settlement, wallets and withdrawals, and payouts to the bank."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web

from core.callbacks.payouts import PayoutIngress
from core.config import Settings
from core.ledger.fees import FeeRule
from core.redis.request_gate import RedisRequestGate
from core.risk.screen import RiskScreen
from core.service.accounts import AccountService
from core.service.execution import RequestExecutor
from core.service.payments.service import PaymentService
from core.service.payouts import BankPayouts, PayoutQuerySettings, PayoutStatusQueries
from core.service.settlement import SettlementService
from core.storage.ledger_store import PostgresLedgerStore
from core.storage.unit_of_work import PostgresPaymentRepository
from router.channels.bank_payouts import PAYOUTS_PATH, BankPayoutChannel, SimulatedPayoutDesk
from router.channels.bank_transfer import process_bank_key


@dataclass(slots=True)
class Payouts:
    """Withdrawals' way to the bank: its payout desk (test mode), notifications, status queries."""

    desk: SimulatedPayoutDesk
    ingress: PayoutIngress
    queries: PayoutStatusQueries

    def install(self, app: web.Application) -> None:
        """Serve the bank's payout notifications on the callbacks endpoint ``app``."""
        self.ingress.install(app)

    def announce(self, host: str, port: int) -> None:
        """Where the (simulated) bank posts its notifications: this process's callbacks port."""
        reachable = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
        self.desk.notify_url = f"http://{reachable}:{port}{PAYOUTS_PATH}"

    async def close(self) -> None:
        """Stop the bank's pending answers (their withdrawals stay PENDING, money held)."""
        await self.desk.close()


def build_settlement(
    settings: Settings,
    *,
    executor: RequestExecutor,
    store: PostgresLedgerStore,
    gate: RedisRequestGate,
    clock: Callable[[], datetime],
) -> SettlementService:
    """Settlement of merchants' business days by ``clock``, with the default fee of ``[ledger]``."""
    ledger = settings.ledger
    return SettlementService(
        executor=executor,
        store=store,
        gate=gate,
        default_fee=FeeRule(ledger.fee_bps, ledger.fee_fixed_minor),
        grace=timedelta(seconds=ledger.settlement_grace_s),
        clock=clock,
    )


def build_accounts(
    settings: Settings,
    *,
    executor: RequestExecutor,
    store: PostgresLedgerStore,
    gate: RedisRequestGate,
    payments: PaymentService,
    repository: PostgresPaymentRepository,
    screen: RiskScreen,
) -> tuple[AccountService, Payouts]:
    """AccountService, with withdrawals going to the bank's payout side (its test mode).

    The simulated bank signs payout notifications with the key its
    bank-transfer notifications use (one bank, one key per process); paycore
    verifies them with its public half, as with a real bank.
    """
    ledger = settings.ledger
    delays = ledger.payout_query_delays_s
    bank_key = process_bank_key()
    desk = SimulatedPayoutDesk(bank_key, settle_after_s=ledger.payout_settle_after_s)
    channel = BankPayoutChannel(desk, bank_key.public_key())
    accounts = AccountService(
        executor=executor,
        store=store,
        gate=gate,
        payments=payments,
        repository=repository,
        risk=screen,
        payouts=BankPayouts(channel, first_query_after_s=delays[0]),
    )
    queries = PayoutStatusQueries(
        store=store,
        bank=channel,
        complete=accounts.complete_withdrawal,
        settings=PayoutQuerySettings(delays, poll_interval_s=ledger.payout_poll_interval_s),
    )
    ingress = PayoutIngress(
        channel=channel, withdrawals=store, complete=accounts.complete_withdrawal
    )
    return accounts, Payouts(desk, ingress, queries)
