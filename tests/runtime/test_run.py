"""``paycore run`` end to end: embedded services, gRPC health SERVING, clean SIGTERM shutdown."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import grpc
import pytest
from google.type import money_pb2
from grpc_health.v1 import health_pb2

from paycore.v1 import access_service_pb2 as access_pb
from paycore.v1 import access_service_pb2_grpc, payment_service_pb2_grpc
from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc

from .processes import (
    REPO_ROOT,
    Spawn,
    clean_environment,
    health,
    start_paycore,
    wait_for,
)

pytestmark = pytest.mark.slow


def serving_pids(output: str) -> set[str]:
    return set(re.findall(r"\[(\d+)\] core\.api\.server: paycore serving on", output))


def test_run_serves_until_sigterm_then_stops_cleanly(spawn: Spawn, data_dir: Path) -> None:
    server, port = start_paycore(spawn, data_dir=data_dir)

    assert server.stop(signal.SIGTERM) == 0, server.output()

    output = server.output()
    assert "Traceback" not in output
    assert "core.storage.migrate: applied migration" in output
    assert "shutting down" in output
    assert "stopped PostgreSQL" in output and "stopped Redis" in output
    assert not (data_dir / "postgres" / "postmaster.pid").exists()
    assert health(port) == -1


def access(port: int) -> access_service_pb2_grpc.AccessServiceStub:
    return access_service_pb2_grpc.AccessServiceStub(grpc.insecure_channel(f"127.0.0.1:{port}"))


def payments(port: int) -> payment_service_pb2_grpc.PaymentServiceStub:
    return payment_service_pb2_grpc.PaymentServiceStub(grpc.insecure_channel(f"127.0.0.1:{port}"))


def issue_key(data_dir: Path, *args: str) -> tuple[int, str, str]:
    """``paycore keys ...`` on the data dir of a running paycore: (exit code, stdout, stderr)."""
    done = subprocess.run(
        [sys.executable, "-m", "core.cli", "keys", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        env=clean_environment(),
        check=False,
    )
    return done.returncode, done.stdout.strip(), done.stderr


def test_keys_bootstrap_prints_one_superadmin_key_once(spawn: Spawn, data_dir: Path) -> None:
    server, port = start_paycore(spawn, data_dir=data_dir)
    code, key, err = issue_key(data_dir, "bootstrap")
    assert code == 0, err
    again, second, err_again = issue_key(data_dir, "bootstrap")

    listed = access(port).ListApiKeys(
        access_pb.ListApiKeysRequest(), metadata=(("authorization", f"Bearer {key}"),), timeout=30
    )

    assert key.startswith("pck_") and "only time" in err
    assert again == 1 and second == "" and "exists already" in err_again
    assert [k.role for k in listed.api_keys] == [access_pb.ApiKey.ROLE_SUPERADMIN]
    assert listed.api_keys[0].prefix == key[: len(listed.api_keys[0].prefix)]
    assert server.stop(signal.SIGTERM) == 0, server.output()


def test_a_restarted_service_on_the_same_data_dir_still_has_every_payment(
    spawn: Spawn, data_dir: Path
) -> None:
    first, port = start_paycore(spawn, data_dir=data_dir)
    code, key, err = issue_key(
        data_dir, "create", "--merchant", "m_restart", "--create-merchant", "R", "--raw-card-data"
    )
    assert code == 0, err
    MERCHANT = (("authorization", f"Bearer {key}"),)  # noqa: N806
    created = (
        payments(port)
        .CreatePayment(
            svc.CreatePaymentRequest(
                request_id=str(uuid.uuid4()),
                amount=money_pb2.Money(currency_code="USD", units=42),
                payment_method=pb.PaymentMethodData(
                    card=pb.CardData(number="4242424242424242", exp_month=1, exp_year=2099)
                ),
            ),
            metadata=MERCHANT,
            timeout=30,
        )
        .payment
    )
    assert created.state == pb.Payment.STATE_CAPTURED
    assert first.stop(signal.SIGINT) == 0, first.output()

    second, port = start_paycore(spawn, data_dir=data_dir)
    again = (
        payments(port)
        .GetPayment(svc.GetPaymentRequest(payment_id=created.id), metadata=MERCHANT, timeout=30)
        .payment
    )

    assert again == created
    assert "applied migration" not in second.output()
    assert second.stop(signal.SIGTERM) == 0, second.output()


def test_a_second_service_cannot_take_a_port_already_served(spawn: Spawn, data_dir: Path) -> None:
    first, port = start_paycore(spawn, data_dir=data_dir)
    second = spawn("-m", "core.cli", "run", "--port", str(port), "--data-dir", str(data_dir))

    assert second.process.wait(timeout=120) != 0
    assert health(port) == health_pb2.HealthCheckResponse.SERVING  # the first one is unharmed
    assert first.stop(signal.SIGTERM) == 0, first.output()


def test_two_workers_both_serve_and_stop_on_sigterm(spawn: Spawn, data_dir: Path) -> None:
    server, _ = start_paycore(spawn, "--workers", "2", data_dir=data_dir)
    wait_for(lambda: len(serving_pids(server.output())) == 2, what="both workers to serve")

    assert server.stop(signal.SIGTERM) == 0, server.output()

    output = server.output()
    assert "Traceback" not in output
    assert output.count("paycore stopped") == 2  # each worker's server drained
    assert "stopped PostgreSQL" in output
