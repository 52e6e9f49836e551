"""The risk engine: every payment is scored before the router may send it anywhere.

This package is the engine, whole, and the rest of paycore uses it through the names
below (``from riskengine import ...``), not through its modules:

- what is scored: ``Transaction``, its ``Velocity`` and the merchant's ``MerchantLists``
  -> ``compute_features`` (``riskengine.features``);
- the rules file compiled to closures (``parse_rules``, ``RuleSet``; ``riskengine.rules``)
  and the decision (``RiskEngine.assess`` -> ``Verdict``; ``riskengine.engine``);
- one transaction's screening, features and verdict together (``screen`` -> ``Screening``;
  ``riskengine.screening``);
- the port its velocity store implements (``VelocityStore`` -> ``VelocityRead``;
  ``riskengine.ports``): Redis implements it (core/redis/velocity.py).

Pure: nothing here does I/O. paycore's own use of risk (the merchants' lists in
PostgreSQL and their cache, the review queue, the rules file on disk) is core/risk/;
the shipped rules are ``riskengine/default_rules.toml``. See riskengine/README.md.
"""

from riskengine.engine import RiskEngine, Verdict, refund_needs_a_look
from riskengine.features import (
    DECLINE_ENTITIES,
    DECLINE_WINDOWS,
    ENTITIES,
    FEATURES,
    LOST_DISPUTE_DAYS,
    LOST_DISPUTE_ENTITIES,
    NO_LISTS,
    UNAVAILABLE,
    WINDOWS,
    FeatureSettings,
    FeatureValue,
    MerchantLists,
    Transaction,
    Velocity,
    compute_features,
)
from riskengine.ports import VelocityRead, VelocityStore
from riskengine.rules import Action, Rule, RulesError, RuleSet, parse_rules
from riskengine.screening import (
    Screening,
    ScreeningConfig,
    merge_lists,
    screen,
    static_lists,
)

__all__ = [
    "DECLINE_ENTITIES",
    "DECLINE_WINDOWS",
    "ENTITIES",
    "FEATURES",
    "LOST_DISPUTE_DAYS",
    "LOST_DISPUTE_ENTITIES",
    "NO_LISTS",
    "UNAVAILABLE",
    "WINDOWS",
    "Action",
    "FeatureSettings",
    "FeatureValue",
    "MerchantLists",
    "RiskEngine",
    "Rule",
    "RuleSet",
    "RulesError",
    "Screening",
    "ScreeningConfig",
    "Transaction",
    "Velocity",
    "VelocityRead",
    "VelocityStore",
    "Verdict",
    "compute_features",
    "merge_lists",
    "parse_rules",
    "refund_needs_a_look",
    "screen",
    "static_lists",
]
