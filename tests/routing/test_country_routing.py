"""Country in routing rules: the card's issuer country, from the risk rules' one BIN table."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.config import Settings
from core.domain.issuers import issuer_country
from core.domain.money import Money
from core.domain.payment import (
    BankTransferDetails,
    CaptureMethod,
    CardSummary,
    ConfirmationMethod,
    Payment,
    PaymentState,
)
from core.risk.rules_file import default_rules_path, load_rules
from core.service.payments.authorize import route_request
from paycore.v1 import payment_pb2 as pb
from router.channels.simulated import ACQUIRER_A, ACQUIRER_B, SimulatedAcquirer
from tests.routing.conftest import CALLBACK_SECRET, Served, renamed, serve
from tests.support.requests import VISA, card

GB_VISA = "4462000000000003"  # BIN 446200: GB in the shipped table
DE_MASTERCARD = "5200000000000007"  # BIN 520000: DE
SHIPPED = load_rules(default_rules_path()).bin_countries


def test_the_longest_known_prefix_names_the_issuer_country() -> None:
    table = {"4": "US", "4462": "IE", "446200": "GB"}

    assert issuer_country(table, "446200") == "GB"
    assert issuer_country(table, "446299") == "IE"
    assert issuer_country(table, "411111") == "US"
    assert issuer_country(table, "511111") == ""
    assert issuer_country(table, "") == ""


def _payment(card_bin: str | None) -> Payment:
    at = datetime.now(UTC)
    summary = CardSummary("visa", card_bin, "0003", 12, 2030, "fp") if card_bin else None
    return Payment(
        id="pay_1",
        merchant_id="m_1",
        state=PaymentState.REQUIRES_CONFIRMATION,
        amount=Money(1000, "EUR"),
        amount_captured=Money.zero("EUR"),
        amount_refunded=Money.zero("EUR"),
        capture_method=CaptureMethod.AUTOMATIC,
        confirmation_method=ConfirmationMethod.AUTOMATIC,
        card=summary,
        created_at=at,
        updated_at=at,
        bank_transfer=None if card_bin else BankTransferDetails("Ada"),
    )


def test_a_route_request_carries_the_issuer_country_of_the_card() -> None:
    assert route_request(_payment("446200"), SHIPPED).country == "GB"
    assert route_request(_payment("520000"), SHIPPED).country == "DE"
    transfer = route_request(_payment(None), SHIPPED)
    assert (transfer.method, transfer.country, transfer.bin) == ("bank_transfer", "", "")


@pytest.fixture
async def served(settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[Served, str, str]]:
    suffix = uuid.uuid4().hex[:8]
    a = SimulatedAcquirer(renamed(ACQUIRER_A, f"a_{suffix}"), callback_secret=CALLBACK_SECRET)
    b = SimulatedAcquirer(renamed(ACQUIRER_B, f"b_{suffix}"), callback_secret=CALLBACK_SECRET)
    routing = tmp_path / "routing.toml"
    routing.write_text(
        f"""
[default]
strategies = ["rules"]

[[default.rules]]
name = "uk-and-german-issuers"
channels = ["{b.name}"]
countries = ["GB", "DE"]

[[default.rules]]
name = "rest"
channels = ["{a.name}", "{b.name}"]
"""
    )
    async with serve(settings, [a, b], routing) as started:
        yield started, a.name, b.name


@pytest.mark.parametrize(
    ("number", "rule", "to_b"),
    [
        (GB_VISA, "uk-and-german-issuers", True),
        (DE_MASTERCARD, "uk-and-german-issuers", True),
        (VISA, "rest", False),
    ],
)
async def test_a_country_rule_routes_by_the_cards_issuer_country(
    served: tuple[Served, str, str], number: str, rule: str, to_b: bool
) -> None:
    started, a, b = served

    payment = await started.api.create(payment_method=card(number))

    assert payment.state == pb.Payment.STATE_CAPTURED
    assert payment.channel == (b if to_b else a)
    assert f"rule:{rule}" in payment.routing.steps
