"""The PostgreSQL :class:`~hivemail.mailstore.MailStore`, for several nodes.

Put together from one part per family of the interface, each in a module of
its own over :class:`~hivemail.mailstore.postgres.base.PostgresBase` (pool,
transactions, notifications, node-wide locks):

* ``accounts.py``: accounts, domains, aliases, settings, quota, Sieve
  scripts and vacation memory, mailboxes;
* ``messages.py``: delivery and APPEND, snapshots, flags, COPY/MOVE,
  EXPUNGE, the change log, message bytes, pins, sort keys and previews;
* ``search.py``: the full-text index (pg_trgm) and ``check``.

Selected by ``storage = "postgresql://..."`` (``--storage``); the schema is
created on first use (``schema.sql``).
"""

from __future__ import annotations

from hivemail.mailstore.postgres.accounts import AccountsPart
from hivemail.mailstore.postgres.messages import MessagesPart
from hivemail.mailstore.postgres.search import SearchPart


class PostgresStore(SearchPart, MessagesPart, AccountsPart):
    """See the module doc; the constructor is PostgresBase's."""
