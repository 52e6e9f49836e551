"""The ports of the application: what its use cases need from the adapters, as Protocols.

``repository``: the payment store (payments, request_id records, channel attempts, card
tokens, merchants, API keys, audit) and its unit of work. PostgreSQL implements them
(core/storage/), tests use in-memory ones; the application (core/service/, core/risk/,
core/events/service.py) depends on these only. A package of its own, below both, so that
neither the application nor the adapters import each other through it.
"""
