"""Another team's path: TypeScript from protos/ with protoc-gen-es, compiled by ``tsc --strict``.

Runs the commands clients/typescript documents (``npm ci``, ``npm run
generate``, ``npm run build``) in a copy of the example, then runs the
compiled program: it must read error statuses that paycore's own encoder
produced, and its CreatePaymentRequest must be one that paycore parses.
Skipped with the reason where Node.js or npm is missing or the npm registry
cannot be reached.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from google.protobuf import json_format

from core.api.status import encode_error
from core.domain.errors import FieldViolation, RateLimitedError, ValidationError
from paycore.v1 import payment_pb2, payment_service_pb2
from tests.support.buf import VENV_BIN

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = Path("clients/typescript")
OFFLINE = ("ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "ECONNREFUSED", "ECONNRESET", "ENETUNREACH")


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # buf (npm run generate) comes from the interpreter's venv, like make proto's.
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def described(process: subprocess.CompletedProcess[str]) -> str:
    return f"{process.args} exit {process.returncode}\n{process.stdout}\n{process.stderr}"


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built copy of clients/typescript beside a copy of the buf workspace it reads."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not on PATH: the TypeScript client example is not checked")
    root = tmp_path_factory.mktemp("typescript")
    shutil.copytree(REPO / "protos", root / "protos")
    shutil.copy2(REPO / "buf.yaml", root / "buf.yaml")
    copy = root / EXAMPLE
    shutil.copytree(
        REPO / EXAMPLE, copy, ignore=shutil.ignore_patterns("node_modules", "dist", "gen")
    )

    installed = run(["npm", "ci", "--no-audit", "--no-fund"], copy)
    if installed.returncode != 0 and any(code in installed.stderr for code in OFFLINE):
        pytest.skip(f"the npm registry is unreachable: {installed.stderr.strip()[-300:]}")
    assert installed.returncode == 0, described(installed)
    for script in ("generate", "build"):
        process = run(["npm", "run", script], copy)
        assert process.returncode == 0, described(process)
    return copy


def run_example(example: Path, *args: str) -> str:
    process = run(["node", "dist/example.js", *args], example)
    assert process.returncode == 0, described(process)
    return process.stdout


def test_the_example_compiles_under_tsc_strict(example: Path) -> None:
    package = json.loads((example / "package.json").read_text())
    assert "--strict" in package["scripts"]["build"]
    assert json.loads((example / "tsconfig.json").read_text())["compilerOptions"]["strict"]
    assert (example / "dist" / "example.js").is_file()
    assert (example / "src" / "gen" / "google" / "rpc" / "error_details_pb.ts").is_file()


def test_a_typescript_create_payment_request_is_one_paycore_reads(example: Path) -> None:
    request = json_format.Parse(run_example(example), payment_service_pb2.CreatePaymentRequest())
    assert request.amount.currency_code == "EUR"
    assert (request.amount.units, request.amount.nanos) == (25, 990_000_000)
    assert request.payment_method.card.number == "4242424242424242"
    assert request.capture_method == payment_pb2.CAPTURE_METHOD_MANUAL


def test_typescript_decodes_field_violations_and_the_error_reason(example: Path) -> None:
    error = ValidationError(
        [
            FieldViolation("amount.currency_code", "must be an ISO 4217 code"),
            FieldViolation("payment_method", "required"),
        ]
    )
    decoded = json.loads(run_example(example, encode_error(error).hex()))
    assert decoded["code"] == "INVALID_ARGUMENT"
    assert decoded["message"] == error.message
    assert decoded["reason"] == "VALIDATION_FAILED"
    assert decoded["reasonEnum"] == 1  # ERROR_REASON_VALIDATION_FAILED
    assert decoded["fieldViolations"] == [
        {"field": "amount.currency_code", "description": "must be an ISO 4217 code"},
        {"field": "payment_method", "description": "required"},
    ]


def test_typescript_decodes_when_to_retry(example: Path) -> None:
    error = RateLimitedError("m_1", "write", "100/s", retry_after_ms=1500)
    decoded = json.loads(run_example(example, encode_error(error).hex()))
    assert (decoded["code"], decoded["reason"]) == ("RESOURCE_EXHAUSTED", "RATE_LIMITED")
    assert decoded["retryAfterMs"] == 1500
