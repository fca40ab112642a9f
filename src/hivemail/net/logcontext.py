"""Who a log line is about: session id, client address, account.

Every line logged while a connection is served starts with
``session=<id> rip=<address> user=<account>`` (``user`` once a login
succeeded), whatever module logs it: handlers, the store, the auth code.
That needs the session to be found from the running task, so it lives in
a context variable, set by the listener for the connection's task (asyncio
copies it into tasks and ``to_thread`` calls started from there). DESIGN.md
rules out contextvars for *dependencies*; this is not one: nothing reads it
but the log filter, and no behaviour depends on it. Dovecot does the same
with its event log prefix (``imap(user)<pid><session>``, ``rip=``).
"""

from __future__ import annotations

import contextvars
import logging
from dataclasses import dataclass


@dataclass
class SessionLog:
    session_id: str
    protocol: str
    peer_ip: str
    account: str | None = None

    def prefix(self) -> str:
        user = f" user={self.account}" if self.account else ""
        return f"{self.protocol} session={self.session_id} rip={self.peer_ip}{user}:"


current: contextvars.ContextVar[SessionLog | None] = contextvars.ContextVar("hivemail_session_log", default=None)


class SessionFilter(logging.Filter):
    """Put the current session's prefix in front of each message (once, even
    with several handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "hivemail_session", None) is None:
            ctx = current.get()
            record.hivemail_session = ctx.session_id if ctx is not None else ""
            if ctx is not None:
                record.msg = f"{ctx.prefix()} {record.getMessage()}"
                record.args = None
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Add the filter to every handler of ``logger`` (the root logger)."""
    logger = logger or logging.getLogger()
    for handler in logger.handlers:
        if not any(isinstance(f, SessionFilter) for f in handler.filters):
            handler.addFilter(SessionFilter())
