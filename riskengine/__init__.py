"""Inline risk scoring: every payment is scored before the router may send it anywhere.

Pure: features (``riskengine.features``), the rules file compiled to closures
(``riskengine.rules``) and the decision (``riskengine.engine``) import no I/O.
Velocity comes from Redis and lists from PostgreSQL through core/risk/; the
shipped rules are ``riskengine/default_rules.toml``. See riskengine/README.md.
"""

from riskengine.engine import RiskEngine, Verdict
from riskengine.features import FEATURES, MerchantLists, Transaction, Velocity, compute_features
from riskengine.rules import Action, Rule, RulesError, RuleSet, parse_rules

__all__ = [
    "FEATURES",
    "Action",
    "MerchantLists",
    "RiskEngine",
    "Rule",
    "RuleSet",
    "RulesError",
    "Transaction",
    "Velocity",
    "Verdict",
    "compute_features",
    "parse_rules",
]
