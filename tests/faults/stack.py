"""A real paycore deployment in miniature that a fault scenario may break: ``FaultStack``.

Every part is a process of its own, so a fault is a real one:

- PostgreSQL: an embedded cluster (core/runtime/embedded/) in a temporary data dir,
  stopped and started with its own clean shutdown (``pg_ctl -m fast`` drops every
  connection) at the same socket, so the DSN paycore holds stays valid;
- Redis: a private ``redis-server`` (tests/support/redis_server.py) on a fixed port,
  which may be stopped, started again empty, or flushed;
- paycore: ``python -m core.cli run`` on a fixed port, configured through ``PAYCORE_*``
  variables (``run_paycore``); it may be killed with SIGKILL and started again.

    stack = FaultStack.start(tmp)          # PostgreSQL + Redis, migrated by the first run
    stack.run_paycore()                    # serving once health says SERVING
    stack.kill_paycore(); stack.run_paycore()
    stack.restart_postgres(); stack.redis.stop(); stack.redis.start()
    stack.stop()                           # always: every process, every folder

bench/soak.py runs its server with the same class.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from grpc_health.v1 import health_pb2

from core.config import Settings
from core.runtime.embedded import EmbeddedServiceError, EmbeddedServices, start_embedded
from tests.runtime.processes import REPO_ROOT, clean_environment, free_port, health
from tests.support.redis_cluster import RedisClusterHandle, start_cluster
from tests.support.redis_server import RedisServerHandle, start_redis

SERVE_TIMEOUT_S = 90.0
"""How long ``paycore run`` may take to serve (imports, migrations) on a busy machine."""

FAULT_TOLERANT = {
    # Scenarios fire bursts from one merchant; rate limits and lockouts are tested elsewhere.
    "PAYCORE_RATE_LIMITS__WRITES_PER_S": "1000000",
    "PAYCORE_RATE_LIMITS__WRITES_BURST": "100000",
    "PAYCORE_RATE_LIMITS__READS_PER_S": "1000000",
    "PAYCORE_RATE_LIMITS__READS_BURST": "100000",
    "PAYCORE_AUTH__LOCKOUT_FAILURES": "1000000",
    # Redis faults are noticed, and Redis is tried again, within a fraction of a second.
    "PAYCORE_REDIS_TIMEOUT_S": "0.3",
    "PAYCORE_REDIS_RETRY_INTERVAL_S": "0.3",
    # A request the crash cut short is claimed again by its retry after its Redis marker
    # lapses, instead of after a minute.
    "PAYCORE_REQUEST_LEASE_S": "2",
    # Unresolved channel attempts are asked about within seconds, so a scenario sees
    # every PENDING payment resolved (the real schedule waits minutes).
    "PAYCORE_STATUS_QUERY__SCHEDULE_S": "1,1,1,2,2,2",
    # A 'started' attempt is left to its request for longer than the request can take
    # (channel timeout + ~15 s of commit retries), as the real 120 s is: a shorter grace
    # lets a status query settle an attempt its request is about to settle too.
    "PAYCORE_STATUS_QUERY__STARTED_GRACE_S": "30",
    "PAYCORE_STATUS_QUERY__POLL_INTERVAL_S": "0.3",
    # Webhook receivers of the scenarios listen on plain http://127.0.0.1.
    "PAYCORE_WEBHOOK_REQUIRE_HTTPS": "false",
    "PAYCORE_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
    "PAYCORE_WEBHOOK_POLL_INTERVAL_S": "0.1",
    "PAYCORE_WEBHOOK_RETRY_SCHEDULE": "0.2s,0.2s,0.5s,0.5s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s",
    "PAYCORE_GRACE_PERIOD_S": "2",
}
"""The settings every fault stack runs paycore with (``run_paycore`` adds to them)."""


SIMULATOR_SECRET = "faults-simulator-secret"
SIMULATOR_COMMAND = (sys.executable, "-m", "core.cli", "simulator", "--channel", "acquirer_a")


class FaultStackError(RuntimeError):
    """paycore did not come up (the message ends with its log)."""


@dataclass
class FaultStack:
    """PostgreSQL, Redis and a ``paycore run`` process, all private to one scenario."""

    directory: Path
    postgres: EmbeddedServices
    redis: RedisServerHandle
    port: int = field(default_factory=free_port)
    """paycore's gRPC port, the same across restarts."""
    paycore: subprocess.Popen[bytes] | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    """PAYCORE_* variables given to ``run_paycore`` so far (kept for restarts)."""
    starts: int = 0
    simulator: subprocess.Popen[bytes] | None = None
    simulator_port: int = field(default_factory=free_port)
    cluster: RedisClusterHandle | None = None
    """With ``start(redis_cluster=True)``: the Redis Cluster paycore uses (``redis`` idles)."""
    clock_file: Path | None = None
    """Set by ``advance_clock``: paycore then runs on tests/faults/clocked.py's clock."""

    @classmethod
    def start(cls, *, redis_cluster: bool = False) -> FaultStack:
        """A fresh PostgreSQL cluster and Redis (paycore is started by ``run_paycore``).

        ``redis_cluster``: paycore uses a Redis Cluster of 3 masters with a replica
        each, which takes over within about a second of its master going silent.
        """
        directory = Path(tempfile.mkdtemp(prefix="paycore-faults-"))
        redis = start_redis()
        cluster = None
        try:
            if redis_cluster:
                cluster = start_cluster(3, replicas=1, node_timeout_ms=1000)
            postgres = start_embedded(_postgres_only(directory))
        except BaseException:
            redis.stop()
            if cluster is not None:
                cluster.stop()
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return cls(directory, postgres, redis, cluster=cluster)

    @property
    def postgres_dsn(self) -> str:
        """The DSN paycore and the checks use (stable across ``restart_postgres``)."""
        return self.postgres.postgres_dsn

    @property
    def address(self) -> str:
        """``127.0.0.1:<port>`` for a gRPC channel."""
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        """paycore's output (every run appends)."""
        return self.directory / "paycore.log"

    def run_paycore(self, **variables: str) -> None:
        """Start ``paycore run``; return once it serves.

        ``variables`` add PAYCORE_* settings to FAULT_TOLERANT; a restart keeps them.
        """
        if self.paycore is not None and self.paycore.poll() is None:
            raise FaultStackError("paycore is already running")
        self.overrides.update(variables)
        redis = self.cluster or self.redis
        environment = {
            **FAULT_TOLERANT,
            "PAYCORE_POSTGRES_DSN": self.postgres_dsn,
            "PAYCORE_REDIS_URL": redis.url,
            "PAYCORE_REDIS_CLUSTER": str(self.cluster is not None).lower(),
            "PAYCORE_PORT": str(self.port),
            **self.overrides,
        }
        command = ["-m", "core.cli"]
        if self.clock_file is not None:
            command = ["-m", "tests.faults.clocked", str(self.clock_file)]
        with self.log.open("ab") as output:
            self.paycore = subprocess.Popen(
                [sys.executable, *command, "run", "--data-dir", str(self.directory)],
                cwd=REPO_ROOT,
                env=clean_environment(**environment),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1
        deadline = time.monotonic() + SERVE_TIMEOUT_S
        while health(self.port) != health_pb2.HealthCheckResponse.SERVING:
            if self.paycore.poll() is not None or time.monotonic() > deadline:
                raise FaultStackError(f"paycore did not serve:\n{self.output()[-4000:]}")
            time.sleep(0.1)

    def use_clock(self) -> None:
        """Run paycore (from its next start) on a clock ``advance_clock`` moves."""
        self.clock_file = self.directory / "clock_offset_s"
        self.clock_file.write_text("0")

    def advance_clock(self, seconds: float) -> None:
        """Move paycore's clock ``seconds`` ahead (after ``use_clock``); it sees it at once."""
        assert self.clock_file is not None, "use_clock() before run_paycore()"
        offset = float(self.clock_file.read_text() or 0) + seconds
        # A new file, renamed over the old: paycore never reads half a number.
        written = self.clock_file.with_suffix(".new")
        written.write_text(repr(offset))
        written.replace(self.clock_file)

    def kill_paycore(self) -> None:
        """SIGKILL: no shutdown, no flush, connections cut mid-request."""
        if self.paycore is not None and self.paycore.poll() is None:
            self.paycore.send_signal(signal.SIGKILL)
            self.paycore.wait(30)

    def stop_paycore(self) -> int:
        """SIGTERM and the exit code (0: a clean shutdown)."""
        assert self.paycore is not None
        if self.paycore.poll() is None:
            self.paycore.send_signal(signal.SIGTERM)
        return self.paycore.wait(60)

    def restart_postgres(self, down_s: float = 0.0) -> None:
        """Stop PostgreSQL (fast: open transactions rolled back, connections dropped), start it.

        paycore keeps running; its pool must find the server again by itself.
        """
        self.stop_postgres()
        time.sleep(down_s)
        self.start_postgres()

    def stop_postgres(self) -> None:
        """Stop PostgreSQL fast (``start_postgres`` brings it back on the same data)."""
        self.postgres.stop()

    def start_postgres(self) -> None:
        """Start the PostgreSQL ``stop_postgres`` stopped."""
        for attempt in range(3):
            try:
                self.postgres = start_embedded(_postgres_only(self.directory))
                return
            except EmbeddedServiceError:
                # The wheel's pg_ctl sometimes dies by SIGSEGV while it waits for the
                # server it started (exit -11, seen on this 2-core box): start it again.
                if attempt == 2:
                    raise

    def run_simulator(self, *args: str) -> dict[str, str]:
        """Start ``paycore simulator --channel acquirer_a`` (``args`` add its fault flags).

        Returns the PAYCORE_* settings that route every payment to it over HTTP (give
        them to ``run_paycore``); it keeps its port across ``stop_simulator`` and a new
        ``run_simulator``, so paycore need not be told twice.
        """
        if self.simulator is not None and self.simulator.poll() is None:
            raise FaultStackError("the simulator is already running")
        with (self.directory / "simulator.log").open("ab") as output:
            self.simulator = subprocess.Popen(
                [*SIMULATOR_COMMAND, "--port", str(self.simulator_port), *args],
                cwd=REPO_ROOT,
                env=clean_environment(CHANNEL_SIMULATOR_SECRET=SIMULATOR_SECRET),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + SERVE_TIMEOUT_S
        while not _listening(self.simulator_port):
            if self.simulator.poll() is not None or time.monotonic() > deadline:
                raise FaultStackError("the channel simulator did not start")
            time.sleep(0.05)
        routing = self.directory / "routing.toml"
        routing.write_text(
            '[default]\nstrategies = ["rules", "health"]\n\n'
            '[[default.rules]]\nname = "all-to-the-simulator"\nchannels = ["acquirer_a"]\n'
        )
        return {
            "PAYCORE_CHANNELS__ACQUIRER_A_URL": f"http://127.0.0.1:{self.simulator_port}",
            "PAYCORE_CHANNELS__HTTP_SECRET": SIMULATOR_SECRET,
            "PAYCORE_ROUTING_FILE": str(routing),
        }

    def stop_simulator(self) -> None:
        """Kill the channel simulator (what it charged is gone with it)."""
        if self.simulator is not None and self.simulator.poll() is None:
            self.simulator.send_signal(signal.SIGKILL)
            self.simulator.wait(30)

    def output(self) -> str:
        """Everything paycore printed so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def keep_log(self) -> None:
        """Copy paycore's log to $PAYCORE_FAULTS_KEEP_LOGS (if set), to read after the run."""
        if folder := os.environ.get("PAYCORE_FAULTS_KEEP_LOGS"):
            Path(folder).mkdir(parents=True, exist_ok=True)
            shutil.copy(self.log, Path(folder) / f"{self.directory.name}.log")

    def stop(self) -> None:
        """Stop paycore, Redis and PostgreSQL and remove the folder (idempotent)."""
        self.kill_paycore()
        self.stop_simulator()
        self.redis.stop()
        if self.cluster is not None:
            self.cluster.stop()
        self.postgres.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _postgres_only(directory: Path) -> Settings:
    # A redis_url makes start_embedded start PostgreSQL alone (Redis is the private one).
    return Settings(data_dir=directory, redis_url="redis://unused")
