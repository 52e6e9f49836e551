"""Scenario 8: kill -9 while slow channel calls are in flight (the simulator over HTTP).

Every payment goes to ``paycore simulator`` answering after ``LATENCY_S``, so at
any moment several calls are at the channel. paycore is killed with SIGKILL
while some are: they never hear back and their attempts stay 'started'. After
the restart the clients' retries of those requests get ``REQUEST_IN_PROGRESS``
until a status query asks the simulator what became of each (after
``status_query.started_grace_s``, the shortest paycore accepts), then the
CreatePayment retries get the payment as it was settled (README "A request cut
off by a crash"). Nothing is ever sent twice: each payment has exactly one
authorization at the channel, and the simulator's own record of it agrees with
the payment's state.
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from core.domain.attempt import Attempt, AttemptOutcome, ChannelOperation
from core.domain.money import Money
from router.channels.http_acquirer import HttpAcquirer
from router.channels.simulated import ACQUIRER_A
from tests.support.polling import eventually

from .conftest import Scenario
from .stack import SIMULATOR_SECRET

LATENCY_S = 1.0

# A payment's state against what the channel says of its one authorization.
CHARGED = {"authorized", "captured", "partially_refunded", "refunded", "canceled"}
EXPECTED = {
    AttemptOutcome.SUCCEEDED: CHARGED,
    AttemptOutcome.DECLINED: {"declined"},
    AttemptOutcome.FAILED: {"failed"},  # the channel never got it: nothing charged
}
NEVER_SENT = {"declined", "failed", "requires_review"}
"""States of a payment that may have no authorization at all (declined or held by risk,
no route)."""


@pytest.fixture
def simulator_args() -> tuple[str, ...]:
    return ("--latency-s", str(LATENCY_S))


@pytest.fixture
def paycore_settings() -> dict[str, str]:
    # The shortest grace paycore accepts above a 2 s channel timeout (core/config/_rules.py).
    return {"PAYCORE_CHANNEL_TIMEOUT_S": "2", "PAYCORE_STATUS_QUERY__STARTED_GRACE_S": "19"}


async def _calls_in_flight(db: asyncpg.Pool, merchant_id: str) -> list[str]:
    rows = await db.fetch(
        "SELECT id FROM channel_attempts WHERE merchant_id = $1 AND outcome = 'started'",
        merchant_id,
    )
    return [row["id"] for row in rows]


async def _channel_disagreements(scenario: Scenario) -> list[str]:
    """Payments whose authorizations at the channel are not exactly one that fits their state."""
    rows = await scenario.db.fetch(
        """
        SELECT p.id, p.state, count(a.id) AS authorizations, min(a.id) AS attempt_id,
               min(a.payment_id) AS payment_id, min(a.amount) AS amount,
               min(a.currency) AS currency
        FROM payments p LEFT JOIN channel_attempts a
          ON a.merchant_id = p.merchant_id AND a.payment_id = p.id AND a.operation = 'authorize'
        WHERE p.merchant_id = $1 GROUP BY p.id, p.state
        """,
        scenario.merchant_id,
    )
    channel = HttpAcquirer(
        ACQUIRER_A.profile,
        f"http://127.0.0.1:{scenario.stack.simulator_port}",
        SIMULATOR_SECRET.encode(),
    )
    limit = asyncio.Semaphore(16)

    async def disagreement(row: asyncpg.Record) -> str | None:
        if row["authorizations"] == 0 and row["state"] in NEVER_SENT:
            return None  # risk declined or held it, or no channel took it: nothing charged
        if row["authorizations"] != 1:
            return f"{row['id']} ({row['state']}) has {row['authorizations']} authorizations"
        attempt = Attempt(
            id=row["attempt_id"],
            merchant_id=scenario.merchant_id,
            payment_id=row["payment_id"],
            operation=ChannelOperation.AUTHORIZE,
            channel=ACQUIRER_A.profile.name,
            amount=Money(row["amount"], row["currency"]),
        )
        async with limit:
            answer = await channel.query(attempt)
        if row["state"] not in EXPECTED.get(answer.outcome, set()):
            return f"{row['id']} is {row['state']}; the channel says {answer.outcome.value}"
        return None

    try:
        found = await asyncio.gather(*(disagreement(row) for row in rows))
    finally:
        await channel.close()
    return [line for line in found if line]


@pytest.mark.timeout(300)  # waits out status_query.started_grace_s after each kill
async def test_kill_9_with_slow_channel_calls_in_flight_charges_once_and_settles_the_rest(
    scenario: Scenario,
) -> None:
    profile = scenario.profile
    # A CreatePayment cut by the kill is answered once a status query settled it (the
    # grace, the restart, a poll): its retries go on for that long. A cut capture or
    # refund is never resumed, so its client gives up after as long.
    load = scenario.load(call_timeout_s=10.0, retry_for_s=40.0)
    cut: set[str] = set()
    for round_ in range(profile.rounds):
        await load.until_journeys(profile.journeys * (2 * round_ + 1), within_s=180)
        in_flight = await eventually(
            lambda: _calls_in_flight(scenario.db, scenario.merchant_id),
            within_s=30,
            what="a channel call in flight",
        )
        await scenario.restart_paycore()
        cut |= set(in_flight)
        await load.until_journeys(profile.journeys * (2 * round_ + 2), within_s=180)
    journal = await load.stop()

    books = await scenario.books(journal, "kill -9 with slow channel calls in flight")

    assert journal.codes["UNAVAILABLE"] > 0  # the clients saw paycore gone, and retried
    assert not await _channel_disagreements(scenario)
    settled_late = [
        a for a in cut if f"attempt {a} on acquirer_a settled late" in scenario.stack.output()
    ]
    assert settled_late, "no call cut by the kill was settled by a status query"
    assert not set(await _calls_in_flight(scenario.db, scenario.merchant_id)) & cut
    # A capture, cancel or refund cut by the kill is not resumed (its reply depends on
    # the channel's answer, which the payment alone does not tell): its retries may run
    # out. A CreatePayment retry always ends with the settled payment.
    creates = {
        rid for rid, r in journal.requests.items() if r.DESCRIPTOR.name == "CreatePaymentRequest"
    }
    assert not journal.unanswered & creates
    assert books.pending == 0
