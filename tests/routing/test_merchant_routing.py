"""A merchant's own routing chain through RoutingService: validated, audited, applied everywhere."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from google.protobuf.wrappers_pb2 import Int32Value

from core.app import open_services
from core.auth.policy import Role
from core.config import Settings
from paycore.v1 import routing_service_pb2 as pb
from paycore.v1 import routing_service_pb2_grpc
from router.channels.simulated import ACQUIRER_A, ACQUIRER_B, SimulatedAcquirer
from router.config import load_routing_file
from router.routing import CostBased, HealthBased, Rules
from tests.routing.conftest import CALLBACK_SECRET, Served, renamed, routing_toml, serve
from tests.support.auth import merchant_metadata
from tests.support.expect import INVALID_ARGUMENT, assert_invalid
from tests.support.requests import new_request_id, usd, wire

if TYPE_CHECKING:
    Stub = routing_service_pb2_grpc.RoutingServiceAsyncStub


@dataclass
class Admin:
    """The routing back office of the served merchant."""

    served: Served
    stub: Stub
    metadata: Any
    a: str
    b: str
    routing_file: Path

    async def set(self, request_id: str = "", **fields: Any) -> pb.SetMerchantRoutingResponse:
        request = pb.SetMerchantRoutingRequest(request_id=request_id or new_request_id(), **fields)
        return await self.stub.SetMerchantRouting(request, metadata=self.metadata)

    async def get(self) -> pb.MerchantRouting:
        request = pb.GetMerchantRoutingRequest()
        return (await self.stub.GetMerchantRouting(request, metadata=self.metadata)).routing

    async def channel_of_next_payment(self) -> tuple[str, list[str]]:
        payment = await self.served.api.create(amount=usd(10))
        return payment.channel, list(payment.routing.steps)


@pytest.fixture
async def admin(settings: Settings, tmp_path: Path) -> AsyncIterator[Admin]:
    suffix = uuid.uuid4().hex[:8]
    a = SimulatedAcquirer(renamed(ACQUIRER_A, f"a_{suffix}"), callback_secret=CALLBACK_SECRET)
    b = SimulatedAcquirer(renamed(ACQUIRER_B, f"b_{suffix}"), callback_secret=CALLBACK_SECRET)
    routing = tmp_path / "routing.toml"
    routing.write_text(routing_toml(a.name, b.name))  # USD: a first ("rest")
    async with (
        serve(settings, [a, b], routing) as served,
        grpc.aio.insecure_channel(served.target) as channel,
    ):
        metadata = await merchant_metadata(served.services.pool, served.api.merchant_id, Role.ADMIN)
        stub: Stub = routing_service_pb2_grpc.RoutingServiceStub(channel)
        yield Admin(served, stub, metadata, a.name, b.name, routing)


def all_to(channel: str) -> pb.RoutingChain:
    return pb.RoutingChain(
        strategies=["rules"], rules=[pb.RoutingRule(name="all-to-one", channels=[channel])]
    )


async def test_a_merchants_own_chain_routes_its_new_payments_until_it_goes_back_to_the_file(
    admin: Admin,
) -> None:
    assert (await admin.channel_of_next_payment())[0] == admin.a  # the file: USD to a
    assert not (await admin.get()).custom

    set_reply = await admin.set(chain=all_to(admin.b))

    assert set_reply.routing.custom
    assert set_reply.routing.chain == all_to(admin.b)
    assert {admin.a, admin.b} <= set(set_reply.routing.channels)
    channel, steps = await admin.channel_of_next_payment()
    assert (channel, steps[-1]) == (admin.b, "rule:all-to-one")
    assert (await admin.get()).chain == all_to(admin.b)
    # Other merchants keep the file's chain.
    router = admin.served.services.router
    file_table = load_routing_file(str(admin.routing_file), frozenset(router.channel_names))
    assert router.chain_for("m_someone_else") == file_table.chain_for("m_someone_else")

    await admin.set(use_default=True)

    assert (await admin.channel_of_next_payment())[0] == admin.a
    assert not (await admin.get()).custom


async def test_each_change_is_audited_once_and_a_replay_answers_the_same(admin: Admin) -> None:
    request_id = new_request_id()
    first = await admin.set(request_id, chain=all_to(admin.b))
    again = await admin.set(request_id, chain=all_to(admin.b))

    assert wire(first) == wire(again)
    rows = await admin.served.services.pool.fetch(
        "SELECT action, before, after, actor_role FROM audit_events"
        " WHERE resource_type = 'merchant_routing' AND resource_id = $1",
        admin.served.api.merchant_id,
    )
    assert [(r["action"], r["actor_role"]) for r in rows] == [("merchant_routing.set", "admin")]
    assert rows[0]["before"] == {"custom": False, "chain": None}
    assert rows[0]["after"]["chain"]["rules"][0]["channels"] == [admin.b]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"chain": pb.RoutingChain(strategies=["fastest"])}, "chain.strategies"),
        ({"chain": pb.RoutingChain(strategies=["rules"])}, "chain.rules"),
        (
            {"chain": pb.RoutingChain(strategies=["rules"], rules=[pb.RoutingRule(name="x")])},
            "chain.rules[0].channels",
        ),
        ({"chain": all_to("acquirer_z")}, "chain.rules[0].channels"),
        ({"chain": pb.RoutingChain(strategies=["split"], split={"x": 1})}, "chain.split"),
        (
            {
                "chain": pb.RoutingChain(
                    health=pb.HealthTuning(min_success_rate_bps=Int32Value(value=15_000))
                )
            },
            "chain.health.min_success_rate_bps",
        ),
        ({"chain": pb.RoutingChain(), "use_default": True}, "chain"),
        ({}, "chain"),
    ],
)
async def test_a_bad_chain_is_refused_naming_the_field_and_changes_nothing(
    admin: Admin, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.set(**fields)

    assert caught.value.code() == INVALID_ARGUMENT
    assert_invalid(caught.value, (field,), "VALIDATION_FAILED")
    assert not (await admin.get()).custom


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"min_amount_minor": 500, "max_amount_minor": 100}, "chain.rules[1].max_amount_minor"),
        ({"countries": ["gb"]}, "chain.rules[1].countries"),
        ({"bins": ["42x"]}, "chain.rules[1].bins"),
        # A stored chain is jsonb, which cannot hold U+0000 (this was INTERNAL).
        ({"name": "b\x00d"}, "chain.rules[1].name"),
        ({"currencies": ["EU\x00"]}, "chain.rules[1].currencies"),
        ({"merchants": ["m\x00"]}, "chain.rules[1].merchants"),
    ],
)
async def test_rule_conditions_are_checked_like_the_routing_files(
    admin: Admin, rule: dict[str, Any], field: str
) -> None:
    chain = pb.RoutingChain(
        strategies=["rules", "split"],
        rules=[
            pb.RoutingRule(name="fine", channels=[admin.a], countries=["GB"]),
            pb.RoutingRule(**{"name": "bad", "channels": [admin.b], **rule}),
        ],
        split={admin.a: 1},
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.set(chain=chain)
    assert_invalid(caught.value, (field,), "VALIDATION_FAILED")
    assert not (await admin.get()).custom


async def test_sections_the_chain_does_not_use_are_checked_before_they_are_stored(
    admin: Admin,
) -> None:
    # Rules kept for later (no "rules" strategy yet) were stored unchecked: a NUL in
    # one reached jsonb and the call was INTERNAL.
    chain = pb.RoutingChain(
        strategies=["health"], rules=[pb.RoutingRule(name="later\x00", channels=[admin.b])]
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.set(chain=chain)
    assert_invalid(caught.value, ("chain.rules[0].name",), "VALIDATION_FAILED")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.set(chain=pb.RoutingChain(strategies=["health"], split={"acquirer_z": 1}))
    assert_invalid(caught.value, ("chain.split",), "VALIDATION_FAILED")
    assert not (await admin.get()).custom


async def test_a_change_reaches_another_process_within_its_refresh_interval(
    admin: Admin, settings: Settings
) -> None:
    # A second paycore process over the same database, with channels of the same names.
    other = await open_services(
        settings.replace(routing_file=str(admin.routing_file), routing_refresh_s=0.2),
        channels=[
            SimulatedAcquirer(renamed(ACQUIRER_A, admin.a)),
            SimulatedAcquirer(renamed(ACQUIRER_B, admin.b)),
        ],
    )
    merchant = admin.served.api.merchant_id
    try:
        before = other.router.chain_for(merchant)
        await admin.set(chain=all_to(admin.b))
        changed_at = time.monotonic()
        while other.router.chain_for(merchant) == before:
            assert time.monotonic() - changed_at < 5, "the other process never saw the change"
            await asyncio.sleep(0.05)
        (rules,) = other.router.chain_for(merchant)
        assert isinstance(rules, Rules) and rules.rules[0].channels == (admin.b,)
    finally:
        await other.close()


async def test_health_tuning_round_trips_in_the_files_format(admin: Admin) -> None:
    tuning = pb.HealthTuning(
        min_samples=Int32Value(value=3), min_success_rate_bps=Int32Value(value=8000)
    )
    chain = pb.RoutingChain(strategies=["cost", "health"], health=tuning)

    await admin.set(chain=chain)

    assert (await admin.get()).chain == chain
    assert admin.served.services.router.chain_for(admin.served.api.merchant_id) == (
        CostBased(),
        HealthBased(min_samples=3, min_success_rate=0.8),
    )
