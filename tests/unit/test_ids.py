"""Identifiers keep the ULID format and sort in the order they were made."""

from __future__ import annotations

import os
import time

from ulid import ULID

from core.domain import ids


def test_ulid_text_matches_python_ulid_encoding() -> None:
    for value in (
        0,
        1,
        (1 << 128) - 1,
        1 << 127,
        *(int.from_bytes(os.urandom(16)) for _ in range(200)),
    ):
        assert ids.encode_ulid(value) == str(ULID.from_int(value))


def test_new_id_is_prefixed_ulid_of_now() -> None:
    before = time.time_ns() // 1_000_000
    made = ids.new_id(ids.PAYMENT)
    after = time.time_ns() // 1_000_000
    assert ids.is_valid(ids.PAYMENT, made)
    assert before <= ULID.from_str(made.removeprefix("pay_")).milliseconds <= after


def test_ids_of_one_process_are_unique_and_sort_in_creation_order() -> None:
    made = [ids.new_id(ids.ATTEMPT) for _ in range(20_000)]
    assert len(set(made)) == len(made)
    assert made == sorted(made)


def test_ids_within_one_millisecond_count_up_by_one() -> None:
    generator = ids._Generator()
    first = generator.next()
    second = generator.next()
    while second >> 80 != first >> 80:  # crossed a millisecond: try again within one
        first, second = second, generator.next()
    assert second == first + 1


def test_a_new_millisecond_draws_fresh_randomness() -> None:
    generator = ids._Generator()
    seen = set()
    for _ in range(50):
        generator.reset()  # as a new millisecond (or a forked child) would
        seen.add(generator.next() & ((1 << 80) - 1))
    assert len(seen) == 50


def test_a_forked_child_does_not_repeat_its_parent_ids() -> None:
    ids.new_id(ids.PAYMENT)  # the parent holds state and unread random bytes
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, ids.new_id(ids.PAYMENT).encode())
        os._exit(0)
    os.close(write)
    mine = ids.new_id(ids.PAYMENT)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    os.close(read)
    assert child != mine
    assert child[-16:] != mine[-16:]  # not the same random bits, one apart
