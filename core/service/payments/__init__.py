"""Payments: where a payment is scored, routed, sent to a channel and stored.

Each operation is a ``plan``: a function that, inside the request's first
transaction, loads the payment, asks core.domain.lifecycle what is legal, and
writes the decision (and, when money must move, the channel attempt). The
request engine (core/service/execution.py) runs plans exactly once per
request_id, makes the channel call and commits its answer.

A module per use case:

- service.py: ``PaymentService``, the one object the API calls;
- create.py: CreatePayment and ConfirmPayment;
- authorize.py: their authorization path (risk, routing, the channel attempt),
  also taken by a payment a risk review approved;
- capture.py, cancel.py, update.py: CapturePayment, CancelPayment, UpdatePayment;
- refund.py: RefundPayment and the review of held refunds;
- reads.py: GetPayment, ListPayments, ListRefunds;
- steps.py: what the plans share (the locked payment, a channel attempt...).
"""
