"""The policy table: every served RPC has a role, and roles nest."""

from __future__ import annotations

import pytest

from core.auth.policy import POLICY, Role, authorize, required_role
from core.domain.errors import Code, PaycoreError, Reason
from paycore.v1 import (
    card_vault_service_pb2,
    event_service_pb2,
    payment_service_pb2,
    webhook_service_pb2,
)


def _served_methods() -> list[str]:
    methods = []
    for module in (
        payment_service_pb2,
        card_vault_service_pb2,
        webhook_service_pb2,
        event_service_pb2,
    ):
        for service in module.DESCRIPTOR.services_by_name.values():
            methods += [f"{service.full_name}/{m.name}" for m in service.methods]
    return methods


def test_every_served_rpc_has_a_policy_entry() -> None:
    assert all(required_role(method) is not None for method in _served_methods())


@pytest.mark.parametrize("method", sorted(POLICY))
def test_roles_nest_each_role_includes_the_ones_below(method: str) -> None:
    needed = POLICY[method]
    for role in Role:
        if role >= needed:
            authorize(role, method)
        else:
            with pytest.raises(PaycoreError) as raised:
                authorize(role, method)
            assert raised.value.reason is Reason.PERMISSION_DENIED
            assert raised.value.code is Code.PERMISSION_DENIED


def test_an_rpc_without_policy_is_denied_to_every_role() -> None:
    for role in Role:
        with pytest.raises(PaycoreError) as raised:
            authorize(role, "paycore.v1.PaymentService/Unheard")
        assert raised.value.reason is Reason.PERMISSION_DENIED


def test_role_labels_round_trip() -> None:
    assert [Role.parse(r.label) for r in Role] == list(Role)
    with pytest.raises(ValueError):
        Role.parse("owner")
