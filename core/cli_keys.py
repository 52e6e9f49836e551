"""``paycore keys bootstrap`` and ``paycore keys create``: API keys without the API.

A key is shown once. With ``--out PATH`` the command writes it to a new file of its
own (mode 0600) and refuses, changing nothing, when the file exists: a shell
redirection (``> file``) would empty the file before paycore could refuse, and an
emptied file holding the only superadmin key leaves no way back.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from core.config import Settings
from core.runtime.embedded import start_embedded
from core.storage.migrate import migrate

log = logging.getLogger("core.cli")

EXIT_FAILED = 1


def add_key_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``keys bootstrap`` and ``keys create`` to the ``paycore`` parser."""
    keys = commands.add_parser("keys", help="issue API keys without the API")
    key_commands = keys.add_subparsers(title="keys commands", required=True, metavar="COMMAND")
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument(
        "--out",
        type=Path,
        metavar="PATH",
        help="write the key to this new file (mode 0600) instead of stdout; "
        "refused, changing nothing, when the file exists",
    )
    bootstrap = key_commands.add_parser(
        "bootstrap",
        parents=[common, out],
        help="create the first superadmin key (refused once one exists); shows it once",
    )
    bootstrap.add_argument("--description", default="bootstrap superadmin key")
    bootstrap.set_defaults(command=keys_bootstrap, with_args=True)
    create = key_commands.add_parser(
        "create", parents=[common, out], help="create a merchant or admin key; shows it once"
    )
    create.add_argument("--merchant", required=True, help="the merchant the key acts for")
    create.add_argument("--role", choices=["merchant", "admin"], default="merchant")
    create.add_argument("--description", default="created with paycore keys create")
    create.add_argument(
        "--create-merchant",
        metavar="NAME",
        help="create the merchant with this display name if it does not exist",
    )
    create.add_argument(
        "--raw-card-data",
        action="store_true",
        help="with --create-merchant: allow full card numbers outside TokenizeCard",
    )
    create.set_defaults(command=keys_create, with_args=True)


def keys_bootstrap(settings: Settings, args: argparse.Namespace) -> int:
    """Show a new superadmin key, unless one exists already (exit 1 then)."""
    from core.storage.access import BootstrapRefusedError  # noqa: PLC0415

    def refused(_: Exception) -> None:
        log.error("a superadmin key exists already: create more with AccessService.CreateApiKey")

    return _issue_to(
        settings,
        args.out,
        (BootstrapRefusedError,),
        refused,
        role="superadmin",
        merchant_id=None,
        description=args.description,
        only_if_no_superadmin=True,
    )


def keys_create(settings: Settings, args: argparse.Namespace) -> int:
    """Show a new merchant or admin key (creating the merchant on request)."""
    import asyncpg  # noqa: PLC0415

    def refused(exc: Exception) -> None:
        log.error("cannot create the key (%s); does merchant %r exist?", exc, args.merchant)

    return _issue_to(
        settings,
        args.out,
        (ValueError, asyncpg.ForeignKeyViolationError, asyncpg.CheckViolationError),
        refused,
        role=args.role,
        merchant_id=args.merchant,
        description=args.description,
        merchant_name=args.create_merchant,
        raw_card_data_allowed=args.raw_card_data,
    )


def _issue_to(
    settings: Settings,
    out: Path | None,
    refusals: tuple[type[Exception], ...],
    explain: Callable[[Exception], None],
    **fields: Any,
) -> int:
    """Issue a key and deliver it to ``out`` (or stdout); 1 when refused, after ``explain``."""
    with _key_destination(out) as deliver:
        if deliver is None:
            return EXIT_FAILED
        try:
            secret = _issue_key(settings, **fields)
        except refusals as exc:
            explain(exc)
            return EXIT_FAILED
        deliver(secret)
    return 0


class _Deliver:
    """Where a new key goes: stdout, or the file reserved for it."""

    def __init__(self, fd: int | None, path: Path | None) -> None:
        self.fd = fd
        self.path = path
        self.delivered = False

    def __call__(self, secret: str) -> None:
        if self.fd is None:
            print(secret)
            shown = "this is the only time the key is shown"
        else:
            # fsync before saying so: the key exists in the database from now on,
            # and this file may be its only copy.
            os.write(self.fd, f"{secret}\n".encode())
            os.fsync(self.fd)
            shown = f"the key is in {self.path} (mode 0600), and nowhere else"
        self.delivered = True
        print(
            f"paycore: {shown}; send it as 'authorization: Bearer <key>'",
            file=sys.stderr,
        )


@contextlib.contextmanager
def _key_destination(out: Path | None) -> Iterator[_Deliver | None]:
    """Reserve ``out`` before any key is issued, so a key is never issued that cannot be kept.

    Yields None, after logging why, when ``out`` exists.

    The file is created exclusively (O_EXCL: an existing file, even one created a
    moment ago by another process, is refused and left untouched) with mode 0600.
    If no key is delivered (refused, or the database failed) the empty reservation
    is removed again. A crash between reservation and delivery can leave an empty
    file; the key was then either never issued or never shown, and the next attempt
    says the file exists rather than overwrite it.
    """
    if out is None:
        yield _Deliver(None, None)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        log.error("%s exists already; not overwriting it (move it away first)", out)
        yield None
        return
    deliver = _Deliver(fd, out)
    try:
        yield deliver
    finally:
        os.close(fd)
        if not deliver.delivered:
            out.unlink(missing_ok=True)


def _issue_key(settings: Settings, **fields: Any) -> str:
    from core.auth.policy import Role  # noqa: PLC0415

    fields["role"] = Role.parse(fields["role"])
    with start_embedded(settings) as services:
        dsn = services.postgres_dsn
        # A fresh machine may run this before `paycore run` ever migrated.
        applied = asyncio.run(migrate(dsn))
        log.info("migrations applied: %s", ", ".join(applied) or "none pending")
        return asyncio.run(_issue_key_async(dsn, fields))


async def _issue_key_async(dsn: str, fields: dict[str, Any]) -> str:
    import asyncpg  # noqa: PLC0415

    from core.storage.access import issue_key  # noqa: PLC0415

    connection = await asyncpg.connect(dsn)
    try:
        issued = await issue_key(connection, **fields)
    finally:
        await connection.close()
    return issued.secret
