"""Scenario 5: the client's deadline expires while the server goes on to commit.

The simulator answers every call after 0.8 s; clients give each call 0.3 s. The
first call of every request ends DEADLINE_EXCEEDED on the client while paycore
finishes it; the retry (same request_id) is told REQUEST_IN_PROGRESS until the
commit, then gets the committed answer, and the channel was called once.
"""

from __future__ import annotations

import pytest

from .conftest import Scenario


@pytest.fixture
def simulator_args() -> tuple[str, ...]:
    return ("--latency-s", "0.8")


async def test_a_retry_after_the_deadline_gets_the_committed_answer(scenario: Scenario) -> None:
    profile = scenario.profile
    load = scenario.load(call_timeout_s=0.3)
    await load.until_journeys(profile.journeys * profile.rounds)
    journal = await load.stop()

    books = await scenario.books(journal, "client deadline before the commit")

    late = [
        rid
        for rid, answers in journal.answers.items()
        if answers[0].code.name == "DEADLINE_EXCEEDED"
    ]
    assert late, "no call outlived its deadline"
    assert all(journal.answered(rid) for rid in late), "a retry never got its answer"
    calls = await scenario.db.fetch(
        "SELECT payment_id, operation, refund_id, count(*) AS n FROM channel_attempts"
        " WHERE merchant_id = $1 GROUP BY payment_id, operation, refund_id HAVING count(*) > 1"
        " AND operation <> 'refund'",
        scenario.merchant_id,
    )
    assert not calls, f"the channel was called twice: {calls}"
    assert books.unanswered == 0
