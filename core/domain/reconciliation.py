"""Reconciliation: a channel's settlement report against paycore's attempts. Pure.

Lines are matched by attempt id (the idempotency key paycore gives the
channel with every call, which the channel reports back). Dispute movements
are lines too, keyed by the channel's own dispute reference (the one its
notifications carry) and their operation: ``chargeback`` (the amount taken
back, expected in the period the dispute was opened in) and
``chargeback_reversal`` (a won dispute's amount returned, expected in the
period it was won in); the ``attempt_id`` column then holds that reference.
Inquiries move no money and have no lines. For each pair, or each line
without a partner, at most one mismatch is reported::

    channel line, no paycore attempt          MISSING_IN_PAYCORE
    paycore says it moved money, no line      MISSING_AT_CHANNEL
    both, amounts or currencies differ        AMOUNT_MISMATCH
    both, the channel's status differs        STATUS_MISMATCH
      (paycore "unknown"/"started" vs a channel success counts: the
       payment is still waiting for what the channel already did)

A paycore attempt that declined or failed and has no line is fine: nothing
moved, and channels leave unprocessed requests out of their reports.

Settlement files are CSV with the header
``attempt_id,operation,amount_minor,currency,status`` (status: succeeded,
declined or failed), as ``parse_settlement_csv`` reads them.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Iterable
from dataclasses import dataclass

from core.domain.errors import FieldViolation, ValidationError

SETTLEMENT_HEADER = ("attempt_id", "operation", "amount_minor", "currency", "status")
CHARGEBACK = "chargeback"
CHARGEBACK_REVERSAL = "chargeback_reversal"
DISPUTE_OPERATIONS = frozenset({CHARGEBACK, CHARGEBACK_REVERSAL})
"""Operations of dispute lines: keyed by dispute reference AND operation (one dispute may
have both lines); every other line by attempt id alone."""


@dataclass(frozen=True, slots=True)
class SettlementLine:
    """One line of a channel's settlement report."""

    attempt_id: str
    """The attempt id; a dispute line's channel dispute reference (``DISPUTE_OPERATIONS``)."""
    operation: str
    amount_minor: int
    currency: str
    status: str


@dataclass(frozen=True, slots=True)
class RecordedAttempt:
    """What paycore recorded for one channel attempt, or one dispute movement."""

    attempt_id: str
    """The attempt id; a dispute movement's channel dispute reference."""
    payment_id: str
    operation: str
    amount_minor: int
    currency: str
    outcome: str
    """started, succeeded, declined, failed or unknown."""


class MismatchKind(enum.Enum):
    """How a report and paycore's records disagree."""

    MISSING_IN_PAYCORE = "missing_in_paycore"
    MISSING_AT_CHANNEL = "missing_at_channel"
    AMOUNT_MISMATCH = "amount_mismatch"
    STATUS_MISMATCH = "status_mismatch"


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One disagreement, with both sides as far as they exist."""

    kind: MismatchKind
    attempt_id: str
    channel_line: SettlementLine | None
    recorded: RecordedAttempt | None


def reconcile(
    report: Iterable[SettlementLine], records: Iterable[RecordedAttempt]
) -> list[Mismatch]:
    """Every mismatch between ``report`` and ``records``, ordered by attempt id."""
    lines = {_key(line.attempt_id, line.operation): line for line in report}
    recorded = {_key(r.attempt_id, r.operation): r for r in records}
    found: list[Mismatch] = []
    for key in sorted(lines.keys() | recorded.keys()):
        kind = _compare(lines.get(key), recorded.get(key))
        if kind is not None:
            found.append(Mismatch(kind, key[0], lines.get(key), recorded.get(key)))
    return found


def _key(reference: str, operation: str) -> tuple[str, str]:
    """What a line is matched by: its attempt id, or a dispute's reference and operation."""
    return (reference, operation if operation in DISPUTE_OPERATIONS else "")


def _compare(line: SettlementLine | None, record: RecordedAttempt | None) -> MismatchKind | None:
    if record is None:
        return MismatchKind.MISSING_IN_PAYCORE
    if line is None:
        # Only what paycore believes moved money must be in the report; an
        # unknown attempt the channel never saw is settled by a status query.
        return MismatchKind.MISSING_AT_CHANNEL if record.outcome == "succeeded" else None
    if (line.amount_minor, line.currency) != (record.amount_minor, record.currency):
        return MismatchKind.AMOUNT_MISMATCH
    if line.status != record.outcome:
        return MismatchKind.STATUS_MISMATCH
    return None


def parse_settlement_csv(text: str) -> list[SettlementLine]:
    """Read a settlement CSV (see the module docstring); INVALID_ARGUMENT naming bad lines."""
    reader = csv.reader(io.StringIO(text))
    header = tuple(next(reader, ()))
    if header != SETTLEMENT_HEADER:
        raise ValidationError([FieldViolation("header", f"must be {','.join(SETTLEMENT_HEADER)}")])
    lines: list[SettlementLine] = []
    violations: list[FieldViolation] = []
    for number, row in enumerate(reader, start=2):
        if not row:
            continue
        try:
            attempt_id, operation, amount, currency, status = row
            lines.append(SettlementLine(attempt_id, operation, int(amount), currency, status))
        except ValueError:
            violations.append(FieldViolation(f"line {number}", "5 fields, amount_minor an integer"))
    if violations:
        raise ValidationError(violations)
    return lines


def settlement_csv(lines: Iterable[SettlementLine]) -> str:
    """Write a settlement CSV (what a channel would send)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SETTLEMENT_HEADER)
    for line in lines:
        writer.writerow(
            (line.attempt_id, line.operation, line.amount_minor, line.currency, line.status)
        )
    return out.getvalue()
