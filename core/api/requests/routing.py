"""RoutingService requests -> a merchant's routing chain, checked like the routing file.

A chain travels as ``paycore.v1.RoutingChain`` and is kept in the routing
file's format (a JSON-ready table, see core/domain/merchant_routing.py); it is
checked by the same parser as the file, whose errors become field violations.
"""

from __future__ import annotations

from typing import Any

from core.api.requests import fields
from core.domain.errors import FieldViolation, ValidationError, ViolationCollector
from core.service.merchant_routing import MerchantRoutingService
from paycore.v1 import routing_service_pb2 as routing_svc
from router.config import RoutingConfigError

_RULE_LISTS = ("methods", "currencies", "bins", "countries", "merchants")
_RULE_AMOUNTS = ("min_amount_minor", "max_amount_minor")


def chain_from_proto(chain: routing_svc.RoutingChain) -> dict[str, Any]:
    """A RoutingChain as the routing file's table (only what is set)."""
    table: dict[str, Any] = {}
    if chain.strategies:
        table["strategies"] = list(chain.strategies)
    if chain.rules:
        table["rules"] = [_rule_from_proto(rule) for rule in chain.rules]
    if chain.split:
        table["split"] = dict(chain.split)
    if chain.HasField("health"):
        health = chain.health
        tuning: dict[str, Any] = {}
        if health.HasField("min_samples"):
            tuning["min_samples"] = health.min_samples.value
        if health.HasField("min_success_rate_bps"):
            # A fraction in the file's format, exact for whole basis points.
            tuning["min_success_rate"] = health.min_success_rate_bps.value / 10_000
        if health.HasField("max_latency_ms"):
            tuning["max_latency_ms"] = health.max_latency_ms.value
        table["health"] = tuning
    return table


def _rule_from_proto(rule: routing_svc.RoutingRule) -> dict[str, Any]:
    table: dict[str, Any] = {"name": rule.name, "channels": list(rule.channels)}
    table.update({name: list(getattr(rule, name)) for name in _RULE_LISTS if getattr(rule, name)})
    table.update({name: getattr(rule, name) for name in _RULE_AMOUNTS if getattr(rule, name)})
    return table


def set_merchant_routing(
    request: routing_svc.SetMerchantRoutingRequest, service: MerchantRoutingService
) -> dict[str, Any] | None:
    """Validate a SetMerchantRoutingRequest: the chain to store (None: use the default)."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    has_chain = request.HasField("chain")
    if request.use_default and has_chain:
        v.add("chain", "must be unset with use_default")
    elif not request.use_default and not has_chain:
        v.add("chain", "required (or use_default to route by the routing file)")
    v.raise_if_any()
    if request.use_default:
        return None
    table = chain_from_proto(request.chain)
    try:
        service.check(table)
    except RoutingConfigError as error:
        field, problem = error.field, error.problem
        if field == "chain.health.min_success_rate":  # a fraction in the file, bps here
            field, problem = f"{field}_bps", "must be 0 to 10000 basis points"
        raise ValidationError([FieldViolation(field, problem)]) from None
    return table
