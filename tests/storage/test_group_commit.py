"""Group commit of new payments' first transactions (issue 18): one statement, per-row outcomes.

Against the real PostgreSQL: a request_id already claimed fails alone, not its
batch; the others' payments, attempts, request records and events commit, the
events numbered per merchant without gaps. (Creates sharing statements through
the real server: tests/idempotency/test_round_trips.py.)
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from core.app import Services
from tests.support.payments import AT, new_claim


def claimed(outcomes: list[int | None] | None) -> bool:
    """Whether ``commit_new_claims`` claimed its one claim (a version: claimed)."""
    assert outcomes is not None
    (version,) = outcomes
    return version is not None


async def test_a_request_id_already_claimed_fails_alone_not_its_batch(
    services: Services,
) -> None:
    merchant, other = f"gc_{uuid.uuid4().hex[:10]}", f"gc_{uuid.uuid4().hex[:10]}"
    taken = new_claim(merchant, "taken")
    assert claimed(await services.repository.commit_new_claims([taken], AT - timedelta(days=1)))
    batch = [
        new_claim(merchant, "first"),
        new_claim(merchant, "taken"),  # the same request_id again: a retry, or a reuse
        new_claim(other, "second", answered=True),
        new_claim(merchant, "third"),
    ]

    outcomes = await services.repository.commit_new_claims(batch, AT - timedelta(days=1))
    assert outcomes is not None

    assert [version is not None for version in outcomes] == [True, False, True, True]
    # Each claimed payment's version is its row's xmin: what its answer's statement
    # checks (core/storage/answer_batch.py).
    versions = await services.pool.fetch(
        "SELECT id, xmin::text::bigint AS version FROM payments WHERE merchant_id = ANY($1)",
        [merchant, other],
    )
    found = {r["id"]: r["version"] for r in versions}
    assert [found.get(c.payment.id) for c in batch if c.key.request_id != "taken"] == [
        outcomes[0],
        outcomes[2],
        outcomes[3],
    ]
    pool = services.pool
    stored = {
        r["id"]
        for r in await pool.fetch(
            "SELECT id FROM payments WHERE merchant_id = ANY($1)", [merchant, other]
        )
    }
    assert stored == {
        taken.payment.id,
        batch[0].payment.id,
        batch[2].payment.id,
        batch[3].payment.id,
    }
    record = await pool.fetchrow(
        "SELECT resource_id, state FROM idempotency_keys"
        " WHERE merchant_id = $1 AND request_id = $2",
        merchant,
        "taken",
    )
    assert (record["resource_id"], record["state"]) == (taken.payment.id, "in_progress")
    answered = await pool.fetchrow(
        "SELECT state, reply_ok, reply FROM idempotency_keys WHERE merchant_id = $1",
        other,
    )
    assert (answered["state"], answered["reply_ok"], bytes(answered["reply"])) == (
        "completed",
        True,
        b"answered",
    )
    attempts = await pool.fetch(
        "SELECT payment_id FROM channel_attempts WHERE merchant_id = $1", merchant
    )
    assert {a["payment_id"] for a in attempts} == {
        taken.payment.id,
        batch[0].payment.id,
        batch[3].payment.id,
    }
    # Numbered per merchant, without gaps, in the batch's order.
    events = await pool.fetch(
        "SELECT merchant_id, sequence, resource_id FROM events"
        " WHERE merchant_id = ANY($1) ORDER BY merchant_id, sequence",
        [merchant, other],
    )
    numbered = [(e["merchant_id"], e["sequence"], e["resource_id"]) for e in events]
    assert [(n, r) for m, n, r in numbered if m == merchant] == [
        (1, taken.payment.id),
        (2, batch[0].payment.id),
        (3, batch[3].payment.id),
    ]
    # Created and failed at once: two events, numbered 1 and 2.
    assert [(n, r) for m, n, r in numbered if m == other] == [
        (1, batch[2].payment.id),
        (2, batch[2].payment.id),
    ]


async def test_an_expired_record_is_taken_over_by_the_batch(services: Services) -> None:
    merchant = f"gc_{uuid.uuid4().hex[:10]}"
    old = new_claim(merchant, "reused")
    assert claimed(await services.repository.commit_new_claims([old], AT - timedelta(days=1)))
    again = new_claim(merchant, "reused")

    # The old record was created at AT: expired for anything created before AT + 1 s.
    assert claimed(await services.repository.commit_new_claims([again], AT + timedelta(seconds=1)))

    record = await services.pool.fetchrow(
        "SELECT resource_id FROM idempotency_keys WHERE merchant_id = $1", merchant
    )
    assert record["resource_id"] == again.payment.id
