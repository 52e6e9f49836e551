"""paycore's screening around the risk engine: its merchants' lists, reviews and rules file.

The engine, whole, is ``riskengine/`` (features, rules, scoring, and the port its
velocity store implements); this package is paycore's own use of it: ``screen``
(``RiskScreen``: the velocity read through the engine's port, the merchants'
block/allow lists from PostgreSQL behind an in-process cache, the review hold that
seals a held payment's card in the vault) and ``rules_file`` (the rules file on disk,
reloaded and audited). Its ports are core/ports/risk.py, its values
core/domain/risk_records.py. The risk back office (dry runs, the review queue, the
lists) is an application module: ``core/service/risk_back_office.py``.
"""
