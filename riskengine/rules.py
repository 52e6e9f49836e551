"""The rules file: TOML a risk analyst can read, compiled once into closures (pure).

A rules file looks like this (the shipped one is ``riskengine/default_rules.toml``)::

    [thresholds]
    step_up = 30          # optional: step_up <= score < review -> STEP_UP (absent: off)
    review = 50           # score >= review  -> REVIEW
    decline = 80          # score >= decline -> DECLINE

    [bin_countries]       # BIN prefix -> issuer country (longest prefix wins)
    "424242" = "US"

    [[rule]]
    id = "card_testing"                     # lower_snake, unique; reported as a reason
    description = "Many declines on one card within the hour"
    when = [["card_declines_1h", ">=", 3], ["amount", "<", 1000]]   # all must hold
    when_any = [["has_ip", "==", true]]     # optional: at least one must hold
    score = 40                              # added to the score (0-100, capped)
    action = "block"                        # optional: block | review | allow | exempt
    mode = "live"                           # or "shadow": evaluated and logged, no effect

A condition is ``[feature, operator, operand]``: the feature must be one of
``riskengine.features.FEATURES``; the operator one of ``== != < <= > >= in
not_in``; the operand a literal of the feature's type, a list for ``in`` /
``not_in``, or ``{ feature = "other" }`` to compare two features. Nothing in
the file is ever evaluated as code: each condition becomes a closure over
``operator`` functions, checked for types when the file loads.

Loading is all or nothing: ``parse_rules`` raises ``RulesError`` listing every
problem, and the caller keeps the rules it had (see ``riskengine.reload``).
"""

from __future__ import annotations

import enum
import operator
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.domain.digits import is_ascii_digits
from riskengine.features import FEATURES, FeatureValue

Features = Mapping[str, FeatureValue]
Predicate = Callable[[Features], bool]

_RULE_ID = re.compile(r"[a-z][a-z0-9_]{0,63}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_ORDERED = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_EQUALITY = {"==": operator.eq, "!=": operator.ne}
OPERATORS = (*_EQUALITY, *_ORDERED, "in", "not_in")

# The compiled form of ``feature <op> literal``: the comparison written out in the
# closure, one call per condition instead of a call of the operator's function too
# (every rule runs on every payment). Features are ints, strs and bools, whose
# comparisons give bools: what ``bool(operator.xx(...))`` gave.
_WITH_LITERAL: dict[str, Callable[[str, Any], Predicate]] = {
    "==": lambda name, value: lambda f: f[name] == value,
    "!=": lambda name, value: lambda f: f[name] != value,
    "<": lambda name, value: lambda f: f[name] < value,
    "<=": lambda name, value: lambda f: f[name] <= value,
    ">": lambda name, value: lambda f: f[name] > value,
    ">=": lambda name, value: lambda f: f[name] >= value,
}
_RULE_KEYS = frozenset({"id", "description", "when", "when_any", "score", "action", "mode"})
_TOP_KEYS = frozenset({"thresholds", "bin_countries", "rule"})


class RulesError(ValueError):
    """A rules file that cannot be used; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class Action(enum.Enum):
    """A rule's hard action, beyond its score."""

    NONE = ""
    BLOCK = "block"
    REVIEW = "review"
    ALLOW = "allow"
    EXEMPT = "exempt"
    """Spares the customer a step-up (low value, merchant-initiated, trusted), nothing else."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule."""

    id: str
    applies: Predicate
    score: int = 0
    action: Action = Action.NONE
    shadow: bool = False
    description: str = ""


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A loaded rules file: rules in file order, thresholds and the BIN table."""

    rules: tuple[Rule, ...]
    review_threshold: int = 50
    decline_threshold: int = 80
    step_up_threshold: int = 0
    """A score from here up to the review threshold asks for authentication (0: never)."""
    bin_countries: Mapping[str, str] = field(default_factory=dict)
    source: str = ""
    """Where the rules came from (a path), for logs."""


def _type_name(kind: type) -> str:
    return {int: "an integer", str: "a string", bool: "true or false"}[kind]


def _literal_ok(kind: type, value: Any) -> bool:
    # bool is an int in Python; a boolean feature takes only true/false and
    # an integer feature never takes true/false.
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _compile_condition(where: str, raw: Any, problems: list[str]) -> Predicate | None:
    if not (isinstance(raw, list) and len(raw) == 3 and isinstance(raw[0], str)):
        problems.append(f"{where}: a condition is [feature, operator, operand]")
        return None
    name, op, operand = raw
    kind = FEATURES.get(name)
    if kind is None:
        problems.append(f"{where}: unknown feature {name!r}")
        return None
    if op not in OPERATORS:
        problems.append(f"{where}: unknown operator {op!r} (use one of {', '.join(OPERATORS)})")
        return None
    if op in _ORDERED and kind is not int:
        problems.append(f"{where}: {op} needs an integer feature; {name} is not")
        return None
    if op in ("in", "not_in"):
        if not (isinstance(operand, list) and all(_literal_ok(kind, v) for v in operand)):
            problems.append(f"{where}: {op} needs a list of {_type_name(kind)} values")
            return None
        members = frozenset(operand)
        if op == "in":
            return lambda f: f[name] in members
        return lambda f: f[name] not in members
    compare = _ORDERED.get(op) or _EQUALITY[op]
    if isinstance(operand, dict):
        other = operand.get("feature")
        if (
            not isinstance(other, str)
            or set(operand) != {"feature"}
            or FEATURES.get(other) is not kind
        ):
            problems.append(f"{where}: {{feature = ...}} must name a feature of the same type")
            return None
        return lambda f: bool(compare(f[name], f[other]))
    if not _literal_ok(kind, operand):
        problems.append(f"{where}: {name} is compared with {_type_name(kind)}")
        return None
    return _WITH_LITERAL[op](name, operand)


def _all(predicates: list[Predicate]) -> Predicate:
    if len(predicates) == 1:
        return predicates[0]
    if len(predicates) == 2:
        first, second = predicates
        return lambda f: first(f) and second(f)
    chain = tuple(predicates)
    return lambda f: all(p(f) for p in chain)


def _any(predicates: list[Predicate]) -> Predicate:
    chain = tuple(predicates)
    return lambda f: any(p(f) for p in chain)


def _conditions(where: str, raw: Any, problems: list[str]) -> list[Predicate] | None:
    if not isinstance(raw, list) or not raw:
        problems.append(f"{where}: must be a non-empty list of conditions")
        return None
    compiled = [_compile_condition(f"{where}[{i}]", item, problems) for i, item in enumerate(raw)]
    if any(c is None for c in compiled):
        return None
    return [c for c in compiled if c is not None]


def _compile_rule(index: int, raw: Any, seen: set[str], problems: list[str]) -> Rule | None:
    where = f"rule[{index}]"
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a table")
        return None
    rule_id = raw.get("id")
    if not (isinstance(rule_id, str) and _RULE_ID.fullmatch(rule_id)):
        problems.append(f"{where}: id must be lower_snake_case, 1 to 64 characters")
        return None
    where = f"rule {rule_id!r}"
    if rule_id in seen:
        problems.append(f"{where}: duplicate id")
    seen.add(rule_id)
    before = len(problems)
    unknown = sorted(set(raw) - _RULE_KEYS)
    if unknown:
        problems.append(f"{where}: unknown keys {unknown}")
    score = raw.get("score", 0)
    if not (_literal_ok(int, score) and -100 <= score <= 100):
        problems.append(f"{where}: score must be an integer from -100 to 100")
    try:
        action = Action(raw.get("action", ""))
    except ValueError:
        problems.append(f"{where}: action must be block, review, allow or exempt")
        action = Action.NONE
    mode = raw.get("mode", "live")
    if mode not in ("live", "shadow"):
        problems.append(f"{where}: mode must be live or shadow")
    if score == 0 and action is Action.NONE:
        problems.append(f"{where}: a rule needs a score or an action")
    description = raw.get("description", "")
    if not isinstance(description, str):
        problems.append(f"{where}: description must be a string")
    predicates = []
    if "when" not in raw and "when_any" not in raw:
        problems.append(f"{where}: needs when and/or when_any")
    if "when" in raw:
        predicates = _conditions(f"{where}.when", raw["when"], problems) or []
    if "when_any" in raw:
        either = _conditions(f"{where}.when_any", raw["when_any"], problems)
        if either:
            predicates.append(_any(either))
    if len(problems) > before or not predicates:
        return None
    return Rule(
        id=rule_id,
        applies=_all(predicates),
        score=score,
        action=action,
        shadow=mode == "shadow",
        description=description,
    )


def _thresholds(raw: Any, problems: list[str]) -> tuple[int, int, int]:
    """(step_up, review, decline); step_up 0 when the file sets none."""
    if not isinstance(raw, dict):
        problems.append("thresholds: must be a table")
        return 0, 50, 80
    review, decline = raw.get("review", 50), raw.get("decline", 80)
    step_up = raw.get("step_up", 0)
    unknown = sorted(set(raw) - {"step_up", "review", "decline"})
    if unknown:
        problems.append(f"thresholds: unknown keys {unknown}")
    if not (_literal_ok(int, review) and _literal_ok(int, decline) and 0 < review <= decline):
        problems.append("thresholds: need integers with 0 < review <= decline")
        return 0, 50, 80
    if not (_literal_ok(int, step_up) and 0 <= step_up <= review):
        problems.append("thresholds: step_up needs an integer with 0 <= step_up <= review")
        return 0, review, decline
    return step_up, review, decline


def _bin_countries(raw: Any, problems: list[str]) -> dict[str, str]:
    if not isinstance(raw, dict):
        problems.append("bin_countries: must be a table")
        return {}
    table: dict[str, str] = {}
    for prefix, country in raw.items():
        if not is_ascii_digits(prefix, 1, 8):
            problems.append(f"bin_countries: {prefix!r} is not 1 to 8 ASCII digits 0-9")
        elif not (isinstance(country, str) and _COUNTRY.fullmatch(country)):
            problems.append(f"bin_countries: {prefix} needs a two-letter upper-case country")
        else:
            table[prefix] = country
    return table


def parse_rules(text: str, source: str = "") -> RuleSet:
    """Parse and compile a rules file, or raise RulesError naming every problem."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError([f"not valid TOML: {exc}"]) from None
    problems: list[str] = []
    unknown = sorted(set(document) - _TOP_KEYS)
    if unknown:
        problems.append(f"unknown top-level keys {unknown}")
    step_up, review, decline = _thresholds(document.get("thresholds", {}), problems)
    countries = _bin_countries(document.get("bin_countries", {}), problems)
    raw_rules = document.get("rule", [])
    if not isinstance(raw_rules, list) or not raw_rules:
        problems.append("no [[rule]] entries")
        raw_rules = []
    seen: set[str] = set()
    rules = [_compile_rule(i, raw, seen, problems) for i, raw in enumerate(raw_rules)]
    if problems:
        raise RulesError(problems)
    return RuleSet(
        rules=tuple(r for r in rules if r is not None),
        review_threshold=review,
        decline_threshold=decline,
        step_up_threshold=step_up,
        bin_countries=countries,
        source=source,
    )
