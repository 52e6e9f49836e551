"""Protobuf requests -> validated domain commands, one module per feature.

Every check names the offending field (a path in the request message) and all
of a request's mistakes are reported together in one INVALID_ARGUMENT. Nothing
is written for a request that fails here: validation runs before the
idempotency claim, which is also why validation failures are not stored
against the request_id (Stripe's rule).

``fields`` holds the checks every request shares (ids, text, money, metadata);
``payment_methods``, ``risk_signals``, ``pages``, ``digits`` and ``addresses``
the ones several features share; each other module validates one service's
requests (payments, refunds, accounts, webhooks, access, risk, vault, routing,
merchant settings). ``fingerprint`` keys a request for idempotency.
"""
