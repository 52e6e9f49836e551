"""TLS and mutual TLS on the gRPC port: who gets through, who is refused, and the settings."""

from __future__ import annotations

import asyncio
import shutil
import stat
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest
from cryptography import x509

from core.api.server import transport_security
from core.app import Services, server_settings
from core.config import ConfigError, Settings, load_settings, settings_as_toml, validate
from paycore.client import (
    AsyncPaycoreClient,
    NotFoundError,
    PaycoreClient,
    RetryPolicy,
    UnavailableError,
    card,
    money,
    tls_credentials,
)
from paycore.v1.payment_pb2 import Payment
from tests.support.auth import merchant_metadata
from tests.support.serving import serve_paycore
from tools.make_dev_certs import DevCerts, write_dev_certs

UNKNOWN_PAYMENT = "pay_" + "0" * 26
"""A well-formed id of no payment: NOT_FOUND proves the call reached paycore."""

NO_RETRY = RetryPolicy(max_attempts=1)
"""A refused handshake must surface as it is, not be retried."""


@pytest.fixture(scope="session")
def certs() -> Iterator[DevCerts]:
    """A CA with a server certificate for 127.0.0.1 and a client certificate."""
    out_dir = Path(tempfile.mkdtemp(prefix="paycore-tls-"))
    yield write_dev_certs(out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def foreign_certs() -> Iterator[DevCerts]:
    """Another CA and its own client certificate: paycore must not trust it."""
    out_dir = Path(tempfile.mkdtemp(prefix="paycore-tls-foreign-"))
    yield write_dev_certs(out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)


@pytest.fixture
async def api_key(services: Services, merchant_id: str) -> str:
    """A merchant key of the test's merchant (the secret itself, for the client)."""
    metadata = await merchant_metadata(services.pool, merchant_id)
    return metadata[0][1].removeprefix("Bearer ")


@asynccontextmanager
async def _serving(settings: Settings) -> AsyncIterator[str]:
    """The address of a paycore on ``settings`` with services of its own.

    Not the session's: stopping a server ends its services' event streams and
    drains their executor, which would end the streams of every later test
    that shares them (tests/events/test_stream.py after this module).
    """
    async with serve_paycore(settings, grace_s=1.0) as paycore:
        yield paycore.target  # clients here bring their own TLS channel credentials


@pytest.fixture(scope="module")
async def tls_target(settings: Settings, certs: DevCerts) -> AsyncIterator[str]:
    """Address of a paycore serving TLS (no client certificate asked)."""
    tls = settings.replace(tls_cert_file=str(certs.server_cert), tls_key_file=str(certs.server_key))
    async with _serving(tls) as target:
        yield target


@pytest.fixture(scope="module")
async def mtls_target(settings: Settings, certs: DevCerts) -> AsyncIterator[str]:
    """Address of a paycore requiring a client certificate signed by the test CA."""
    mtls = settings.replace(
        tls_cert_file=str(certs.server_cert),
        tls_key_file=str(certs.server_key),
        tls_client_ca_file=str(certs.ca_cert),
    )
    async with _serving(mtls) as target:
        yield target


def _client(
    target: str, api_key: str, credentials: grpc.ChannelCredentials | None
) -> AsyncPaycoreClient:
    return AsyncPaycoreClient(
        target, api_key=api_key, credentials=credentials, retry=NO_RETRY, timeout=10.0
    )


async def _create_and_read_back(client: AsyncPaycoreClient) -> None:
    created = await client.create_payment(
        amount=money(1050, "USD"), payment_method=card("4242424242424242", 12, 2030, cvc="123")
    )
    assert created.state == Payment.STATE_CAPTURED
    assert (await client.get_payment(created.id)).id == created.id


async def _assert_refused(
    target: str, api_key: str, credentials: grpc.ChannelCredentials | None
) -> None:
    """The handshake fails, so the call never reaches paycore: UNAVAILABLE."""
    async with _client(target, api_key, credentials) as client:
        with pytest.raises(UnavailableError):
            await client.get_payment(UNKNOWN_PAYMENT)


# --- TLS -------------------------------------------------------------------------------


async def test_tls_client_trusting_the_ca_can_create_and_get_payments(
    tls_target: str, certs: DevCerts, api_key: str
) -> None:
    credentials = grpc.ssl_channel_credentials(root_certificates=certs.ca_cert.read_bytes())
    async with _client(tls_target, api_key, credentials) as client:
        await _create_and_read_back(client)
        with pytest.raises(NotFoundError):
            await client.get_payment(UNKNOWN_PAYMENT)


async def test_plaintext_client_is_refused_by_a_tls_server(tls_target: str, api_key: str) -> None:
    await _assert_refused(tls_target, api_key, None)


async def test_client_not_trusting_the_ca_refuses_the_server_certificate(
    tls_target: str, foreign_certs: DevCerts, api_key: str
) -> None:
    credentials = tls_credentials(ca_file=foreign_certs.ca_cert)
    await _assert_refused(tls_target, api_key, credentials)


# --- mutual TLS --------------------------------------------------------------------------


async def test_mtls_client_with_a_ca_signed_certificate_is_served(
    mtls_target: str, certs: DevCerts, api_key: str
) -> None:
    credentials = tls_credentials(
        ca_file=certs.ca_cert, cert_file=certs.client_cert, key_file=certs.client_key
    )
    async with _client(mtls_target, api_key, credentials) as client:
        await _create_and_read_back(client)


async def test_mtls_client_without_a_certificate_is_refused(
    mtls_target: str, certs: DevCerts, api_key: str
) -> None:
    await _assert_refused(mtls_target, api_key, tls_credentials(certs.ca_cert))


async def test_mtls_client_certificate_signed_by_another_ca_is_refused(
    mtls_target: str, certs: DevCerts, foreign_certs: DevCerts, api_key: str
) -> None:
    credentials = tls_credentials(
        ca_file=certs.ca_cert,
        cert_file=foreign_certs.client_cert,
        key_file=foreign_certs.client_key,
    )
    await _assert_refused(mtls_target, api_key, credentials)


async def test_plaintext_client_is_refused_by_an_mtls_server(
    mtls_target: str, api_key: str
) -> None:
    await _assert_refused(mtls_target, api_key, None)


async def test_blocking_client_works_over_mtls(
    mtls_target: str, certs: DevCerts, api_key: str
) -> None:
    credentials = tls_credentials(
        ca_file=str(certs.ca_cert), cert_file=str(certs.client_cert), key_file=str(certs.client_key)
    )

    def call() -> None:
        with (
            PaycoreClient(
                mtls_target, api_key=api_key, credentials=credentials, retry=NO_RETRY
            ) as client,
            pytest.raises(NotFoundError),
        ):  # NOT_FOUND: the call reached paycore
            client.get_payment(UNKNOWN_PAYMENT)

    # In a thread: the server runs on this event loop, which a blocking call would stall.
    await asyncio.to_thread(call)


def test_tls_credentials_needs_the_key_with_the_certificate(certs: DevCerts) -> None:
    with pytest.raises(ValueError, match="cert_file and key_file"):
        tls_credentials(ca_file=certs.ca_cert, cert_file=certs.client_cert)


# --- the certificate tool ----------------------------------------------------------------


def test_dev_certs_name_the_hosts_and_keep_keys_private(certs: DevCerts) -> None:
    server = x509.load_pem_x509_certificate(certs.server_cert.read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value

    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    for key in (certs.ca_key, certs.server_key, certs.client_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


# --- settings ----------------------------------------------------------------------------


def test_tls_settings_come_from_the_environment(certs: DevCerts) -> None:
    settings = load_settings(
        environ={
            "PAYCORE_TLS_CERT_FILE": str(certs.server_cert),
            "PAYCORE_TLS_KEY_FILE": str(certs.server_key),
            "PAYCORE_TLS_CLIENT_CA_FILE": str(certs.ca_cert),
        }
    )

    assert settings.tls_key_file == str(certs.server_key)
    assert settings.tls_client_ca_file == str(certs.ca_cert)


def _mutual_tls_settings(certs: DevCerts) -> Settings:
    return Settings(
        tls_cert_file=str(certs.server_cert),
        tls_key_file=str(certs.server_key),
        tls_client_ca_file=str(certs.ca_cert),
    )


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"tls_cert_file": "server_cert"}, "tls_key_file"),
        ({"tls_key_file": "server_key"}, "tls_cert_file"),
        ({"tls_client_ca_file": "ca_cert"}, "tls_client_ca_file"),
        (
            {"tls_key_file": "server_key", "tls_client_ca_file": "ca_cert"},
            "tls_cert_file",
        ),
    ],
)
def test_mismatched_tls_settings_are_refused_naming_the_field(
    certs: DevCerts, fields: dict[str, str], named: str
) -> None:
    settings = Settings().replace(**{name: str(getattr(certs, f)) for name, f in fields.items()})

    with pytest.raises(ConfigError, match=named):
        validate(settings)


@pytest.mark.parametrize("field", ["tls_cert_file", "tls_key_file", "tls_client_ca_file"])
def test_unreadable_tls_file_is_refused_naming_the_field(
    certs: DevCerts, tmp_path: Path, field: str
) -> None:
    settings = _mutual_tls_settings(certs).replace(**{field: str(tmp_path / "missing.pem")})

    with pytest.raises(ConfigError, match=f"^{field}: cannot read"):
        validate(settings)


def test_printed_settings_show_the_key_path_never_the_key(certs: DevCerts) -> None:
    settings = Settings(tls_cert_file=str(certs.server_cert), tls_key_file=str(certs.server_key))

    printed = settings_as_toml(settings)

    assert f'tls_key_file = "{certs.server_key}"' in printed
    assert "PRIVATE KEY" not in printed


@pytest.mark.parametrize("field", ["tls_cert_file", "tls_key_file", "tls_client_ca_file"])
def test_tls_file_that_is_not_pem_is_refused_naming_the_field(
    certs: DevCerts, tmp_path: Path, field: str
) -> None:
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("garbage\n")
    settings = _mutual_tls_settings(certs).replace(**{field: str(not_pem)})

    with pytest.raises(ConfigError, match=f"^{field}: .* holds no PEM"):
        validate(settings)


def test_server_logs_which_transport_it_speaks(certs: DevCerts) -> None:
    tls = Settings(tls_cert_file=str(certs.server_cert), tls_key_file=str(certs.server_key))

    mutual = tls.replace(tls_client_ca_file=str(certs.ca_cert))
    assert transport_security(server_settings(Settings())) == "plaintext"
    assert transport_security(server_settings(tls)) == "TLS"
    assert transport_security(server_settings(mutual)) == "mutual TLS"
