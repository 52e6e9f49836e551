"""The paycore command as a user runs it: exit codes, messages, effective settings."""

from __future__ import annotations

import tomllib
from pathlib import Path

from .processes import run_python


def paycore(*args: str, **variables: str) -> tuple[int, str, str]:
    result = run_python("-m", "core.cli", *args, **variables)
    return result.returncode, result.stdout, result.stderr


def test_config_prints_the_effective_settings_with_secrets_redacted() -> None:
    code, out, err = paycore(
        "config",
        PAYCORE_PORT="6000",
        PAYCORE_REDIS_URL="redis://:hunter2@cache:6379/0",
        PAYCORE_CARD_FINGERPRINT_KEY="fingerprint-secret",
    )

    assert code == 0, err
    assert "hunter2" not in out and "fingerprint-secret" not in out
    settings = tomllib.loads(out)
    assert settings["port"] == 6000
    assert settings["redis_url"] == "redis://:***@cache:6379/0"
    assert settings["card_fingerprint_key"] == "<redacted>"


def test_flags_override_the_environment_and_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "paycore.toml"
    config.write_text("port = 5000\nworkers = 4\n")

    code, out, err = paycore(
        "config", "--config", str(config), "--port", "7000", "--no-uvloop", PAYCORE_WORKERS="3"
    )

    assert code == 0, err
    settings = tomllib.loads(out)
    assert (settings["port"], settings["workers"], settings["use_uvloop"]) == (7000, 3, False)


def test_a_bad_config_file_exits_2_naming_the_field_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "paycore.toml"
    config.write_text('workers = "many"\n')

    code, _, err = paycore("run", "--config", str(config))

    assert code == 2
    assert "workers" in err and "many" in err
    assert "Traceback" not in err


def test_an_unknown_setting_in_the_environment_exits_2() -> None:
    code, _, err = paycore("config", PAYCORE_PROT="1")

    assert code == 2
    assert "'prot'" in err


def test_a_flag_that_fails_validation_exits_2() -> None:
    code, _, err = paycore("run", "--workers", "0")

    assert code == 2
    assert "workers must be at least 1" in err


def test_migrate_applies_pending_migrations_once(data_dir: Path) -> None:
    code, out, err = paycore("migrate", "--data-dir", str(data_dir))
    assert code == 0, err
    assert out.startswith("applied ")

    code, out, err = paycore("migrate", "--data-dir", str(data_dir))
    assert code == 0, err
    assert out.strip() == "no pending migrations"
