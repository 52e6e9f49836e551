"""Log lines carry the trace, span and request they belong to, and never a card number."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from core.config import Settings
from core.runtime import logging as paycore_logging
from core.runtime.logging import configure_logging, mask_card_numbers
from core.telemetry import context

log = logging.getLogger("paycore.test.telemetry")

# Test card numbers (Luhn-valid) and an order number of the same length that is not one.
VISA_SPACED = "4242 4242 4242 4242"
VISA_DECLINE = "4000000000000002"
ORDER_NUMBER = "1234567812345678"


@pytest.fixture
def use_format() -> Iterator[Callable[[str], None]]:
    """``use_format("json")`` runs configure_logging in that format; the root logger is
    restored afterwards. Call it in the test body: the handler binds the stderr that
    capsys installs for the test call, not the one of fixture setup."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield lambda log_format: configure_logging(Settings(log_format=log_format))
    root.handlers[:] = handlers
    root.setLevel(level)


def last_json_entry(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """The last line written to stderr, parsed."""
    entry: dict[str, Any] = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    return entry


@contextmanager
def request_context(merchant: str, request: str, rpc: str) -> Iterator[None]:
    """What the gRPC pipeline sets for the duration of one RPC."""
    tokens = (
        context.merchant_id.set(merchant),
        context.request_id.set(request),
        context.rpc_method.set(rpc),
    )
    try:
        yield
    finally:
        context.rpc_method.reset(tokens[2])
        context.request_id.reset(tokens[1])
        context.merchant_id.reset(tokens[0])


@contextmanager
def sdk_span() -> Iterator[trace.SpanContext]:
    """A recording span from the OpenTelemetry SDK, current for the block."""
    tracer = TracerProvider().get_tracer("paycore.test")
    with tracer.start_as_current_span("CreatePayment") as span:
        yield span.get_span_context()


# --- Context on every line ----------------------------------------------------------------


def test_json_line_inside_a_span_and_request_carries_their_ids(
    use_format: Callable[[str], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_format("json")

    with (
        request_context("acme", "req-1", "/paycore.v1.PaymentService/CreatePayment"),
        sdk_span() as span,
    ):
        log.info("authorized")

    entry = last_json_entry(capsys)
    assert entry["trace_id"] == f"{span.trace_id:032x}"
    assert entry["span_id"] == f"{span.span_id:016x}"
    assert entry["request_id"] == "req-1"
    assert entry["merchant_id"] == "acme"
    assert entry["rpc"] == "/paycore.v1.PaymentService/CreatePayment"
    assert entry["message"] == "authorized"


def test_json_line_outside_any_span_or_request_has_no_context_keys(
    use_format: Callable[[str], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_format("json")

    log.info("started")

    entry = last_json_entry(capsys)
    assert entry["message"] == "started"
    assert not {"trace_id", "span_id", "request_id", "merchant_id", "rpc"} & entry.keys()


def test_json_line_carries_the_innermost_span(
    use_format: Callable[[str], None], capsys: pytest.CaptureFixture[str]
) -> None:
    use_format("json")

    tracer = TracerProvider().get_tracer("paycore.test")
    with (
        tracer.start_as_current_span("CreatePayment") as outer,
        tracer.start_as_current_span("channel.authorize") as inner,
    ):
        log.info("calling the channel")

    entry = last_json_entry(capsys)
    assert entry["trace_id"] == f"{outer.get_span_context().trace_id:032x}"
    assert entry["span_id"] == f"{inner.get_span_context().span_id:016x}"


def test_a_request_id_passed_in_extra_wins_over_the_context(
    use_format: Callable[[str], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_format("json")

    with request_context("acme", "req-outer", "/paycore.v1.PaymentService/CreatePayment"):
        log.info("replayed", extra={"request_id": "req-original"})

    entry = last_json_entry(capsys)
    assert entry["request_id"] == "req-original"
    assert entry["merchant_id"] == "acme"


def test_text_line_shows_the_context_compactly(
    use_format: Callable[[str], None], capsys: pytest.CaptureFixture[str]
) -> None:
    use_format("text")

    with (
        request_context("acme", "req-1", "/paycore.v1.PaymentService/CreatePayment"),
        sdk_span() as span,
    ):
        log.info("authorized")

    line = capsys.readouterr().err.strip()
    short_trace_id = f"{span.trace_id:032x}"[:8]
    assert line.endswith(
        "paycore.test.telemetry: authorized [merchant=acme request=req-1"
        f" rpc=/paycore.v1.PaymentService/CreatePayment trace={short_trace_id}]"
    )


def test_text_line_without_context_has_no_brackets(
    use_format: Callable[[str], None], capsys: pytest.CaptureFixture[str]
) -> None:
    use_format("text")

    log.info("started")

    line = capsys.readouterr().err.strip()
    assert line.endswith("paycore.test.telemetry: started")


def test_text_context_stays_on_the_line_of_the_message_not_the_traceback(
    use_format: Callable[[str], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_format("text")

    with request_context("acme", "req-1", "/paycore.v1.PaymentService/CreatePayment"):
        try:
            raise RuntimeError("channel down")
        except RuntimeError:
            log.exception("authorize failed")

    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].endswith(
        "authorize failed [merchant=acme request=req-1 "
        "rpc=/paycore.v1.PaymentService/CreatePayment]"
    )
    assert lines[-1] == "RuntimeError: channel down"


# --- No card numbers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pan", "masked"),
    [(VISA_SPACED, "424242******4242"), (VISA_DECLINE, "400000******0002")],
)
def test_card_numbers_in_the_message_and_extra_fields_are_masked(
    use_format: Callable[[str], None], capsys: pytest.CaptureFixture[str], pan: str, masked: str
) -> None:
    use_format("json")

    log.info("charging %s", pan, extra={"card": f"number {pan}", "nested": {"pan": pan}})

    entry = last_json_entry(capsys)
    assert entry["message"] == f"charging {masked}"
    assert entry["card"] == f"number {masked}"
    assert entry["nested"] == {"pan": masked}


def test_a_card_number_passed_as_an_int_is_masked(
    use_format: Callable[[str], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_format("json")

    log.info("charging", extra={"pan": int(VISA_DECLINE), "amount": 1999})

    entry = last_json_entry(capsys)
    assert entry["pan"] == "400000******0002"
    assert entry["amount"] == 1999


def test_an_order_number_that_fails_luhn_is_not_masked(
    use_format: Callable[[str], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_format("json")

    log.info("order %s", ORDER_NUMBER, extra={"order": ORDER_NUMBER})

    entry = last_json_entry(capsys)
    assert entry["message"] == f"order {ORDER_NUMBER}"
    assert entry["order"] == ORDER_NUMBER


def test_card_numbers_in_the_text_format_are_masked(
    use_format: Callable[[str], None], capsys: pytest.CaptureFixture[str]
) -> None:
    use_format("text")

    log.info("charging %s for order %s", VISA_SPACED, ORDER_NUMBER)

    line = capsys.readouterr().err.strip()
    assert line.endswith(f"charging 424242******4242 for order {ORDER_NUMBER}")


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_exception_tracebacks_are_scrubbed(
    use_format: Callable[[str], None], capsys: pytest.CaptureFixture[str], log_format: str
) -> None:
    use_format(log_format)

    try:
        raise ValueError(f"card {VISA_SPACED} declined")
    except ValueError:
        log.exception("charge failed")

    output = capsys.readouterr().err
    assert "ValueError: card 424242******4242 declined" in output
    assert VISA_SPACED not in output


def test_scrubbers_appended_to_the_registry_apply_to_every_line(
    use_format: Callable[[str], None],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_format("json")

    def hide_cvc(text: str) -> str:
        return text.replace("cvc=123", "cvc=***")

    monkeypatch.setattr(paycore_logging, "SCRUBBERS", [*paycore_logging.SCRUBBERS, hide_cvc])

    log.info("card %s cvc=123", VISA_DECLINE, extra={"raw": "cvc=123"})

    entry = last_json_entry(capsys)
    assert entry["message"] == "card 400000******0002 cvc=***"
    assert entry["raw"] == "cvc=***"


# --- The default scrubber, on its own --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4242-4242-4242-4242", "424242******4242"),
        ("amex 378282246310005.", "amex 378282*****0005."),
        ("pan=4000000000000002&x=1", "pan=400000******0002&x=1"),
        # The card number is masked even with the expiry glued on after a space.
        ("4242 4242 4242 4242 12 30", "424242******4242 12 30"),
        ("6011111111111117 and 4000000000000002", "601111******1117 and 400000******0002"),
        # Not card numbers: fails Luhn, too short, too long.
        (ORDER_NUMBER, ORDER_NUMBER),
        ("424242424242", "424242424242"),
        ("4242424242424242424242", "4242424242424242424242"),
        ("amount 1999 EUR at 2025-01-02 03:04:05", "amount 1999 EUR at 2025-01-02 03:04:05"),
    ],
)
def test_mask_card_numbers(text: str, expected: str) -> None:
    assert mask_card_numbers(text) == expected
    assert mask_card_numbers(expected) == expected  # idempotent
