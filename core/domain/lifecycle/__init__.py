"""The payment state machine: the only place that decides which transition is legal.

Every function here is pure: it takes a Payment (and a channel's answer or a
request's amount) and returns a new Payment or raises a PaycoreError from the
catalog. The service layer calls these inside a database transaction holding
the payment's row lock, so a decision and its write are never separated.

Operations that talk to a channel run in two steps, ``begin_*`` (committed
before the channel is called: it marks the operation in flight) and
``complete_*`` (committed with the channel's answer). See
``Payment.operation_in_flight`` for why.

Callers use this package's names (``lifecycle.plan_refund``); its modules
split the machine by what each decides:

- ``_transitions``: which operation each state allows (``TRANSITIONS``, ``require``);
- ``_authorization``: confirmation, risk's verdict, the channel's answer to an authorization;
- ``_customer_action``: a 3-D Secure challenge: opened, completed, failed, abandoned;
- ``_redirects``: a redirect wallet's customer deciding on the wallet's page;
- ``_verification``: a verification code: sent, entered right or wrong, locked out, expired;
- ``_capture`` and ``_cancel``: capturing an authorized payment, or releasing it by a void;
- ``_refunds``: refunds, their review and the channel's answer;
- ``_late_answers``: a status query's or notification's answer to an attempt left unknown;
- ``_details``: description, metadata and (before confirmation) amount.
"""

from core.domain.lifecycle._authorization import (
    begin_authorization,
    complete_authorization,
    decline_for_risk,
    fail_unroutable,
    hold_for_review,
    reject_review,
    reroute_authorization,
)
from core.domain.lifecycle._cancel import begin_void, cancel_unconfirmed, complete_void, needs_void
from core.domain.lifecycle._capture import begin_capture, complete_capture, plan_capture
from core.domain.lifecycle._customer_action import (
    abandon_challenge,
    authenticate_frictionless,
    challenge_expired,
    challenge_open,
    complete_challenge,
    decline_unauthenticated,
    require_action,
)
from core.domain.lifecycle._details import update_details
from core.domain.lifecycle._late_answers import awaits_answer, resolve_attempt
from core.domain.lifecycle._redirects import awaits_wallet_customer
from core.domain.lifecycle._refunds import (
    approve_refund,
    begin_refund,
    complete_refund,
    hold_refund,
    plan_refund,
    reject_refund,
)
from core.domain.lifecycle._transitions import TRANSITIONS, require
from core.domain.lifecycle._verification import (
    abandon_code,
    accept_code,
    code_expired,
    code_open,
    decline_unfunded,
    reject_code,
    require_code,
)

__all__ = [
    "TRANSITIONS",
    "abandon_challenge",
    "abandon_code",
    "accept_code",
    "approve_refund",
    "authenticate_frictionless",
    "awaits_answer",
    "awaits_wallet_customer",
    "begin_authorization",
    "begin_capture",
    "begin_refund",
    "begin_void",
    "cancel_unconfirmed",
    "challenge_expired",
    "challenge_open",
    "code_expired",
    "code_open",
    "complete_authorization",
    "complete_capture",
    "complete_challenge",
    "complete_refund",
    "complete_void",
    "decline_for_risk",
    "decline_unauthenticated",
    "decline_unfunded",
    "fail_unroutable",
    "hold_for_review",
    "hold_refund",
    "needs_void",
    "plan_capture",
    "plan_refund",
    "reject_code",
    "reject_refund",
    "reject_review",
    "require",
    "require_action",
    "require_code",
    "reroute_authorization",
    "resolve_attempt",
    "update_details",
]
