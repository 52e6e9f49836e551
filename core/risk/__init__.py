"""Risk around the pure engine: velocity in Redis, screening, the rules file, the back office.

The scoring itself is ``riskengine/`` (pure); this package feeds it (velocity,
lists, reviews) and exposes the risk back office.
"""
