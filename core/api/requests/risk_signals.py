"""The optional customer signals a payment request carries for risk scoring."""

from __future__ import annotations

import re

from core.api.requests import fields
from core.api.requests.addresses import canonical_ip
from core.domain.errors import ViolationCollector
from core.domain.payment import RiskContext
from paycore.v1 import payment_pb2 as pb

MAX_DEVICE_ID = 255
_COUNTRY = re.compile("[A-Z]{2}")  # a class, not isupper(): "U1".isupper() is True


def risk_context(v: ViolationCollector, field: str, context: pb.RiskContext) -> RiskContext:
    """Validate the optional customer signals for risk scoring."""
    email = context.customer_email.strip()
    if email and not fields.is_email(email):
        v.add(
            f"{field}.customer_email",
            f"must be an email address of at most {fields.MAX_EMAIL} characters",
        )
    ip_address = ""
    if context.ip_address:
        ip_address = canonical_ip(v, f"{field}.ip_address", context.ip_address)
    if context.ip_country and not _COUNTRY.fullmatch(context.ip_country):
        v.add(f"{field}.ip_country", "must be an ISO 3166-1 alpha-2 code, upper case (e.g. US)")
    if len(context.device_id) > MAX_DEVICE_ID or not fields.visible_ascii(context.device_id):
        v.add(f"{field}.device_id", f"must be at most {MAX_DEVICE_ID} printable ASCII characters")
    return RiskContext(
        customer_email=email.lower(),
        ip_address=ip_address,
        ip_country=context.ip_country,
        device_id=context.device_id,
    )
