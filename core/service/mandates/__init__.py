"""Mandates (issue 20): saved payment methods and the customer's consent to be charged later.

- setup.py: SetupPaymentMethod, a customer-present verification at a channel
  (authorized, then voided) that records a mandate, exactly once per request_id;
- service.py: ``MandateService``, the one object the API calls (setup, revoke,
  list a customer's saved methods).

The merchant-initiated charge itself is a payment: CreatePayment's mandate
check step is core/service/payments/mandate_charge.py; the rules are
core/domain/mandates.py.
"""
