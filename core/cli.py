"""The ``paycore`` command: ``run`` the server, ``migrate`` the database, show the ``config``,
``vault rotate`` stored cards to the active key, issue API ``keys`` (``bootstrap``, ``create``).

Settings come from defaults < TOML file (``--config`` / ``PAYCORE_CONFIG``) <
``PAYCORE_*`` environment variables < the flags here (see core/config/).
Exit codes: 0 done, 1 failed, 2 bad configuration or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from core.cli_keys import add_key_commands
from core.config import ConfigError, Settings, load_settings, settings_as_toml, validate
from core.runtime.embedded import EmbeddedServiceError, start_embedded
from core.runtime.logging import configure_logging
from core.runtime.loop import run
from core.runtime.supervisor import run_workers
from core.storage.migrate import migrate

log = logging.getLogger("core.cli")

EXIT_FAILED = 1
EXIT_CONFIG = 2
# On SIGTERM a worker gets grace_period_s to drain, and this much more to exit.
_STOP_MARGIN_S = 10.0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``paycore`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"paycore: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    command: Callable[[Settings], int] = args.command
    if getattr(args, "with_args", False):
        command = functools.partial(args.command, args=args)
    if command is not _show_config:
        configure_logging(settings)
    try:
        return command(settings)
    except EmbeddedServiceError as exc:
        log.error("%s", exc)
        return EXIT_FAILED


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="TOML settings file (default: $PAYCORE_CONFIG)")
    common.add_argument(
        "--data-dir", type=Path, help="where embedded PostgreSQL and Redis keep data"
    )
    server = argparse.ArgumentParser(add_help=False)
    server.add_argument("--host", help="address to listen on")
    server.add_argument("--port", type=int, help="port to listen on")
    server.add_argument("--workers", type=int, help="server processes sharing the port")
    server.add_argument("--no-uvloop", action="store_true", help="use asyncio's own event loop")

    parser = argparse.ArgumentParser(prog="paycore", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    run = commands.add_parser("run", parents=[common, server], help="serve the gRPC API")
    run.set_defaults(command=_run)
    migrate = commands.add_parser("migrate", parents=[common], help="apply pending migrations")
    migrate.set_defaults(command=_migrate)
    config = commands.add_parser(
        "config", parents=[common, server], help="print the effective settings (secrets redacted)"
    )
    config.set_defaults(command=_show_config)
    vault = commands.add_parser("vault", help="card vault maintenance")
    vault_commands = vault.add_subparsers(title="vault commands", required=True, metavar="COMMAND")
    rotate = vault_commands.add_parser(
        "rotate", parents=[common], help="re-wrap every stored card under the active vault key"
    )
    rotate.set_defaults(command=_vault_rotate)
    add_key_commands(commands, common)
    _simulator_command(commands, common)
    return parser


def _simulator_command(commands: Any, common: argparse.ArgumentParser) -> None:
    simulator = commands.add_parser(
        "simulator",
        parents=[common],
        help="run the HTTP channel simulator (a simulated acquirer behind a real socket)",
    )
    simulator.add_argument("--host", default="127.0.0.1")
    simulator.add_argument("--port", type=int, default=9600, help="0: any free port")
    simulator.add_argument(
        "--channel", choices=["sandbox_card", "acquirer_a", "acquirer_b"], default="acquirer_a"
    )
    simulator.add_argument(
        "--secret-env",
        default="CHANNEL_SIMULATOR_SECRET",
        help="environment variable holding the shared HMAC secret (never a flag: ps shows flags)",
    )
    simulator.add_argument("--notify-url", default="", help="paycore's /callbacks/<channel> URL")
    simulator.add_argument("--latency-s", type=float, default=0.0)
    simulator.add_argument("--refuse-rate", type=float, default=0.0)
    simulator.add_argument("--error-5xx-rate", type=float, default=0.0)
    simulator.add_argument("--seed", type=int, default=0)
    simulator.set_defaults(command=_simulator, with_args=True)
    reconcile = commands.add_parser(
        "reconcile",
        parents=[common],
        help="compare a channel's settlement CSV with paycore's attempts; exit 1 on mismatches",
    )
    reconcile.add_argument("--channel", required=True)
    reconcile.add_argument("--file", type=Path, required=True, help="settlement CSV")
    reconcile.add_argument("--since", type=datetime.fromisoformat, required=True)
    reconcile.add_argument("--until", type=datetime.fromisoformat, required=True)
    reconcile.set_defaults(command=_reconcile, with_args=True)


def _reconcile(settings: Settings, args: argparse.Namespace) -> int:
    from core.domain.errors import ValidationError  # noqa: PLC0415
    from core.domain.reconciliation import parse_settlement_csv  # noqa: PLC0415

    try:
        lines = parse_settlement_csv(args.file.read_text())
    except (OSError, ValidationError) as exc:
        print(f"paycore: cannot read {args.file}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    with start_embedded(settings) as services:
        mismatches = asyncio.run(
            _reconcile_async(
                services.postgres_dsn,
                args.channel,
                lines,
                args.since,
                args.until,
                acquire_timeout_s=settings.pg_acquire_timeout_s,
            )
        )
    for mismatch in mismatches:
        print(json.dumps(mismatch, sort_keys=True))
    return 1 if mismatches else 0


async def _reconcile_async(
    dsn: str,
    channel: str,
    lines: Any,
    since: datetime,
    until: datetime,
    *,
    acquire_timeout_s: float,
) -> list[dict[str, Any]]:
    from core.service.reconciliation import reconcile_channel  # noqa: PLC0415
    from core.storage.pool import create_pool  # noqa: PLC0415
    from core.storage.reconciliation import recorded_movements  # noqa: PLC0415

    pool = await create_pool(dsn, 1, 2, acquire_timeout_s=acquire_timeout_s)
    try:
        records = functools.partial(recorded_movements, pool)
        found = await reconcile_channel(records, channel, lines, since, until)
    finally:
        await pool.close()
    return [
        {
            "kind": m.kind.value,
            "attempt_id": m.attempt_id,
            "channel": dataclasses.asdict(m.channel_line) if m.channel_line else None,
            "paycore": dataclasses.asdict(m.recorded) if m.recorded else None,
        }
        for m in found
    ]


def _simulator(settings: Settings, args: argparse.Namespace) -> int:
    # Imported here: the CLI's other commands need none of it.
    from router.channels.simulated import SPECS, Behaviour, SimulatedAcquirer  # noqa: PLC0415
    from router.simulator.app import (  # noqa: PLC0415
        ChannelSimulator,
        HttpFaults,
        serve_simulator,
    )

    secret = os.environ.get(args.secret_env, "")
    if not secret:
        print(f"paycore: set {args.secret_env} to the shared secret", file=sys.stderr)
        return EXIT_CONFIG
    behaviour = Behaviour(latency_s=args.latency_s, refuse_rate=args.refuse_rate, seed=args.seed)
    simulator = ChannelSimulator(
        SimulatedAcquirer(SPECS[args.channel], behaviour),
        secret.encode(),
        faults=HttpFaults(error_5xx_rate=args.error_5xx_rate, seed=args.seed),
        notify_url=args.notify_url,
    )
    asyncio.run(serve_simulator(simulator, args.host, args.port, ready=_announce_port))
    return 0


def _announce_port(port: int) -> None:
    print(f"simulator listening on port {port}", flush=True)


def _settings(args: argparse.Namespace) -> Settings:
    """Settings from file and environment, then the flags given on the command line."""
    settings = load_settings(config_file=args.config)
    flags = {
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "workers": getattr(args, "workers", None),
        "data_dir": args.data_dir,
    }
    changes = {name: value for name, value in flags.items() if value is not None}
    if getattr(args, "no_uvloop", False):
        changes["use_uvloop"] = False
    settings = settings.replace(**changes)
    validate(settings)
    return settings


def _run(settings: Settings) -> int:
    """Start embedded services if needed, migrate once, then serve from the workers."""
    with _sigterm_exits():
        services = start_embedded(settings)
        try:
            resolved = settings.replace(
                postgres_dsn=services.postgres_dsn, redis_url=services.redis_url
            )
            # Once, here, rather than racing in every worker. asyncio.run leaves no
            # loop or connection behind, so forking afterwards is safe.
            _apply_migrations(resolved)
            code = run_workers(
                settings.workers,
                functools.partial(_serve, resolved),
                stop_timeout_s=settings.grace_period_s + _STOP_MARGIN_S,
            )
        finally:
            services.stop()
    log.info("paycore exits with code %d", code)
    return code


def _serve(settings: Settings, index: int) -> None:
    """Body of worker ``index``: one event loop, one gRPC server, until SIGTERM."""
    # gRPC is imported only now, in the worker, after any fork (see supervisor.py).
    from core.runtime.serve import serve  # noqa: PLC0415

    run(
        serve(settings, reuse_port=settings.workers > 1, worker_index=index),
        settings.use_uvloop,
    )


def _migrate(settings: Settings) -> int:
    """Apply pending migrations to the configured (or embedded) database and list them."""
    with start_embedded(settings) as services:
        applied = _apply_migrations(settings.replace(postgres_dsn=services.postgres_dsn))
    print("\n".join(f"applied {name}" for name in applied) or "no pending migrations")
    return 0


def _apply_migrations(settings: Settings) -> list[str]:
    assert settings.postgres_dsn is not None
    applied = asyncio.run(migrate(settings.postgres_dsn))
    log.info("migrations applied: %s", ", ".join(applied) or "none pending")
    return applied


_ROTATE_BATCH = 500


def _vault_rotate(settings: Settings) -> int:
    """Move every stored card to ``vault_active_key_id``, batch by batch; print the count."""
    with start_embedded(settings) as services:
        resolved = settings.replace(
            postgres_dsn=services.postgres_dsn, redis_url=services.redis_url
        )
        try:
            moved = asyncio.run(_rotate_vault(resolved))
        except LookupError as exc:  # UnknownKeyError: a card's key is not configured
            log.error("vault rotation stopped: %s", exc)
            return EXIT_FAILED
    print(f"rewrapped {moved} cards under vault key {resolved.vault_active_key_id or 'dev'}")
    return 0


async def _rotate_vault(settings: Settings) -> int:
    # Imported here, like the server: the CLI's other commands need none of it.
    from core.app import open_services  # noqa: PLC0415

    services = await open_services(settings)
    try:
        total = 0
        while moved := await services.vault.rotate(_ROTATE_BATCH):
            total += moved
        # Webhook signing secrets are sealed under the same keys.
        if services.notifications is not None:
            endpoints = services.notifications.endpoints
            while resealed := await endpoints.reseal_secrets(_ROTATE_BATCH):
                log.info("re-wrapped the signing secrets of %d webhook endpoints", resealed)
        return total
    finally:
        await services.close()


def _show_config(settings: Settings) -> int:
    sys.stdout.write(settings_as_toml(settings))
    return 0


@contextlib.contextmanager
def _sigterm_exits() -> Iterator[None]:
    """Make SIGTERM raise SystemExit, so ``finally`` blocks stop the embedded services.

    Python's default for SIGTERM is to die on the spot. This covers the start-up
    (embedded services, migrations); the server and the supervisor install their
    own handlers while they run.
    """

    def exit_now(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, exit_now)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
