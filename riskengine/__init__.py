"""Inline risk scoring: every payment is scored before the router may send it anywhere.

``RiskEngine.assess`` is a pure function of the transaction and the rules; it
imports no I/O. The risk issue grows it with velocity features (from Redis),
a declarative rules file and a review queue.
"""

from riskengine.engine import RiskEngine, Transaction

__all__ = ["RiskEngine", "Transaction"]
