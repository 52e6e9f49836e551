"""API keys end to end: issued once, stored as a hash, revoked and rotated, audited; lockout."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2

from core.app import Services
from core.auth.policy import Role
from paycore.v1 import access_service_pb2 as pb
from paycore.v1 import access_service_pb2_grpc
from paycore.v1 import payment_service_pb2 as svc
from tests.support.auth import (
    MERCHANT_HEADER,
    Metadata,
    bearer,
    merchant_metadata,
    platform_metadata,
)
from tests.support.expect import error_info, expect_error, expect_invalid
from tests.support.requests import card, create_request, new_merchant_id

UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED


def _new_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def access(grpc_channel: grpc.aio.Channel) -> Any:
    """AccessService stub over the test channel."""
    return access_service_pb2_grpc.AccessServiceStub(grpc_channel)


@pytest.fixture
async def platform(services: Services) -> Metadata:
    """A superadmin key (naming no merchant)."""
    return await platform_metadata(services.pool)


async def _new_merchant(access: Any, platform: Metadata, **fields: Any) -> str:
    merchant_id = new_merchant_id()
    await access.CreateMerchant(
        pb.CreateMerchantRequest(
            request_id=_new_id(), merchant_id=merchant_id, display_name="Shop", **fields
        ),
        metadata=platform,
    )
    return merchant_id


async def _new_key(
    access: Any, platform: Metadata, merchant_id: str, role: Any = pb.ApiKey.ROLE_MERCHANT
) -> pb.CreateApiKeyResponse:
    return await access.CreateApiKey(
        pb.CreateApiKeyRequest(request_id=_new_id(), merchant_id=merchant_id, role=role),
        metadata=platform,
    )


async def _list(stub: Any, metadata: Metadata) -> svc.ListPaymentsResponse:
    return await stub.ListPayments(svc.ListPaymentsRequest(), metadata=metadata)


# --- issuing --------------------------------------------------------------------------


async def test_a_new_key_works_at_once_and_its_secret_is_shown_only_once(
    access: Any, platform: Metadata, stub: Any, services: Services
) -> None:
    merchant_id = await _new_merchant(access, platform)
    request = pb.CreateApiKeyRequest(
        request_id=_new_id(), merchant_id=merchant_id, role=pb.ApiKey.ROLE_MERCHANT
    )

    created = await access.CreateApiKey(request, metadata=platform)
    replayed = await access.CreateApiKey(request, metadata=platform)

    assert created.secret.startswith(created.api_key.prefix + "_")
    assert replayed.api_key == created.api_key and replayed.secret == ""
    assert (await _list(stub, bearer(created.secret))).payments == []
    stored = await services.pool.fetchrow(
        "SELECT * FROM api_keys WHERE prefix = $1", created.api_key.prefix
    )
    assert created.secret.encode() not in bytes(stored["secret_hash"])
    dump = await services.pool.fetchval(
        "SELECT string_agg(t::text, ' ') FROM ("
        " SELECT i::text AS t FROM idempotency_keys i UNION ALL"
        " SELECT a::text FROM audit_events a UNION ALL SELECT k::text FROM api_keys k) s"
    )
    secret_part = created.secret.removeprefix(created.api_key.prefix + "_")
    assert len(secret_part) == 43
    # Plain booleans: a failing `in` over the whole dump would make pytest diff it for minutes.
    assert (created.secret in dump, secret_part in dump) == (False, False)


async def test_listing_shows_prefixes_and_roles_never_secrets(
    access: Any, platform: Metadata
) -> None:
    merchant_id = await _new_merchant(access, platform)
    first = await _new_key(access, platform, merchant_id)
    second = await _new_key(access, platform, merchant_id, pb.ApiKey.ROLE_ADMIN)

    listed = await access.ListApiKeys(
        pb.ListApiKeysRequest(merchant_id=merchant_id), metadata=platform
    )

    assert [(k.prefix, k.role) for k in listed.api_keys] == [
        (first.api_key.prefix, pb.ApiKey.ROLE_MERCHANT),
        (second.api_key.prefix, pb.ApiKey.ROLE_ADMIN),
    ]
    assert first.secret not in str(listed) and second.secret not in str(listed)


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"role": pb.ApiKey.ROLE_UNSPECIFIED, "merchant_id": "m_x"}, "role"),
        ({"role": pb.ApiKey.ROLE_SUPERADMIN, "merchant_id": "m_x"}, "merchant_id"),
        ({"role": pb.ApiKey.ROLE_MERCHANT}, "merchant_id"),
        ({"role": pb.ApiKey.ROLE_ADMIN, "merchant_id": "no spaces"}, "merchant_id"),
    ],
)
async def test_a_key_request_that_makes_no_sense_is_invalid(
    access: Any, platform: Metadata, fields: dict[str, Any], bad: str
) -> None:
    request = pb.CreateApiKeyRequest(request_id=_new_id(), **fields)

    await expect_invalid(access.CreateApiKey(request, metadata=platform), bad)


async def test_a_key_for_an_unknown_merchant_is_not_found(access: Any, platform: Metadata) -> None:
    await expect_error(
        _new_key(access, platform, "m_nobody_here"), grpc.StatusCode.NOT_FOUND, "MERCHANT_NOT_FOUND"
    )


async def test_a_taken_merchant_id_already_exists(access: Any, platform: Metadata) -> None:
    merchant_id = await _new_merchant(access, platform)

    await expect_error(
        access.CreateMerchant(
            pb.CreateMerchantRequest(
                request_id=_new_id(), merchant_id=merchant_id, display_name="Other"
            ),
            metadata=platform,
        ),
        grpc.StatusCode.ALREADY_EXISTS,
        "MERCHANT_ALREADY_EXISTS",
    )
    got = await access.GetMerchant(
        pb.GetMerchantRequest(merchant_id=merchant_id), metadata=platform
    )
    assert got.merchant.display_name == "Shop"


async def test_merchants_are_listed_page_by_page(access: Any, platform: Metadata) -> None:
    made = {await _new_merchant(access, platform) for _ in range(3)}
    seen: list[str] = []
    token = ""
    while True:
        page = await access.ListMerchants(
            pb.ListMerchantsRequest(page_size=2, page_token=token), metadata=platform
        )
        seen += [m.id for m in page.merchants]
        token = page.next_page_token
        if not token:
            break

    assert made <= set(seen)
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    await expect_error(
        access.ListMerchants(pb.ListMerchantsRequest(page_token="x.y"), metadata=platform),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_PAGE_TOKEN",
    )


# --- revocation and rotation -------------------------------------------------------------


async def test_a_revoked_key_is_refused_at_once(access: Any, platform: Metadata, stub: Any) -> None:
    merchant_id = await _new_merchant(access, platform)
    key = await _new_key(access, platform, merchant_id)
    await _list(stub, bearer(key.secret))  # verified, so cached

    revoked = await access.RevokeApiKey(
        pb.RevokeApiKeyRequest(request_id=_new_id(), prefix=key.api_key.prefix), metadata=platform
    )

    assert revoked.api_key.HasField("revoke_time")
    await expect_error(_list(stub, bearer(key.secret)), UNAUTHENTICATED, "API_KEY_INVALID")


async def test_rotation_with_overlap_keeps_both_keys_working_then_only_the_new(
    access: Any, platform: Metadata, stub: Any
) -> None:
    merchant_id = await _new_merchant(access, platform)
    old = await _new_key(access, platform, merchant_id, pb.ApiKey.ROLE_ADMIN)
    request = pb.RotateApiKeyRequest(
        request_id=_new_id(), prefix=old.api_key.prefix, overlap=duration_pb2.Duration(seconds=3600)
    )

    rotated = await access.RotateApiKey(request, metadata=platform)
    replay = await access.RotateApiKey(request, metadata=platform)

    assert rotated.api_key.role == pb.ApiKey.ROLE_ADMIN
    assert rotated.api_key.merchant_id == merchant_id
    assert rotated.previous.rotated_to == rotated.api_key.prefix
    assert rotated.previous.HasField("expire_time")
    assert replay.api_key == rotated.api_key and replay.secret == ""
    await _list(stub, bearer(old.secret))  # inside the overlap
    await _list(stub, bearer(rotated.secret))

    # Rotating the old key again, with no overlap, ends it at once.
    now = await access.RotateApiKey(
        pb.RotateApiKeyRequest(request_id=_new_id(), prefix=old.api_key.prefix),
        metadata=platform,
    )
    assert now.previous.expire_time.ToDatetime() <= now.api_key.create_time.ToDatetime()
    await expect_error(_list(stub, bearer(old.secret)), UNAUTHENTICATED, "API_KEY_INVALID")
    await _list(stub, bearer(rotated.secret))
    await _list(stub, bearer(now.secret))


async def test_a_revoked_key_cannot_be_rotated(access: Any, platform: Metadata) -> None:
    merchant_id = await _new_merchant(access, platform)
    key = await _new_key(access, platform, merchant_id)
    await access.RevokeApiKey(
        pb.RevokeApiKeyRequest(request_id=_new_id(), prefix=key.api_key.prefix), metadata=platform
    )

    await expect_error(
        access.RotateApiKey(
            pb.RotateApiKeyRequest(request_id=_new_id(), prefix=key.api_key.prefix),
            metadata=platform,
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "API_KEY_REVOKED",
    )


@pytest.mark.parametrize(
    "overlap",
    [
        duration_pb2.Duration(seconds=8 * 86400),
        duration_pb2.Duration(seconds=-1),
        duration_pb2.Duration(nanos=1),
        duration_pb2.Duration(seconds=2**63 - 1),  # found by tests/security/test_fuzz_rpcs.py
    ],
    ids=["eight days", "negative", "sub-millisecond", "beyond any date"],
)
async def test_a_rotation_overlap_out_of_bounds_is_invalid(
    access: Any, platform: Metadata, overlap: duration_pb2.Duration
) -> None:
    request = pb.RotateApiKeyRequest(
        request_id=_new_id(), prefix="pck_0000000000ZZ", overlap=overlap
    )

    await expect_invalid(access.RotateApiKey(request, metadata=platform), "overlap")


async def test_key_changes_are_audited_with_before_and_after_without_secrets(
    access: Any, platform: Metadata, services: Services
) -> None:
    merchant_id = await _new_merchant(access, platform)
    key = await _new_key(access, platform, merchant_id)
    await access.RevokeApiKey(
        pb.RevokeApiKeyRequest(request_id=_new_id(), prefix=key.api_key.prefix), metadata=platform
    )

    rows = await services.pool.fetch(
        "SELECT * FROM audit_events WHERE merchant_id = $1 ORDER BY id", merchant_id
    )

    assert [r["action"] for r in rows] == ["merchant.create", "api_key.create", "api_key.revoke"]
    platform_prefix = platform[0][1].removeprefix("Bearer ")[:16]
    assert {(r["actor_role"], r["actor_key_id"]) for r in rows} == {("superadmin", platform_prefix)}
    revoke = rows[-1]
    before, after = revoke["before"], revoke["after"]
    assert before["revoked_at"] is None and after["revoked_at"] is not None
    assert before["prefix"] == after["prefix"] == key.api_key.prefix
    assert all(key.secret not in str(dict(r)) for r in rows)


# --- acting for merchants and raw card data -------------------------------------------------


async def test_a_platform_key_acts_for_the_merchant_it_names(
    stub: Any, services: Services, merchant_id: str
) -> None:
    await merchant_metadata(services.pool, merchant_id)
    metadata = await platform_metadata(services.pool, acting_for=merchant_id)

    listed = await _list(stub, metadata)

    assert list(listed.payments) == []
    await expect_error(
        _list(stub, (*metadata[:1], (MERCHANT_HEADER, "bad merchant"))),
        UNAUTHENTICATED,
        "MERCHANT_IDENTITY_MISSING",
    )


async def test_a_merchant_without_raw_card_data_must_tokenize(
    stub: Any, services: Services, merchant_id: str
) -> None:
    metadata = await merchant_metadata(services.pool, merchant_id, raw_card_data_allowed=False)

    await expect_error(
        stub.CreatePayment(create_request(), metadata=metadata),
        grpc.StatusCode.PERMISSION_DENIED,
        "RAW_CARD_DATA_NOT_ALLOWED",
    )

    assert list((await _list(stub, metadata)).payments) == []
    count = await services.pool.fetchval(
        "SELECT count(*) FROM idempotency_keys WHERE merchant_id = $1", merchant_id
    )
    assert count == 0


async def test_an_admin_of_one_merchant_sees_nothing_of_another(
    stub: Any, services: Services, merchant_id: str
) -> None:
    owner = await merchant_metadata(services.pool, merchant_id)
    payment = (await stub.CreatePayment(create_request(), metadata=owner)).payment
    other_admin = await merchant_metadata(services.pool, new_merchant_id(), Role.ADMIN)

    await expect_error(
        stub.GetPayment(svc.GetPaymentRequest(payment_id=payment.id), metadata=other_admin),
        grpc.StatusCode.NOT_FOUND,
        "PAYMENT_NOT_FOUND",
    )
    assert list((await _list(stub, other_admin)).payments) == []


async def test_an_unknown_key_never_reaches_the_payment_service(
    stub: Any, services: Services, merchant_id: str
) -> None:
    request = create_request(payment_method=card("4242424242424242"))
    error = await expect_error(
        stub.CreatePayment(request, metadata=bearer("pck_0000000000ZZ_" + "B" * 43)),
        UNAUTHENTICATED,
        "API_KEY_INVALID",
    )

    assert error_info(error).metadata == {}
    assert (
        await services.pool.fetchval(
            "SELECT count(*) FROM idempotency_keys WHERE request_id = $1", request.request_id
        )
        == 0
    )


async def test_the_audit_trail_is_listed_newest_first_by_filter_and_page(
    access: Any, platform: Metadata
) -> None:
    merchant_id = await _new_merchant(access, platform)
    key = await _new_key(access, platform, merchant_id)
    await access.RevokeApiKey(
        pb.RevokeApiKeyRequest(request_id=_new_id(), prefix=key.api_key.prefix), metadata=platform
    )

    first = await access.ListAuditEvents(
        pb.ListAuditEventsRequest(merchant_id=merchant_id, page_size=2), metadata=platform
    )
    rest = await access.ListAuditEvents(
        pb.ListAuditEventsRequest(
            merchant_id=merchant_id, page_size=2, page_token=first.next_page_token
        ),
        metadata=platform,
    )
    only_revokes = await access.ListAuditEvents(
        pb.ListAuditEventsRequest(resource_id=key.api_key.prefix, action="api_key.revoke"),
        metadata=platform,
    )

    actions = [e.action for e in (*first.events, *rest.events)]
    assert actions == ["api_key.revoke", "api_key.create", "merchant.create"]
    assert rest.next_page_token == ""
    (revoke,) = only_revokes.events
    assert revoke.before["revoked_at"] is None and revoke.after["revoked_at"]
    assert revoke.actor_role == "superadmin" and revoke.actor_key_prefix
    await expect_error(
        access.ListAuditEvents(
            pb.ListAuditEventsRequest(action="merchant.create", page_token=first.next_page_token),
            metadata=platform,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_PAGE_TOKEN",
    )
