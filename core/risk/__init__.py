"""Risk around the pure engine: screening and the rules file.

The scoring itself is ``riskengine/`` (pure); this package feeds it: the lists
cache, velocity through its port and the review hold (``screen``), and the rules
file watcher (``rules_file``). Its ports are core/ports/risk.py (Redis and
PostgreSQL implement them), its values core/domain/risk_records.py. The risk back
office (dry runs, the review queue, the lists) is an application module:
``core/service/risk_back_office.py``.
"""
