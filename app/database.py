"""The database: one engine and a scoped session, bound once by ``create_app``.

Kept free of Flask so ``services/`` can use it; ``extensions.py`` removes the session at the end
of each request.
"""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker


class Base(DeclarativeBase):
    """Base class of every model."""


class Database:
    """Holds the engine and the session factory for the current process."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self._factory = sessionmaker(expire_on_commit=False)
        self.session: scoped_session[Session] = scoped_session(self._factory)

    def configure(self, url: str) -> None:
        """Create the engine for ``url`` and point the session at it."""
        if self.engine is not None:
            self.session.remove()
            self.engine.dispose()
        kwargs: dict[str, object] = {"pool_pre_ping": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 15}
        self.engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._factory.configure(bind=self.engine)

    def create_all(self) -> None:
        """Create every table directly (tests on a throwaway database; Alembic otherwise)."""
        assert self.engine is not None
        Base.metadata.create_all(self.engine)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


#: The process-wide database handle.
db = Database()
