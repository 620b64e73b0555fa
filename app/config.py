"""Settings from the environment, with safe development defaults.

Production (``EXCHANGE_CONNECT_ENV=production``) refuses to start with a missing or default
``SECRET_KEY`` or ``ENCRYPTION_KEY``; development generates both once and keeps them under
``instance/`` so a restart does not sign everyone out or orphan encrypted credentials.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"

#: Values a production deployment may not use as its SECRET_KEY.
WEAK_SECRET_KEYS = frozenset({"", "dev", "secret", "changeme", "development"})


class ConfigError(RuntimeError):
    """Raised when the configuration is unsafe or unusable."""


def _instance_secret(name: str, make: Any) -> str:
    """Return a development secret kept in ``instance/<name>``, creating it on first use."""
    INSTANCE.mkdir(parents=True, exist_ok=True)
    path = INSTANCE / name
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


@dataclass(frozen=True)
class Settings:
    """Everything the app reads from the environment."""

    env: str = "development"
    secret_key: str = ""
    #: Comma-separated Fernet keys, newest first (MultiFernet: the first encrypts).
    encryption_keys: tuple[str, ...] = ()
    database_url: str = ""
    redis_url: str = ""
    #: Base URL of the public site, used for the OAuth issuer and absolute links.
    public_url: str = "http://127.0.0.1:5000"
    #: Hosts that may be reached over http or on private addresses (the sandbox in dev/test).
    outbound_allow_hosts: tuple[str, ...] = ()
    #: EWS URL of the Exchange sandbox started beside the app (shown as a hint in dev).
    sandbox_ews_url: str = ""
    session_minutes: int = 60
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read settings from ``environ`` (default ``os.environ``)."""
        env = dict(os.environ if environ is None else environ)
        mode = env.get("EXCHANGE_CONNECT_ENV", "development").strip().lower()
        production = mode == "production"

        secret_key = env.get("SECRET_KEY", "")
        keys = _list(env.get("ENCRYPTION_KEY"))
        if production:
            if secret_key.strip().lower() in WEAK_SECRET_KEYS or len(secret_key) < 32:
                raise ConfigError(
                    "SECRET_KEY must be set to a random value of at least 32 characters in "
                    "production."
                )
            if not keys:
                raise ConfigError(
                    "ENCRYPTION_KEY must be set in production (one or more Fernet keys, comma "
                    "separated, newest first)."
                )
        else:
            secret_key = secret_key or _instance_secret(
                "secret_key", lambda: secrets.token_urlsafe(48)
            )
            keys = keys or (
                _instance_secret("encryption_key", lambda: Fernet.generate_key().decode()),
            )
        for key in keys:
            try:
                Fernet(key)
            except ValueError as e:
                raise ConfigError("ENCRYPTION_KEY holds a value that is not a Fernet key.") from e

        database_url = env.get("DATABASE_URL") or f"sqlite:///{INSTANCE / 'exchange_connect.db'}"
        return cls(
            env=mode,
            secret_key=secret_key,
            encryption_keys=keys,
            database_url=database_url,
            redis_url=env.get("REDIS_URL", ""),
            public_url=env.get("PUBLIC_URL", "http://127.0.0.1:5000").rstrip("/"),
            outbound_allow_hosts=_list(
                env.get("OUTBOUND_ALLOW_HOSTS", "" if production else "127.0.0.1,localhost")
            ),
            sandbox_ews_url=env.get("SANDBOX_EWS_URL", ""),
            session_minutes=int(env.get("SESSION_MINUTES", "60")),
        )

    @property
    def production(self) -> bool:
        return self.env == "production"

    def flask_config(self) -> dict[str, Any]:
        """The Flask config keys these settings imply."""
        from datetime import timedelta

        return {
            "ENV_NAME": self.env,
            "SECRET_KEY": self.secret_key,
            "ENCRYPTION_KEYS": self.encryption_keys,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "PUBLIC_URL": self.public_url,
            "OUTBOUND_ALLOW_HOSTS": self.outbound_allow_hosts,
            "SANDBOX_EWS_URL": self.sandbox_ews_url,
            "PERMANENT_SESSION_LIFETIME": timedelta(minutes=self.session_minutes),
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_SECURE": self.production,
            "SESSION_COOKIE_NAME": "__Host-ec_session" if self.production else "ec_session",
            # SECURITY.md finding 9: with Referrer-Policy no-referrer, strict referrer checking
            # rejects every HTTPS POST. We send strict-origin-when-cross-origin, which keeps the
            # Referer for same-origin POSTs, so strict checking can stay on.
            "WTF_CSRF_SSL_STRICT": True,
            "WTF_CSRF_TIME_LIMIT": self.session_minutes * 60,
            "MAX_CONTENT_LENGTH": 1024 * 1024,
            "TESTING": False,
        }
