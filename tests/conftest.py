"""Fixtures: the app on a migrated database (SQLite always, PostgreSQL when TEST_DATABASE_URL is
set), its test client, and a live EWS sandbox."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import create_engine, text

from app import create_app
from app.database import db
from app.migrate import upgrade

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])
#: Fixed per test session so every app in the session can read what another encrypted.
ENCRYPTION_KEY = Fernet.generate_key().decode()


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A freshly migrated database for this test session, on each backend."""
    if request.param == "postgresql":
        url = os.environ["TEST_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
        _reset_postgres(url)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    upgrade(url)
    return url


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    """The app, configured for tests, bound to the session's database."""
    application = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key-" + "x" * 32,
            "ENCRYPTION_KEYS": (ENCRYPTION_KEY,),
            "DATABASE_URL": database_url,
            "OUTBOUND_ALLOW_HOSTS": ("127.0.0.1", "localhost"),
            "RATELIMIT_STORAGE_URI": "memory://",
            "SERVER_NAME": "localhost",
        }
    )
    with application.app_context():
        yield application
    db.session.remove()


@pytest.fixture
def client(app: Flask):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A live EWS sandbox on a free port, loaded with the contoso.example demo directory."""
    from app.sandbox import SandboxServer

    with SandboxServer(log_dir=tmp_path_factory.mktemp("sandbox")) as server:
        yield server

