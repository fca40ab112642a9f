"""PostgreSQL store: (to be written)."""

from __future__ import annotations

from hivemail.mailstore.postgres.base import PostgresBase


class AccountsPart(PostgresBase):
    pass
