"""Settings: production refuses weak secrets; development generates safe ones."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from app.config import ConfigError, Settings

STRONG = "s" * 48


@pytest.mark.parametrize("secret_key", ["", "dev", "changeme", "short-but-not-default"])
def test_production_refuses_a_missing_default_or_short_secret_key(secret_key):
    env = {"EXCHANGE_CONNECT_ENV": "production", "SECRET_KEY": secret_key,
           "ENCRYPTION_KEY": Fernet.generate_key().decode()}

    with pytest.raises(ConfigError, match="SECRET_KEY"):
        Settings.from_env(env)


def test_production_refuses_to_start_without_an_encryption_key():
    env = {"EXCHANGE_CONNECT_ENV": "production", "SECRET_KEY": STRONG}

    with pytest.raises(ConfigError, match="ENCRYPTION_KEY"):
        Settings.from_env(env)


def test_an_encryption_key_that_is_not_a_fernet_key_is_refused():
    env = {"EXCHANGE_CONNECT_ENV": "production", "SECRET_KEY": STRONG, "ENCRYPTION_KEY": "nope"}

    with pytest.raises(ConfigError, match="not a Fernet key"):
        Settings.from_env(env)


def test_production_sets_secure_host_only_cookies():
    key = Fernet.generate_key().decode()
    settings = Settings.from_env(
        {"EXCHANGE_CONNECT_ENV": "production", "SECRET_KEY": STRONG, "ENCRYPTION_KEY": key}
    )

    config = settings.flask_config()

    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_NAME"].startswith("__Host-")
    assert settings.outbound_allow_hosts == ()


def test_several_encryption_keys_are_read_newest_first():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()

    settings = Settings.from_env({"SECRET_KEY": STRONG, "ENCRYPTION_KEY": f"{new}, {old}"})

    assert settings.encryption_keys == (new, old)


def test_development_generates_keys_when_none_are_given():
    settings = Settings.from_env({})

    assert len(settings.secret_key) >= 32
    assert Fernet(settings.encryption_keys[0])
