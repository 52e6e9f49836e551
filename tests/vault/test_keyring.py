"""Vault keys from configuration: parsing, validation, the development key, redaction."""

from __future__ import annotations

import base64
import logging
import os

import pytest

from core.config import ConfigError, Settings, load_settings, settings_as_toml, validate
from core.vault import keyring as keyring_module
from core.vault.keyring import DEV_KEY_ID, Keyring, KeyringError, UnknownKeyError, parse_keys

KEY_1 = os.urandom(32)
KEY_2 = os.urandom(32)


def entry(key_id: str, key: bytes) -> str:
    """A ``vault_keys`` entry."""
    return f"{key_id}:{base64.b64encode(key).decode()}"


def test_entries_parse_to_keys_by_id() -> None:
    assert parse_keys([entry("k1", KEY_1), entry("k2", KEY_2)]) == {"k1": KEY_1, "k2": KEY_2}


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (["no-separator"], "expected"),
        ([":" + base64.b64encode(KEY_1).decode()], "expected"),
        (["k 1:" + base64.b64encode(KEY_1).decode()], "expected"),
        (["k1:not base64!"], "base64"),
        ([entry("k1", b"short")], "32 bytes"),
        ([entry("k1", KEY_1), entry("k1", KEY_2)], "twice"),
    ],
)
def test_malformed_entries_are_refused_without_showing_the_key(
    entries: list[str], message: str
) -> None:
    with pytest.raises(KeyringError, match=message) as caught:
        parse_keys(entries)

    assert base64.b64encode(KEY_1).decode() not in str(caught.value)


def test_the_active_key_must_be_configured() -> None:
    with pytest.raises(KeyringError, match="must name one of"):
        Keyring.from_config([entry("k1", KEY_1)], "k2")
    with pytest.raises(KeyringError, match="vault_keys is empty"):
        Keyring.from_config([], "k1")


def test_keyring_seals_with_the_active_key_and_reads_every_configured_one() -> None:
    ring = Keyring.from_config([entry("k1", KEY_1), entry("k2", KEY_2)], "k2")

    assert (ring.active_id, ring.active_kek, ring.kek("k1")) == ("k2", KEY_2, KEY_1)
    with pytest.raises(UnknownKeyError, match="k3"):
        ring.kek("k3")
    assert base64.b64encode(KEY_1).decode() not in repr(ring)


def test_without_keys_the_dev_key_is_used_with_one_warning(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keyring_module, "_warned_dev_key", False)
    with caplog.at_level(logging.WARNING, logger="core.vault.keyring"):
        first = Keyring.from_config([], "")
        Keyring.from_config([], "")

    assert first.active_id == DEV_KEY_ID
    assert len([r for r in caplog.records if "development key" in r.getMessage()]) == 1


def test_settings_read_vault_keys_from_the_environment() -> None:
    settings = load_settings(
        environ={
            "PAYCORE_VAULT_KEYS": f"{entry('k1', KEY_1)},{entry('k2', KEY_2)}",
            "PAYCORE_VAULT_ACTIVE_KEY_ID": "k2",
        }
    )

    assert settings.vault_keys == (entry("k1", KEY_1), entry("k2", KEY_2))
    assert settings.vault_active_key_id == "k2"


@pytest.mark.parametrize(
    ("keys", "active"),
    [
        ((entry("k1", b"x" * 16),), "k1"),
        ((entry("k1", KEY_1),), ""),
        ((entry("k1", KEY_1),), "k2"),
        ((), "k1"),
    ],
)
def test_validate_refuses_unusable_vault_settings(keys: tuple[str, ...], active: str) -> None:
    with pytest.raises(ConfigError, match="vault"):
        validate(Settings(vault_keys=keys, vault_active_key_id=active))


def test_vault_keys_are_redacted_when_settings_are_shown() -> None:
    shown = settings_as_toml(Settings(vault_keys=(entry("k1", KEY_1),), vault_active_key_id="k1"))

    assert base64.b64encode(KEY_1).decode() not in shown
    assert 'vault_keys = "<redacted>"' in shown
    assert 'vault_active_key_id = "k1"' in shown
