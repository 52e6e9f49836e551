"""Another team's path: a client in TypeScript or Go generated from protos/.

Each example in clients/<language> is built the way its buf.gen.yaml says, in
a copy beside a copy of the buf workspace, and its compiled program is run:
it must read the error statuses paycore's own encoder produces (BadRequest,
ErrorInfo -> ErrorReason, RetryInfo), and the CreatePaymentRequest it writes
must be one paycore parses. TypeScript uses protoc-gen-es from npm and
compiles with ``tsc --strict``; Go uses Debian's go, protoc-gen-go and
google.golang.org/protobuf in GOPATH mode (the Go module proxy is not needed).
Each is skipped with the reason where its toolchain or registry is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from google.protobuf import json_format

from core.api.status import encode_error
from core.domain.errors import FieldViolation, RateLimitedError, ValidationError
from paycore.v1 import payment_pb2, payment_service_pb2
from tests.support.buf import VENV_BIN, buf_executable

REPO = Path(__file__).resolve().parents[2]
OFFLINE = ("ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "ECONNREFUSED", "ECONNRESET", "ENETUNREACH")
DEBIAN_GOPATH = Path("/usr/share/gocode")
GO_PACKAGES = "apt-get install golang-go protoc-gen-go golang-google-protobuf-dev"

# Building an example (npm ci, buf generate, tsc or go build) runs in the first
# test that asks for it: minutes on a busy 2-CPU runner, more than the default.
pytestmark = pytest.mark.timeout(720)


@dataclass(frozen=True)
class Example:
    """A built client example and the command that runs its program."""

    folder: Path
    command: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str) -> str:
        process = run([*self.command, *args], self.folder, self.env)
        assert process.returncode == 0, described(process)
        return process.stdout


def run(
    command: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    # buf comes from the interpreter's venv, like make proto's.
    path = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    return subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, "PATH": path, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def described(process: subprocess.CompletedProcess[str]) -> str:
    return f"{process.args} exit {process.returncode}\n{process.stdout}\n{process.stderr}"


def copy_example(language: str, root: Path) -> Path:
    """clients/<language> copied under ``root``, beside the buf workspace it reads (../..)."""
    shutil.copytree(REPO / "protos", root / "protos")
    shutil.copy2(REPO / "buf.yaml", root / "buf.yaml")
    copy = root / "clients" / language
    shutil.copytree(
        REPO / "clients" / language,
        copy,
        ignore=shutil.ignore_patterns("node_modules", "dist", "gen"),
    )
    return copy


def build_typescript(root: Path) -> Example:
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not on PATH: the TypeScript client example is not checked")
    copy = copy_example("typescript", root)
    package = json.loads((copy / "package.json").read_text())
    assert "--strict" in package["scripts"]["build"]
    assert json.loads((copy / "tsconfig.json").read_text())["compilerOptions"]["strict"]

    installed = run(["npm", "ci", "--no-audit", "--no-fund"], copy)
    if installed.returncode != 0 and any(code in installed.stderr for code in OFFLINE):
        pytest.skip(f"the npm registry is unreachable: {installed.stderr.strip()[-300:]}")
    assert installed.returncode == 0, described(installed)
    for script in ("generate", "build"):  # build is tsc --strict
        process = run(["npm", "run", script], copy)
        assert process.returncode == 0, described(process)
    return Example(copy, ("node", "dist/example.js"))


def build_go(root: Path) -> Example:
    for tool in ("go", "protoc-gen-go"):
        if shutil.which(tool) is None:
            pytest.skip(
                f"{tool} is not on PATH ({GO_PACKAGES}): the Go client example is not checked"
            )
    if not (DEBIAN_GOPATH / "src/google.golang.org/protobuf").is_dir():
        pytest.skip(f"google.golang.org/protobuf is not in {DEBIAN_GOPATH} ({GO_PACKAGES})")
    copy = copy_example("go", root)
    generated = run([buf_executable(), "generate", "../..", "--template", "buf.gen.yaml"], copy)
    assert generated.returncode == 0, described(generated)
    # GOPATH mode: the generated packages and Debian's, no module proxy.
    env = {"GO111MODULE": "off", "GOFLAGS": "", "GOPATH": f"{copy / 'gen'}:{DEBIAN_GOPATH}"}
    built = run(["go", "build", "-o", "example.bin", "./example"], copy, env)
    assert built.returncode == 0, described(built)
    return Example(copy, (str(copy / "example.bin"),))


@pytest.fixture(scope="module", params=["typescript", "go"])
def example(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Example:
    language: str = request.param
    root = tmp_path_factory.mktemp(language)
    return build_typescript(root) if language == "typescript" else build_go(root)


def test_a_create_payment_request_built_by_the_example_is_one_paycore_reads(
    example: Example,
) -> None:
    request = json_format.Parse(example.run(), payment_service_pb2.CreatePaymentRequest())
    assert request.amount.currency_code == "EUR"
    assert (request.amount.units, request.amount.nanos) == (25, 990_000_000)
    assert request.payment_method.card.number == "4242424242424242"
    assert request.capture_method == payment_pb2.CAPTURE_METHOD_MANUAL


def test_the_example_decodes_field_violations_and_the_error_reason(example: Example) -> None:
    error = ValidationError(
        [
            FieldViolation("amount.currency_code", "must be an ISO 4217 code"),
            FieldViolation("payment_method", "required"),
        ]
    )
    decoded = json.loads(example.run(encode_error(error).hex()))
    assert decoded["code"] == "INVALID_ARGUMENT"
    assert decoded["message"] == error.message
    assert decoded["reason"] == "VALIDATION_FAILED"
    assert decoded["reasonEnum"] == 1  # ERROR_REASON_VALIDATION_FAILED
    assert decoded["fieldViolations"] == [
        {"field": "amount.currency_code", "description": "must be an ISO 4217 code"},
        {"field": "payment_method", "description": "required"},
    ]
    assert "retryAfterMs" not in decoded


def test_the_example_decodes_when_to_retry(example: Example) -> None:
    error = RateLimitedError("m_1", "write", "100/s", retry_after_ms=1500)
    decoded = json.loads(example.run(encode_error(error).hex()))
    assert (decoded["code"], decoded["reason"]) == ("RESOURCE_EXHAUSTED", "RATE_LIMITED")
    assert decoded["retryAfterMs"] == 1500
    assert decoded["fieldViolations"] == []
