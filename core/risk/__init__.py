"""Risk around the pure engine: velocity in Redis, screening, the rules file.

The scoring itself is ``riskengine/`` (pure); this package feeds it: velocity
(``velocity``), the lists cache and the review hold (``screen``), the rules
file watcher (``rules_file``) and the values they share (``records``). The
risk back office (dry runs, the review queue, the lists) is an application
module: ``core/service/risk_back_office.py``.
"""
