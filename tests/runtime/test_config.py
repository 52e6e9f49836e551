"""Settings from defaults, a TOML file and PAYCORE_* variables; errors name the field."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from core.cli import EXIT_CONFIG, main
from core.config import (
    ConfigError,
    Settings,
    load_settings,
    minimum_started_grace_s,
    redact_url,
    settings_as_toml,
)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_apply_without_file_or_environment() -> None:
    assert load_settings(environ={}) == Settings()


def test_file_overrides_defaults_and_environment_overrides_file(tmp_path: Path) -> None:
    config = write(tmp_path / "paycore.toml", 'port = 6000\nworkers = 2\nhost = "0.0.0.0"\n')

    settings = load_settings(config, environ={"PAYCORE_PORT": "7000"})

    assert settings.port == 7000
    assert settings.workers == 2
    assert settings.host == "0.0.0.0"


def test_config_file_can_be_named_by_paycore_config(tmp_path: Path) -> None:
    config = write(tmp_path / "paycore.toml", "workers = 3\n")

    assert load_settings(environ={"PAYCORE_CONFIG": str(config)}).workers == 3


def test_nested_risk_settings_come_from_a_table_and_double_underscore_variables(
    tmp_path: Path,
) -> None:
    config = write(tmp_path / "paycore.toml", '[risk]\nblocked_bins = ["411111"]\n')

    settings = load_settings(config, environ={"PAYCORE_RISK__MAX_AMOUNT_MINOR": "500"})

    assert settings.risk.blocked_bins == ("411111",)
    assert settings.risk.max_amount_minor == 500


def test_a_variable_overrides_one_field_of_a_table_and_keeps_the_files_others(
    tmp_path: Path,
) -> None:
    config = write(
        tmp_path / "paycore.toml", "[risk]\nmax_amount_minor = 5\nreview_amount_minor = 3\n"
    )

    settings = load_settings(config, environ={"PAYCORE_RISK__MAX_AMOUNT_MINOR": "7"})

    assert (settings.risk.max_amount_minor, settings.risk.review_amount_minor) == (7, 3)


def test_an_empty_variable_unsets_an_optional_setting_of_the_file(tmp_path: Path) -> None:
    config = write(tmp_path / "paycore.toml", 'postgres_dsn = "postgresql://db/paycore"\n')

    assert load_settings(config, environ={"PAYCORE_POSTGRES_DSN": ""}).postgres_dsn is None


def test_merchant_rate_limits_come_from_the_file_with_their_own_types(tmp_path: Path) -> None:
    config = write(
        tmp_path / "paycore.toml",
        "[rate_limits.merchants.Acme]\nwrites_per_s = 500\nwrites_burst = 50\n",
    )

    limits = load_settings(config, environ={}).rate_limits.for_merchant("Acme")

    assert (limits.writes_per_s, limits.writes_burst, limits.reads_burst) == (500.0, 50, 100)
    assert isinstance(limits.writes_burst, int)
    with pytest.raises(ConfigError, match=r"rate_limits\.merchants\.Acme: unknown setting 'burst'"):
        load_settings(
            write(tmp_path / "bad.toml", "[rate_limits.merchants.Acme]\nburst = 1\n"), environ={}
        )
    with pytest.raises(ConfigError, match="PAYCORE_RATE_LIMITS__MERCHANTS"):
        load_settings(environ={"PAYCORE_RATE_LIMITS__MERCHANTS__ACME__WRITES_PER_S": "1"})


def test_a_bad_variable_is_named_with_its_field_and_why() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"PAYCORE_RISK__MAX_AMOUNT_MINOR": "lots"})

    assert str(caught.value).startswith(
        "PAYCORE_RISK__MAX_AMOUNT_MINOR (risk.max_amount_minor): cannot use 'lots': "
    )
    assert "valid integer" in str(caught.value)


def test_settings_are_immutable_and_replace_converts_or_refuses_naming_the_field() -> None:
    settings = Settings()

    with pytest.raises(ValueError, match="frozen"):
        settings.port = 1
    assert settings.replace(data_dir="/srv/paycore").data_dir == Path("/srv/paycore")
    with pytest.raises(ConfigError, match=r"^workers: cannot use 'many'"):
        settings.replace(workers="many")


def test_types_are_coerced_from_environment_text() -> None:
    settings = load_settings(
        environ={
            "PAYCORE_USE_UVLOOP": "off",
            "PAYCORE_GRACE_PERIOD_S": "2.5",
            "PAYCORE_DATA_DIR": "/var/lib/paycore",
            "PAYCORE_RISK__BLOCKED_BINS": "411111, 522222",
        }
    )

    assert settings.use_uvloop is False
    assert settings.grace_period_s == 2.5
    assert settings.data_dir == Path("/var/lib/paycore")
    assert settings.risk.blocked_bins == ("411111", "522222")


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("PAYCORE_PORT", "http", "port"),
        ("PAYCORE_USE_UVLOOP", "maybe", "use_uvloop"),
        ("PAYCORE_PORT", "70000", "port"),
        ("PAYCORE_WORKERS", "0", "workers"),
        ("PAYCORE_LOG_FORMAT", "xml", "log_format"),
        ("PAYCORE_LOG_LEVEL", "LOUD", "log_level"),
        ("PAYCORE_IDEMPOTENCY_TTL_S", "60", "idempotency_ttl_s"),
    ],
)
def test_bad_environment_value_is_rejected_naming_the_field(
    variable: str, value: str, field: str
) -> None:
    with pytest.raises(ConfigError, match=field):
        load_settings(environ={variable: value})


def test_any_free_port_is_refused_with_several_workers() -> None:
    with pytest.raises(ConfigError, match="port 0"):
        load_settings(environ={"PAYCORE_PORT": "0", "PAYCORE_WORKERS": "2"})
    assert load_settings(environ={"PAYCORE_PORT": "0"}).port == 0


def test_bad_file_value_is_rejected_naming_the_file_and_field(tmp_path: Path) -> None:
    config = write(tmp_path / "paycore.toml", 'workers = "many"\n')

    with pytest.raises(ConfigError, match=r"paycore\.toml\.workers"):
        load_settings(config, environ={})


def test_unknown_keys_are_rejected_in_file_table_and_environment(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'prot'"):
        load_settings(write(tmp_path / "a.toml", "prot = 1\n"), environ={})
    with pytest.raises(ConfigError, match="'max_amount'"):
        load_settings(write(tmp_path / "b.toml", "[risk]\nmax_amount = 1\n"), environ={})
    with pytest.raises(ConfigError, match="'prot'"):
        load_settings(environ={"PAYCORE_PROT": "1"})


def test_unreadable_or_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.toml"):
        load_settings(tmp_path / "missing.toml", environ={})
    with pytest.raises(ConfigError, match=r"broken\.toml"):
        load_settings(write(tmp_path / "broken.toml", "port = \n"), environ={})


def test_settings_as_toml_reads_back_and_hides_secrets(tmp_path: Path) -> None:
    settings = load_settings(
        environ={
            "PAYCORE_POSTGRES_DSN": "postgresql://paycore:s3cret@db:5432/paycore",
            "PAYCORE_CARD_FINGERPRINT_KEY": "fingerprint-secret",
            "PAYCORE_RISK__BLOCKED_BINS": "411111",
        }
    )

    text = settings_as_toml(settings)

    assert "s3cret" not in text
    assert "fingerprint-secret" not in text
    assert "# redis_url is not set" in text
    data = tomllib.loads(text)
    assert data["postgres_dsn"] == "postgresql://paycore:***@db:5432/paycore"
    assert data["card_fingerprint_key"] == "<redacted>"
    assert data["risk"]["blocked_bins"] == ["411111"]
    reread = load_settings(write(tmp_path / "back.toml", text), environ={})
    assert reread.replace(postgres_dsn=settings.postgres_dsn, card_fingerprint_key="x") == (
        settings.replace(card_fingerprint_key="x")
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:pw@db:5432/x", "postgresql://u:***@db:5432/x"),
        ("postgresql://u@db/x", "postgresql://u@db/x"),
        ("redis://:pw@cache:6379/0", "redis://:***@cache:6379/0"),
        ("postgresql://db/x?user=u&password=pw", "postgresql://db/x?user=u&password=***"),
        ("unix:///data/redis.sock", "unix:///data/redis.sock"),
    ],
)
def test_redact_url_hides_only_the_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_every_setting_is_documented_with_its_environment_variable() -> None:
    documented = (Path(__file__).resolve().parents[2] / "docs" / "CONFIGURATION.md").read_text()
    defaults = Settings()
    tables = {name: value for name, value in defaults if isinstance(value, BaseModel)}
    rows = {
        (f"`{name}`", f"`PAYCORE_{name.upper()}`")
        for name in Settings.model_fields
        if name not in tables
    } | {
        (f"`{table}.{name}`", f"`PAYCORE_{table.upper()}__{name.upper()}`")
        for table, nested in tables.items()
        for name in type(nested).model_fields
        if name != "merchants"  # TOML only, documented by hand
    }
    assert {"risk", "rate_limits", "auth"} <= set(tables)

    missing = [row for row in rows if f"| {row[0]} | {row[1]} |" not in documented]

    assert not missing, f"docs/CONFIGURATION.md lacks rows for {sorted(missing)}"


def test_a_started_grace_that_a_live_request_could_outlast_is_refused_at_start() -> None:
    # A live request keeps its attempt 'started' for up to the channel timeout plus
    # the commit retries; a status query before that would race it.
    floor = minimum_started_grace_s(Settings(channel_timeout_s=4))

    with pytest.raises(ConfigError, match=r"status_query\.started_grace_s"):
        load_settings(
            environ={
                "PAYCORE_CHANNEL_TIMEOUT_S": "4",
                "PAYCORE_STATUS_QUERY__STARTED_GRACE_S": str(floor),
            }
        )
    accepted = load_settings(
        environ={
            "PAYCORE_CHANNEL_TIMEOUT_S": "4",
            "PAYCORE_STATUS_QUERY__STARTED_GRACE_S": str(floor + 1),
        }
    )
    assert accepted.status_query.started_grace_s == floor + 1
    assert floor > 4 + 15  # the channel timeout and about fifteen seconds of commit retries


def test_paycore_run_refuses_a_started_grace_shorter_than_a_live_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PAYCORE_STATUS_QUERY__STARTED_GRACE_S", "1")

    code = main(["run", "--data-dir", str(tmp_path)])

    assert code == EXIT_CONFIG  # before anything starts
    assert "status_query.started_grace_s" in capsys.readouterr().err


def test_billing_settings_that_cannot_work_are_refused() -> None:
    with pytest.raises(ConfigError, match="billing_dunning_days: retry days must be increasing"):
        load_settings(environ={"PAYCORE_BILLING_DUNNING_DAYS": "[3, 1]"})
    with pytest.raises(ConfigError, match="billing_lease_s > 0"):
        load_settings(environ={"PAYCORE_BILLING_LEASE_S": "0"})
    assert load_settings(
        environ={"PAYCORE_BILLING_DUNNING_DAYS": "[2, 4]"}
    ).billing_dunning_days == (
        2,
        4,
    )
