"""h2load (Debian's nghttp2-client) as a unary gRPC load generator.

h2load is C: one request body, sent over and over by ``--threads`` native threads
with ``--clients`` HTTP/2 connections of up to ``--streams`` concurrent streams
each, at a small fraction of the CPU the Python generator needs per call. That is
what makes it the check on the Python generator: if both agree on a server's
peak, neither was the bottleneck.

A gRPC call over HTTP/2 is a POST of ``/package.Service/Method`` with
``content-type: application/grpc`` and ``te: trailers`` whose body is the
message behind a 5-byte prefix (a compression flag, then the length, big
endian). The body is the same for every call, which suits two cases: the echo
server (it ignores the request) and paycore's *replay* (the same CreatePayment,
same ``request_id``, answered again from the idempotency record). A fresh
durable payment per call needs a fresh ``request_id``, which h2load cannot
make: that case stays with ``bench.load``.

h2load sees HTTP statuses, not gRPC ones (a gRPC error is HTTP 200 with a
``grpc-status`` trailer): callers check one call with a real gRPC client first
(see bench.harness). Latencies come from h2load's per-request log, keeping
the measured window only (h2load does not log its warm-up).
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bench.load import LoadResult

H2LOAD = "h2load"


@dataclass(frozen=True, slots=True)
class H2loadShape:
    """How h2load spreads the load: threads x connections x streams per connection."""

    threads: int = 2
    clients: int = 4
    streams: int = 16


def available() -> bool:
    """Whether ``h2load`` is on PATH (``apt-get install nghttp2-client``)."""
    return shutil.which(H2LOAD) is not None


def grpc_frame(message: bytes) -> bytes:
    """``message`` as one uncompressed gRPC length-prefixed message."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def run_h2load(
    target: str,
    path: str,
    message: bytes,
    *,
    headers: Sequence[tuple[str, str]] = (),
    seconds: float,
    warmup_s: float,
    shape: H2loadShape = H2loadShape(),
) -> LoadResult:
    """Drive ``http://{target}{path}`` with ``message`` for ``warmup_s + seconds``.

    OK means HTTP 2xx (see the module docstring); latencies are h2load's, of
    the requests of the measured window.
    """
    with tempfile.TemporaryDirectory(prefix="paycore-h2load-") as folder:
        body = Path(folder) / "body"
        body.write_bytes(grpc_frame(message))
        log = Path(folder) / "requests.log"
        command = [
            H2LOAD,
            f"--duration={_duration(seconds)}",
            f"--warm-up-time={_duration(warmup_s)}",
            f"--threads={shape.threads}",
            f"--clients={shape.clients}",
            f"--max-concurrent-streams={shape.streams}",
            f"--data={body}",
            "--header=content-type: application/grpc",
            "--header=te: trailers",
            *(f"--header={name}: {value}" for name, value in headers),
            f"--log-file={log}",
            f"http://{target}{path}",
        ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        finished = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds * 3 + 60, check=False
        )
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if finished.returncode != 0:
            raise RuntimeError(f"h2load failed ({finished.returncode}): {finished.stderr[-2000:]}")
        read = read_log(log.read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return LoadResult(
        ok=read.ok,
        errors=read.errors,
        window_s=seconds,
        latencies_s=read.latencies_s,
        # getrusage covers the whole run: the window's share, at the same pace throughout.
        generator_cpu_s=cpu * seconds / wall,
        window_start=read.first_start,
        window_end=read.last_end,
    )


def job(
    target: str,
    path: str,
    message: bytes,
    api_key: str,
    *,
    processes: int,
    concurrency: int,
    seconds: float,
    warmup_s: float,
) -> Callable[[], LoadResult]:
    """``run_h2load`` of ``message`` as ``api_key`` shaped like the Python generator."""
    shape = H2loadShape(
        threads=processes,
        clients=processes * 2,
        streams=max(1, concurrency // (processes * 2)),
    )
    headers = [("authorization", f"Bearer {api_key}")]
    return partial(
        run_h2load, target, path, message, headers=headers, seconds=seconds,
        warmup_s=warmup_s, shape=shape,
    )  # fmt: skip


def _duration(seconds: float) -> str:
    # h2load takes whole numbers with a unit ("500ms"), not "0.5".
    return f"{max(1, round(seconds * 1000))}ms"


@dataclass(frozen=True, slots=True)
class H2loadLog:
    """What h2load's per-request log says about its measured window."""

    ok: int
    errors: dict[str, int]
    latencies_s: tuple[float, ...]
    first_start: float
    """The first request's start, seconds since the epoch (0 without requests)."""
    last_end: float
    """The last response's end, seconds since the epoch."""


def read_log(text: str) -> H2loadLog:
    """Requests of h2load's ``--log-file``: 2xx is OK, the rest counted by status.

    Each line: start (µs since the epoch), HTTP status (-1: the stream failed),
    µs to the end of the response. h2load logs only the measured window (not the
    ``--warm-up-time``), so every line counts.
    """
    ok = 0
    errors: dict[str, int] = {}
    latencies = []
    first, last = 0, 0
    for line in text.splitlines():
        if not line:
            continue
        start, status, took = (int(word) for word in line.split("\t")[:3])
        first = min(first, start) if first else start
        last = max(last, start + took)
        if 200 <= status < 300:
            ok += 1
            latencies.append(took / 1_000_000)
        else:
            name = f"HTTP {status}"
            errors[name] = errors.get(name, 0) + 1
    return H2loadLog(ok, errors, tuple(latencies), first / 1_000_000, last / 1_000_000)
