"""Quality of the shipped risk rules on a labeled synthetic stream (riskengine/synthetic.py).

Replays the stream through the real scoring path (velocity in Redis, read
and updated by the one script, with the stream's own timestamps; features;
the default rules), feeds issuer declines back like the payment service
does, and reports precision, recall and false-positive rate of "flagged"
(REVIEW or DECLINE) against the labels, with recall per fraud pattern.

``--step-up N`` switches risk-based step-up on (``thresholds.step_up = N`` over the
shipped rules, their ``exempt_*`` rules included). A stepped-up payment is
"flagged" when its customer does not pass authentication, under two stated
assumptions, since the stream cannot authenticate anyone: a fraudster never
passes (the stolen card's owner has the phone and the issuer's app, the
fraudster has neither), and a legitimate customer passes with probability
``--legit-pass`` (default 0.95; customers abandon or fail some challenges), drawn
from a seeded generator. A stepped-up payment that passes reaches the issuer
(its declines are fed back); one that fails does not.

    PYTHONPATH=clients/python:. python -m bench.risk_quality [--customers 300] [--seed 7]
    PYTHONPATH=clients/python:. python -m bench.risk_quality --step-up 20

Redis: ``PAYCORE_BENCH_REDIS_URL``, else an embedded one in a temporary
directory. Keys are written under a fresh ``bench_risk_*`` merchant.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import random
import sys
import tempfile
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import redis.asyncio as aioredis

from bench.record import append_result
from core.config import RiskSettings, Settings
from core.domain.payment import RiskDecision
from core.redis.velocity import RedisVelocity
from core.risk.rules_file import default_rules_path, load_rules
from core.runtime.embedded import start_embedded
from riskengine import NO_LISTS, RiskEngine, screen
from riskengine.synthetic import PATTERNS, LabeledTransaction, generate

HEADING = "## Risk rules quality"


@dataclass(frozen=True, slots=True)
class StepUp:
    """How the stream's stepped-up customers are assumed to fare (see the module docstring)."""

    legit_pass: float = 0.95
    """Share of legitimate customers who pass authentication."""
    seed: int = 0


@dataclass(slots=True)
class Quality:
    """A confusion matrix of flagged (REVIEW/DECLINE) vs fraud, and per-pattern detail."""

    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0
    flagged_by_pattern: Counter[str] = field(default_factory=Counter)
    total_by_pattern: Counter[str] = field(default_factory=Counter)
    decisions: Counter[str] = field(default_factory=Counter)
    stepped_up_legit_passed: int = 0
    stepped_up_legit_failed: int = 0

    @property
    def precision(self) -> float:
        """Share of flagged payments that were fraud."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        """Share of fraud that was flagged."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def false_positive_rate(self) -> float:
        """Share of legitimate payments that were flagged."""
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0

    def pattern_recall(self) -> dict[str, float]:
        """Flagged share of each pattern (for ``legit``: the false-positive rate)."""
        return {
            p: self.flagged_by_pattern[p] / self.total_by_pattern[p]
            for p in PATTERNS
            if self.total_by_pattern[p]
        }


async def evaluate(
    velocity: RedisVelocity,
    engine: RiskEngine,
    stream: list[LabeledTransaction],
    settings: RiskSettings | None = None,
    step_up: StepUp | None = None,
) -> Quality:
    """Score the stream in order, as the service would, and compare with the labels.

    ``step_up``: how stepped-up customers fare (needed when ``engine`` steps up).
    """
    settings = settings or RiskSettings()
    quality = Quality()
    passes = random.Random(step_up.seed) if step_up else None
    for i, event in enumerate(stream):
        member = f"s{i}"
        read = await velocity.read_and_count(
            event.transaction, member, write=True, now_ms=event.at_ms
        )
        decision = screen(engine, settings, event.transaction, read.velocity, NO_LISTS)
        outcome = decision.verdict.assessment.decision
        let_through = outcome is RiskDecision.APPROVE
        if outcome is RiskDecision.STEP_UP:
            assert step_up is not None and passes is not None  # only with a step-up threshold
            # The stated assumptions: a fraudster never passes; a customer passes at legit_pass.
            let_through = not event.fraud and passes.random() < step_up.legit_pass
            if not event.fraud:
                quality.stepped_up_legit_passed += let_through
                quality.stepped_up_legit_failed += not let_through
        flagged = not let_through
        if let_through and event.issuer_declines:
            # What the payment service does after the channel declined.
            await velocity.record_decline(event.transaction, member, now_ms=event.at_ms)
        quality.decisions[outcome.name] += 1
        quality.total_by_pattern[event.pattern] += 1
        quality.flagged_by_pattern[event.pattern] += flagged
        if event.fraud:
            quality.tp += flagged
            quality.fn += not flagged
        else:
            quality.fp += flagged
            quality.tn += not flagged
    return quality


async def measure(  # noqa: PLR0917
    redis_url: str,
    customers: int,
    attacks: int,
    seed: int,
    step_up_threshold: int = 0,
    step_up: StepUp | None = None,
) -> Quality:
    """Generate, replay and evaluate one stream against the Redis at ``redis_url``.

    ``step_up_threshold``: the shipped rules' ``thresholds.step_up`` (0: off, as shipped).
    """
    client = aioredis.from_url(redis_url)
    try:
        velocity = RedisVelocity(client, retry_interval_s=1.0)
        rules = dataclasses.replace(
            load_rules(default_rules_path()), step_up_threshold=step_up_threshold
        )
        engine = RiskEngine(rules)
        stream = generate(
            f"bench_risk_{uuid.uuid4().hex[:10]}", customers=customers, attacks=attacks, seed=seed
        )
        return await evaluate(velocity, engine, stream, step_up=step_up)
    finally:
        await client.aclose()


def main(argv: list[str] | None = None) -> None:
    """Run, print and append the figures to bench/RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--attacks", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--step-up", type=int, default=0, help="thresholds.step_up over the shipped rules"
    )
    parser.add_argument(
        "--legit-pass",
        type=float,
        default=0.95,
        help="assumed share of stepped-up legitimate customers who pass authentication",
    )
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args(argv)
    redis_url = os.environ.get("PAYCORE_BENCH_REDIS_URL")
    embedded = None
    if not redis_url:
        data = Path(tempfile.mkdtemp(prefix="paycore-bench-risk-"))
        embedded = start_embedded(Settings(data_dir=data, postgres_dsn="postgresql://unused"))
        redis_url = embedded.redis_url
    try:
        step_up = StepUp(args.legit_pass, args.seed) if args.step_up else None
        quality = asyncio.run(
            measure(redis_url, args.customers, args.attacks, args.seed, args.step_up, step_up)
        )
    finally:
        if embedded is not None:
            embedded.stop()
    fraud = quality.tp + quality.fn
    legit = quality.fp + quality.tn
    per_pattern = ", ".join(f"{p} {r:.0%}" for p, r in quality.pattern_recall().items())
    if args.step_up:
        per_pattern += (
            f"; step-up {args.step_up}, legit pass assumed {args.legit_pass:.0%}: stepped-up "
            f"legit {quality.stepped_up_legit_passed} passed, "
            f"{quality.stepped_up_legit_failed} failed; stepped-up fraud all stopped (assumed)"
        )
    print(
        f"payments {fraud + legit} (fraud {fraud}, legit {legit}); "
        f"precision {quality.precision:.3f}, recall {quality.recall:.3f}, "
        f"false-positive rate {quality.false_positive_rate:.4f}\n"
        f"flagged by pattern: {per_pattern}\ndecisions: {dict(quality.decisions)}"
    )
    if args.no_record:
        return
    argv_used = argv if argv is not None else sys.argv[1:]
    append_result(
        HEADING,
        "bench.risk_quality",
        argv_used,
        [
            f"{fraud + legit} ({fraud} fraud)",
            f"{quality.precision:.3f}",
            f"{quality.recall:.3f}",
            f"{quality.false_positive_rate:.4f}",
            f"flagged: {per_pattern}; decisions {dict(quality.decisions)}",
        ],
    )


if __name__ == "__main__":
    main()
