"""Block and allow lists over RiskService: a change applies to the merchant's next payment."""

from __future__ import annotations

import asyncpg

from core.app import Services
from core.config import RiskSettings
from core.domain.money import Money
from core.domain.payment import RiskDecision
from core.risk.screen import RiskScreen
from paycore.v1 import payment_pb2 as pb
from paycore.v1 import risk_service_pb2 as risk_svc
from riskengine.features import Transaction
from tests.support.expect import NOT_FOUND, expect_error, expect_invalid
from tests.support.requests import build, card, usd

from .conftest import Shop, audit_json

S = pb.Payment
Entry = risk_svc.BlocklistEntry
VISA_OTHER = "4000056655665556"


async def test_a_blocked_card_is_declined_and_approved_again_once_removed(
    shop: Shop, db: asyncpg.Pool, merchant_id: str
) -> None:
    first = await shop.pay()
    assert first.state == S.STATE_CAPTURED
    entry = await shop.block(Entry.KIND_CARD_FINGERPRINT, first.payment_method.card.fingerprint)
    assert entry.id.startswith("rle_")

    blocked = await shop.pay()
    assert blocked.state == S.STATE_DECLINED
    assert blocked.failure.code == "risk_declined"
    assert "blocked_card" in blocked.risk.reasons
    other_card = await shop.pay(payment_method=card(VISA_OTHER))
    assert other_card.state == S.STATE_CAPTURED

    removed = await shop.unblock(entry.id)
    assert removed == entry
    assert (await shop.pay()).state == S.STATE_CAPTURED

    audit = await db.fetch(
        "SELECT action, before, after FROM audit_events WHERE resource_id = $1 ORDER BY id",
        entry.id,
    )
    assert [a["action"] for a in audit] == ["risk_list.block.add", "risk_list.block.remove"]
    assert audit_json(audit[0]["after"])["value"] == entry.value
    assert audit_json(audit[1]["before"])["value"] == entry.value
    assert audit[1]["after"] is None
    assert {
        r["merchant_id"]
        for r in await db.fetch(
            "SELECT merchant_id FROM audit_events WHERE resource_id = $1", entry.id
        )
    } == {merchant_id}


async def test_email_ip_device_and_bin_entries_block_matching_payments(shop: Shop) -> None:
    context = pb.RiskContext(
        customer_email="Mallory@Example.com", ip_address="203.0.113.9", device_id="dev-1"
    )
    for kind, value, reason in [
        (Entry.KIND_EMAIL, "mallory@example.COM", "blocked_email"),
        (Entry.KIND_IP_ADDRESS, "203.0.113.9", "blocked_ip"),
        (Entry.KIND_DEVICE_ID, "dev-1", "blocked_device"),
        (Entry.KIND_BIN, "4242", "blocked_bin"),
    ]:
        entry = await shop.block(kind, value)
        payment = await shop.pay(amount=usd(50), risk_context=context)
        assert payment.state == S.STATE_DECLINED, reason
        assert reason in payment.risk.reasons
        await shop.unblock(entry.id)
    # (Five payments from one device within a minute: only not small ones pass.)
    last = await shop.pay(amount=usd(50), risk_context=context)
    assert last.state == S.STATE_CAPTURED, last.risk


async def test_an_allowlisted_customer_is_approved_despite_a_high_score(shop: Shop) -> None:
    held = await shop.pay(amount=usd(3000), customer_id="vip")
    assert held.state == S.STATE_REQUIRES_REVIEW
    await shop.block(Entry.KIND_CUSTOMER_ID, "vip", allow=True)
    approved = await shop.pay(amount=usd(3000), customer_id="vip")
    assert approved.state == S.STATE_CAPTURED
    assert "allowlisted" in approved.risk.reasons


async def test_adding_an_entry_twice_returns_the_first_and_lists_page(shop: Shop) -> None:
    first = await shop.block(Entry.KIND_IP_ADDRESS, "198.51.100.1")
    assert await shop.block(Entry.KIND_IP_ADDRESS, "198.51.100.1") == first
    second = await shop.block(Entry.KIND_EMAIL, "x@example.com")
    third = await shop.block(Entry.KIND_BIN, "5555", allow=True)
    page = await shop.risk.ListBlocklistEntries(
        risk_svc.ListBlocklistEntriesRequest(page_size=2), metadata=shop.admin
    )
    assert list(page.entries) == [first, second]
    rest = await shop.risk.ListBlocklistEntries(
        risk_svc.ListBlocklistEntriesRequest(page_token=page.next_page_token), metadata=shop.admin
    )
    assert list(rest.entries) == [third] and rest.next_page_token == ""


async def test_bad_entries_are_refused_with_field_violations(shop: Shop) -> None:
    async def add(**fields: object) -> object:
        request = build(risk_svc.AddBlocklistEntryRequest, **fields)
        return await shop.risk.AddBlocklistEntry(request, metadata=shop.admin)

    await expect_invalid(add(kind=Entry.KIND_EMAIL, value="x@y.z"), "list")
    await expect_invalid(add(list=Entry.LIST_BLOCK, value="x"), "kind")
    await expect_invalid(
        add(list=Entry.LIST_BLOCK, kind=Entry.KIND_IP_ADDRESS, value="1.2.3"), "value"
    )
    await expect_invalid(add(list=Entry.LIST_BLOCK, kind=Entry.KIND_BIN, value="41x"), "value")
    await expect_invalid(add(list=Entry.LIST_BLOCK, kind=Entry.KIND_EMAIL, value="nobody"), "value")
    await expect_invalid(
        add(list=Entry.LIST_BLOCK, kind=Entry.KIND_EMAIL, value="a@b", request_id=""), "request_id"
    )
    missing = build(risk_svc.RemoveBlocklistEntryRequest, entry_id="rle_01JD0Z8W7X6V5T4S3R2Q1P0N9M")
    await expect_error(
        shop.risk.RemoveBlocklistEntry(missing, metadata=shop.admin),
        NOT_FOUND,
        "RISK_LIST_ENTRY_NOT_FOUND",
    )
    bad_id = build(risk_svc.RemoveBlocklistEntryRequest, entry_id="42")
    await expect_invalid(shop.risk.RemoveBlocklistEntry(bad_id, metadata=shop.admin), "entry_id")


async def test_another_process_sees_a_list_change_on_its_next_payment(
    shop: Shop, services: Services, merchant_id: str
) -> None:
    # A second paycore process: its own lists cache, the same Redis and PostgreSQL.
    mine = services.risk_screen
    other = RiskScreen(
        engine=mine.engine,
        velocity=mine.velocity,
        store=mine.store,
        vault=services.vault,
        settings=RiskSettings(),
    )
    customer = Transaction(merchant_id, Money(1000, "USD"), None, customer_id="eve")
    before = await other.assess(customer, "p1", write=False)
    assert before.features["blocked_customer"] is False  # now cached in "other"

    entry = await shop.block(Entry.KIND_CUSTOMER_ID, "eve")  # through this process
    after = await other.assess(customer, "p2", write=False)
    assert after.features["blocked_customer"] is True
    assert after.verdict.assessment.decision is RiskDecision.DECLINE

    await shop.unblock(entry.id)
    assert (await other.assess(customer, "p3", write=False)).features["blocked_customer"] is False


async def test_a_blocked_ip_address_is_declined_however_either_side_spells_it(shop: Shop) -> None:
    for blocked, sent in [
        ("2001:DB8::1", "2001:db8:0:0::1"),
        ("203.0.113.77", "::ffff:203.0.113.77"),
        ("::FFFF:198.51.100.7", "198.51.100.7"),
    ]:
        entry = await shop.block(Entry.KIND_IP_ADDRESS, blocked)
        payment = await shop.pay(amount=usd(50), risk_context=pb.RiskContext(ip_address=sent))
        assert payment.state == S.STATE_DECLINED, (blocked, sent)
        assert "blocked_ip" in payment.risk.reasons
        await shop.unblock(entry.id)


async def test_a_card_fingerprint_entry_matches_in_any_case_and_must_be_one(shop: Shop) -> None:
    first = await shop.pay()
    fingerprint = first.payment_method.card.fingerprint
    entry = await shop.block(Entry.KIND_CARD_FINGERPRINT, fingerprint.upper())

    assert entry.value == fingerprint
    assert "blocked_card" in (await shop.pay()).risk.reasons
    await expect_invalid(shop.block(Entry.KIND_CARD_FINGERPRINT, "not-a-fingerprint"), "value")
