"""The ports of the application: what its use cases need from the adapters, as Protocols.

- ``repository``: the payment store (payments, request_id records, channel attempts, card
  tokens, merchants, API keys, audit) and its unit of work; PostgreSQL implements it
  (core/storage/);
- ``ledger``: accounts, journal postings and withdrawals (PostgreSQL);
- ``risk``: velocity counters (Redis) and block/allow lists and reviews (PostgreSQL);
- ``routing``: merchants' own routing chains (PostgreSQL);
- ``status_queries``: unresolved channel attempts, leased and settled (PostgreSQL);
- ``webhooks``: webhook endpoints, their deliveries and the events (PostgreSQL);
- ``telemetry``: spans and counts of the application's work (OpenTelemetry).

Tests use in-memory implementations (tests/support/memory*.py). The application
(core/service/, core/risk/, core/service/webhooks.py) depends on these; a package of its own,
below both, so that neither the application nor the adapters import each other through it.
"""
