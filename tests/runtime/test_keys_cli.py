"""``paycore keys ... --out PATH``: the key goes to a new file of its own, never over one."""

from __future__ import annotations

import signal
import stat
from pathlib import Path

from paycore.v1 import access_service_pb2 as access_pb
from paycore.v1 import payment_service_pb2 as svc

from .processes import Spawn, start_paycore
from .test_run import access, issue_key, payments


def superadmin_keys(port: int, key: str) -> list[access_pb.ApiKey]:
    """The platform's keys as the holder of ``key`` lists them (fails if ``key`` does not work)."""
    listed = access(port).ListApiKeys(
        access_pb.ListApiKeysRequest(), metadata=(("authorization", f"Bearer {key}"),), timeout=30
    )
    return list(listed.api_keys)


def test_bootstrap_run_twice_with_out_leaves_the_first_key_in_its_file_and_usable(
    spawn: Spawn, data_dir: Path
) -> None:
    server, port = start_paycore(spawn, data_dir=data_dir)
    key_file = data_dir / "superadmin.key"

    code, out, err = issue_key(data_dir, "bootstrap", "--out", str(key_file))
    assert code == 0, err
    first = key_file.read_text()
    again, out_again, err_again = issue_key(data_dir, "bootstrap", "--out", str(key_file))

    assert out == "" and out_again == ""  # the secret went to the file only
    assert first.startswith("pck_") and first.endswith("\n")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert again == 1 and "exists already" in err_again and "Traceback" not in err_again
    assert key_file.read_text() == first
    keys = superadmin_keys(port, first.strip())
    assert [k.role for k in keys] == [access_pb.ApiKey.ROLE_SUPERADMIN]
    assert server.stop(signal.SIGTERM) == 0, server.output()


def test_bootstrap_into_an_existing_file_issues_no_key_and_leaves_the_file_untouched(
    spawn: Spawn, data_dir: Path
) -> None:
    server, port = start_paycore(spawn, data_dir=data_dir)
    taken = data_dir / "taken.key"
    taken.write_text("someone else's file\n")

    code, _, err = issue_key(data_dir, "bootstrap", "--out", str(taken))
    # Had the refused run issued a key, this bootstrap would be refused too.
    then, _, err_then = issue_key(data_dir, "bootstrap", "--out", str(data_dir / "new.key"))

    assert code == 1 and "taken.key exists already" in err
    assert taken.read_text() == "someone else's file\n"
    assert then == 0, err_then
    assert len(superadmin_keys(port, (data_dir / "new.key").read_text().strip())) == 1
    assert server.stop(signal.SIGTERM) == 0, server.output()


def test_a_refused_bootstrap_leaves_no_empty_key_file_behind(spawn: Spawn, data_dir: Path) -> None:
    server, _ = start_paycore(spawn, data_dir=data_dir)
    assert issue_key(data_dir, "bootstrap")[0] == 0  # a superadmin exists now
    key_file = data_dir / "second.key"

    code, _, err = issue_key(data_dir, "bootstrap", "--out", str(key_file))

    assert code == 1 and "a superadmin key exists already" in err
    assert not key_file.exists()
    assert server.stop(signal.SIGTERM) == 0, server.output()


def test_keys_create_with_out_writes_a_working_merchant_key(spawn: Spawn, data_dir: Path) -> None:
    server, port = start_paycore(spawn, data_dir=data_dir)
    key_file = data_dir / "keys" / "acme.key"  # a folder that does not exist yet

    code, out, err = issue_key(
        data_dir, "create", "--merchant", "acme", "--create-merchant", "A", "--out", str(key_file)
    )

    assert code == 0, err
    assert out == "" and key_file.read_text().startswith("pck_")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = (("authorization", f"Bearer {key_file.read_text().strip()}"),)
    listed = payments(port).ListPayments(svc.ListPaymentsRequest(), metadata=key, timeout=30)
    assert list(listed.payments) == []
    assert server.stop(signal.SIGTERM) == 0, server.output()
