"""The merchant's side: paycore.client.verify_webhook_signature against the server's signer."""

from __future__ import annotations

import pytest

from core.events.signing import signature_header
from paycore.client import WebhookSignatureError, verify_webhook_signature

BODY = b'{"id":"evt_1","type":"payment.succeeded"}'
NOW = 1_767_225_600


def test_a_genuine_fresh_request_verifies() -> None:
    header = signature_header(["whsec_a"], NOW, BODY)
    assert verify_webhook_signature(BODY, header, "whsec_a", now=NOW + 10) == NOW


def test_a_changed_body_or_another_secret_is_refused() -> None:
    header = signature_header(["whsec_a"], NOW, BODY)
    with pytest.raises(WebhookSignatureError, match="no v1 signature matches"):
        verify_webhook_signature(BODY + b" ", header, "whsec_a", now=NOW)
    with pytest.raises(WebhookSignatureError, match="no v1 signature matches"):
        verify_webhook_signature(BODY, header, "whsec_b", now=NOW)


def test_stale_and_future_timestamps_are_refused_beyond_the_tolerance() -> None:
    header = signature_header(["whsec_a"], NOW, BODY)
    verify_webhook_signature(BODY, header, "whsec_a", now=NOW + 300)
    verify_webhook_signature(BODY, header, "whsec_a", now=NOW - 300)
    with pytest.raises(WebhookSignatureError, match="old"):
        verify_webhook_signature(BODY, header, "whsec_a", now=NOW + 301)
    with pytest.raises(WebhookSignatureError, match="future"):
        verify_webhook_signature(BODY, header, "whsec_a", now=NOW - 301)
    with pytest.raises(WebhookSignatureError, match="old"):
        verify_webhook_signature(BODY, header, "whsec_a", tolerance_s=5, now=NOW + 6)


def test_during_a_rotation_either_secret_verifies() -> None:
    header = signature_header(["whsec_new", "whsec_old"], NOW, BODY)
    assert header.count("v1=") == 2
    verify_webhook_signature(BODY, header, "whsec_new", now=NOW)
    verify_webhook_signature(BODY, header, "whsec_old", now=NOW)
    verify_webhook_signature(BODY, header, ["whsec_x", "whsec_old"], now=NOW)


@pytest.mark.parametrize(
    ("header", "why"),
    [
        ("", "no t="),
        ("v1=abc", "no t="),
        (f"t={NOW}", "no v1="),
        ("t=yesterday,v1=abc", "not an integer"),
    ],
)
def test_malformed_headers_are_refused_with_a_reason(header: str, why: str) -> None:
    with pytest.raises(WebhookSignatureError, match=why):
        verify_webhook_signature(BODY, header, "whsec_a", now=NOW)


def test_no_secret_is_an_error_not_a_pass() -> None:
    header = signature_header(["whsec_a"], NOW, BODY)
    with pytest.raises(WebhookSignatureError):
        verify_webhook_signature(BODY, header, [], now=NOW)
